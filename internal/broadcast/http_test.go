package broadcast_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/broadcast"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// The campaign API end to end: a scenario table of requests with the
// status and problem code each must answer.
func TestCampaignAPI(t *testing.T) {
	r := newRig(t, rigOptions{})
	ps := r.people("Kim", 2)
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	g := app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Tenant"))
		auth.SetPrincipal(c, &auth.Principal{TenantID: tid, UserID: uuid.New(), Role: auth.Role(c.Get("X-Role"))})
		return c.Next()
	})
	broadcast.NewHandler(r.svc).Routes(g)
	call := func(tenant uuid.UUID, role, method, path string, body any) (int, []byte, string) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req := httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tenant", tenant.String())
		req.Header.Set("X-Role", role)
		res, err := app.Test(req, 20_000)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, raw, res.Header.Get("Content-Type")
	}
	var c broadcast.Campaign
	code, raw, _ := call(r.tenant, "admin", "POST", "/api/v1/campaigns", map[string]any{"bot_id": r.bot.ID, "name": "api",
		"content": map[string]any{"text": "API {first_name} [m9]"}})
	if code != 201 || json.Unmarshal(raw, &c) != nil || c.Status != "draft" {
		t.Fatalf("create: %d %s", code, raw)
	}
	id := "/api/v1/campaigns/" + c.ID.String()
	other := uuid.New()
	steps := []struct {
		name         string
		tenant       uuid.UUID
		role, method string
		path         string
		body         any
		want         int
		contains     string
	}{
		{"agents are refused", r.tenant, "agent", "GET", id, nil, 403, ""},
		{"another tenant's campaign is 404", other, "admin", "GET", id, nil, 404, "not_found"},
		{"another tenant cannot send it", other, "admin", "POST", id + "/send", nil, 404, "not_found"},
		{"unknown placeholder", r.tenant, "admin", "POST", "/api/v1/campaigns", map[string]any{"bot_id": r.bot.ID, "name": "x",
			"content": map[string]any{"text": "{nick}"}}, 422, "unknown_placeholder"},
		{"over-long text", r.tenant, "admin", "PUT", id, map[string]any{"bot_id": r.bot.ID, "name": "x",
			"content": map[string]any{"text": strings.Repeat("x", 5000)}}, 422, "too_long"},
		{"schedule in the past", r.tenant, "admin", "POST", id + "/schedule", map[string]any{"at": "2020-01-01T10:00"}, 422, "in_past"},
		{"pause a draft", r.tenant, "admin", "POST", id + "/pause", nil, 409, "campaign_state"},
		{"test send to a chat that is not the bot's", r.tenant, "admin", "POST", id + "/test", map[string]any{"chat_ids": []int64{42}}, 422, "chat_ids"},
		{"test send", r.tenant, "admin", "POST", id + "/test", map[string]any{"chat_ids": []int64{ps[0].chatID}}, 202, `"queued":1`},
		{"list", r.tenant, "admin", "GET", "/api/v1/campaigns?status=draft", nil, 200, c.ID.String()},
		{"schedule", r.tenant, "admin", "POST", id + "/schedule", map[string]any{"at": "2099-01-01T10:00"}, 200, `"scheduled"`},
		{"send now", r.tenant, "admin", "POST", id + "/send", nil, 200, `"sending"`},
		{"delete while sending", r.tenant, "admin", "DELETE", id, nil, 409, "campaign_state"},
		{"bad export format", r.tenant, "admin", "GET", id + "/recipients?format=pdf", nil, 422, "format"},
	}
	for _, s := range steps {
		code, raw, _ := call(s.tenant, s.role, s.method, s.path, s.body)
		if code != s.want || !strings.Contains(string(raw), s.contains) {
			t.Fatalf("%s: %d %s", s.name, code, raw)
		}
	}
	eventually(t, "the test send", func() bool { return r.received(ps[0].user.ID, "API Kim0 [m9]") >= 1 })
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	code, raw, _ = call(r.tenant, "admin", "GET", id+"/stats", nil)
	var st broadcast.Stats
	if code != 200 || json.Unmarshal(raw, &st) != nil || st.Sent != 2 || st.AudienceSize != 2 {
		t.Fatalf("stats: %d %s", code, raw)
	}
	code, raw, ctype := call(r.tenant, "admin", "GET", id+"/recipients", nil)
	if code != 200 || !strings.HasPrefix(ctype, "text/csv") || strings.Count(string(raw), "\n") != 3 {
		t.Fatalf("csv: %d %s %q", code, ctype, raw)
	}
	code, raw, ctype = call(r.tenant, "admin", "GET", id+"/recipients?format=xlsx", nil)
	if code != 200 || !strings.Contains(ctype, "spreadsheetml") || !bytes.HasPrefix(raw, []byte("PK")) {
		t.Fatalf("xlsx: %d %s", code, ctype)
	}
}
