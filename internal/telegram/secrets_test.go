package telegram_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/platform/logging"
	"github.com/tgdesk/helpdesk/internal/telegram"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A full inbound flow, good and bad requests and a failing handler, with
// every component logging at debug: no log line carries the bot token or
// the webhook secret.
func TestWebhookPathNeverLogsSecrets(t *testing.T) {
	buf := &lockedBuf{}
	log := logging.New(buf, "json", "debug")
	st := newStack(t, stackOpts{logger: log, procOpts: telegram.ProcessorOptions{MaxAttempts: 1}})
	st.proc.RegisterCommand("boom", func(context.Context, *telegram.Inbound) error {
		return context.DeadlineExceeded
	})
	u := st.sandbox.CreateUser("Sam", "sam")
	if _, err := st.sandbox.SendText(u.ID, st.bot.ID, "hello"); err != nil {
		t.Fatal(err)
	}
	st.waitBotTexts(u.ID, 1)
	if _, err := st.sandbox.SendText(u.ID, st.bot.ID, "/boom"); err != nil {
		t.Fatal(err)
	}
	_, raw := textUpdate(77, "x")
	st.post(st.publicID, "wrong-secret", raw)
	st.post("nope", st.secret, raw)
	st.post(st.publicID, st.secret, []byte("{"))
	eventually(t, 10*time.Second, "the failing handler to be logged", func() bool {
		return strings.Contains(buf.String(), "giving up on update")
	})
	logs := buf.String()
	if !strings.Contains(logs, "http request") {
		t.Fatal("nothing was logged")
	}
	// The logger redacts token-shaped strings as a last defence; the code
	// must not rely on it, so a redaction is a failure too.
	if strings.Contains(logs, "redacted-token") {
		t.Fatal("code tried to log a token")
	}
	for _, secret := range []string{st.bot.Token, strings.SplitN(st.bot.Token, ":", 2)[1], st.secret} {
		if strings.Contains(logs, secret) {
			t.Fatal("a log line carries a secret")
		}
	}
}
