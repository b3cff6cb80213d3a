package auth

import (
	"context"
	"mime"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
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

// smtpSink is a minimal SMTP server (RFC 5321 happy path, no TLS) that
// records what one client sends.
func smtpSink(t *testing.T) (addr string, got <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	ch := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		tp := textproto.NewConn(conn)
		var rec strings.Builder
		_ = tp.PrintfLine("220 sink ESMTP")
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			cmd := strings.ToUpper(line)
			switch {
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				_ = tp.PrintfLine("250-sink\r\n250 8BITMIME")
			case strings.HasPrefix(cmd, "MAIL FROM"), strings.HasPrefix(cmd, "RCPT TO"):
				rec.WriteString(line + "\n")
				_ = tp.PrintfLine("250 ok")
			case cmd == "DATA":
				_ = tp.PrintfLine("354 go on")
				data, err := tp.ReadDotBytes()
				if err != nil {
					return
				}
				rec.Write(data)
				_ = tp.PrintfLine("250 queued")
			case cmd == "QUIT":
				_ = tp.PrintfLine("221 bye")
				ch <- rec.String()
				return
			default:
				_ = tp.PrintfLine("502 unknown")
			}
		}
	}()
	return ln.Addr().String(), ch
}

func TestSMTPMailerSendsARealMessage(t *testing.T) {
	addr, got := smtpSink(t)
	m, err := NewMailer("smtp://"+addr, "desk@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), Mail{To: "olga@example.com", Subject: "Приглашение в команду", Body: "Здравствуйте!\nСсылка: https://desk.example/invite/x"})
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	select {
	case msg = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the sink got no message")
	}
	for _, want := range []string{"MAIL FROM:<desk@example.com>", "RCPT TO:<olga@example.com>",
		"Subject: =?utf-8?q?", "Content-Type: text/plain; charset=utf-8", "Здравствуйте!\nСсылка: https://desk.example/invite/x"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("message lacks %q:\n%s", want, msg)
		}
	}
	dec, err := new(mime.WordDecoder).DecodeHeader(strings.SplitN(strings.SplitN(msg, "Subject: ", 2)[1], "\n", 2)[0])
	if err != nil || dec != "Приглашение в команду" {
		t.Fatalf("subject decodes to %q, %v", dec, err)
	}
}
