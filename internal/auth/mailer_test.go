package auth

import (
	"context"
	"testing"
)

func TestNewMailer(t *testing.T) {
	cases := []struct {
		name, url, from  string
		wantErr, wantNop bool
	}{
		{"empty disables e-mail", "", "helpdesk@localhost", false, true},
		{"smtp", "smtp://u:p@mail.example:2525", "desk@example.com", false, false},
		{"smtps default port", "smtps://mail.example", "desk@example.com", false, false},
		{"wrong scheme", "http://mail.example", "desk@example.com", true, false},
		{"bad from", "smtp://mail.example", "not an address", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMailer(tc.url, tc.from)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && mailerEnabled(m) == tc.wantNop {
				t.Fatalf("mailer %T, want nop %v", m, tc.wantNop)
			}
		})
	}
	m, _ := NewMailer("smtp://127.0.0.1:1", "desk@example.com")
	if err := m.Send(context.Background(), Mail{To: "a@b.c\r\nBcc: x@y.z", Subject: "s", Body: "b"}); err == nil {
		t.Fatal("a header injection in To was not refused")
	}
}
