package support_test

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/support"
)

// The file proxy streams a person's document and photo to an agent with
// the right Content-Type, never the token or a Telegram URL; a text
// message has no file; another tenant's message and a malformed id are
// 404; a file over the cap is refused.
func TestFileProxy(t *testing.T) {
	d := newDesk(t, deskOpts{maxFileBytes: 4096})
	d.bindGroup()
	user := d.sb.CreateUser("Fedor", "")
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 1000)...)
	if _, err := d.sb.SendDocument(user.ID, d.bot.ID, "invoice.pdf", pdf, "my invoice"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "plain text"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sb.SendDocument(user.ID, d.bot.ID, "big.bin", bytes.Repeat([]byte{1}, 5000), ""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msgs := map[string]uuid.UUID{}
	eventually(t, 30*time.Second, "three stored messages", func() bool {
		ts, err := d.svc.Tickets(ctx, d.tenant, supportFilter())
		if err != nil || len(ts) == 0 {
			return false
		}
		_, ms, err := d.svc.TicketWithMessages(ctx, d.tenant, ts[0].ID)
		if err != nil {
			return false
		}
		for _, m := range ms {
			msgs[m.Kind+":"+m.Text] = m.ID
		}
		return len(ms) == 3
	})
	app := d.api()
	agent := uuid.New()
	get := func(tenant uuid.UUID, id string) (int, string, []byte) {
		t.Helper()
		req := httptest.NewRequest("GET", "/api/v1/support/messages/"+id+"/file", nil)
		req.Header.Set("X-Tenant", tenant.String())
		req.Header.Set("X-User", agent.String())
		req.Header.Set("X-Role", "agent")
		res, err := app.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), body
	}
	code, ct, body := get(d.tenant, msgs["document:my invoice"].String())
	if code != 200 || ct != "application/pdf" || !bytes.Equal(body, pdf) {
		t.Fatalf("document: %d %q %d bytes, want 200 application/pdf and the same %d bytes", code, ct, len(body), len(pdf))
	}
	for _, tc := range []struct {
		name   string
		tenant uuid.UUID
		id     string
		want   int
	}{
		{"a text message", d.tenant, msgs["text:plain text"].String(), 404},
		{"another tenant's message", newTenant(t), msgs["document:my invoice"].String(), 404},
		{"an unknown message", d.tenant, uuid.NewString(), 404},
		{"a malformed id", d.tenant, "not-a-uuid", 404},
		{"a file over the cap", d.tenant, msgs["document:"].String(), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(tc.tenant, tc.id)
			if code != tc.want {
				t.Fatalf("%d %s, want %d", code, body, tc.want)
			}
			if strings.Contains(string(body), d.bot.Token) || strings.Contains(string(body), "/file/bot") {
				t.Fatalf("the answer leaks the token or a file URL: %s", body)
			}
		})
	}
}

func supportFilter() support.TicketFilter { return support.TicketFilter{Limit: 10} }
