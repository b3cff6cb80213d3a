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
