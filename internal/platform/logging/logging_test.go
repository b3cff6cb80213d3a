package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestTokensAreRedactedEverywhere(t *testing.T) {
	const token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
	var buf bytes.Buffer
	log := New(&buf, "json", "debug")
	log.Info("calling https://api.telegram.org/bot"+token+"/getMe",
		"url", "https://x/bot"+token, "error", errors.New("dial bot"+token+": refused"))
	log.With("token", token).Warn("w")
	if strings.Contains(buf.String(), token) {
		t.Fatalf("token leaked into log: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "[redacted-token]") {
		t.Fatalf("expected redaction marker in %s", buf.String())
	}
}

func TestRedact(t *testing.T) {
	const token = "12345:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1" // the shortest shape: 41 bytes
	cases := []struct {
		name, in, want string
	}{
		{"shortest token alone", token, "[redacted-token]"},
		{"token in a URL", "https://api.telegram.org/bot" + token + "/getMe", "https://api.telegram.org/bot[redacted-token]/getMe"},
		{"token with a long bot id", "x 1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1 y", "x [redacted-token] y"},
		{"short string with a colon", "12:30 done", "12:30 done"},
		{"40 bytes, one short of a token", token[:40], token[:40]},
		{"long string without a colon", strings.Repeat("A", 100), strings.Repeat("A", 100)},
		{"four-digit id is not a token", "1234:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", "1234:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"},
		{"empty", "", ""},
	}
	if len(token) != 41 {
		t.Fatalf("fixture is %d bytes", len(token))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in); got != tc.want {
				t.Fatalf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
