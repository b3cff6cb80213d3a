package automation_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/automation"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// The rules and sequences API: bad definitions name the field and change
// nothing, a dry run answers without recording, runs are listed, another
// tenant's rule is 404.
func TestRulesAPI(t *testing.T) {
	r := newRig(t, "")
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20})
	g := app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Tenant"))
		auth.SetPrincipal(c, &auth.Principal{TenantID: tid, UserID: uuid.New(), Role: auth.RoleAdmin})
		return c.Next()
	})
	automation.NewHandler(r.svc).Routes(g)
	call := func(tenant uuid.UUID, method, path string, body, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req := httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tenant", tenant.String())
		res, err := app.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if out != nil {
			_ = json.Unmarshal(raw, out)
		}
		return res.StatusCode
	}
	var prob struct {
		Errors []httpx.FieldError `json:"errors"`
	}
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", map[string]any{"trigger": map[string]any{"type": "deal.deleted"}, "actions": []any{map[string]any{"type": "tag.add", "params": map[string]any{"tag": "x"}}}}, "name"},
		{"unknown trigger", map[string]any{"name": "r", "trigger": map[string]any{"type": "deal.moon"}, "actions": []any{map[string]any{"type": "tag.add", "params": map[string]any{"tag": "x"}}}}, "trigger.type"},
		{"bad cron", map[string]any{"name": "r", "trigger": map[string]any{"type": "schedule", "cron": "every day"}, "actions": []any{map[string]any{"type": "tag.add", "params": map[string]any{"tag": "x"}}}}, "trigger.cron"},
		{"no actions", map[string]any{"name": "r", "trigger": map[string]any{"type": "deal.deleted"}, "actions": []any{}}, "actions"},
		{"action without params", map[string]any{"name": "r", "trigger": map[string]any{"type": "deal.deleted"}, "actions": []any{map[string]any{"type": "sequence.start"}}}, "actions[0].params"},
		{"bad operator", map[string]any{"name": "r", "trigger": map[string]any{"type": "deal.deleted"}, "conditions": []any{map[string]any{"field": "contact.tags", "op": "like"}},
			"actions": []any{map[string]any{"type": "tag.add", "params": map[string]any{"tag": "x"}}}}, "conditions[0].op"},
	}
	for _, c := range cases {
		prob.Errors = nil
		if code := call(r.tenant, "POST", "/api/v1/rules", c.body, &prob); code != 422 || len(prob.Errors) == 0 || prob.Errors[0].Field != c.field {
			t.Errorf("%s: %d %+v, want 422 naming %s", c.name, code, prob.Errors, c.field)
		}
	}
	var list struct{ Rules []automation.Rule }
	if call(r.tenant, "GET", "/api/v1/rules", nil, &list); len(list.Rules) != 0 {
		t.Fatalf("invalid rules were stored: %+v", list.Rules)
	}
	var rule automation.Rule
	body := map[string]any{"name": "Tag deleted", "trigger": map[string]any{"type": "deal.deleted"},
		"actions": []any{map[string]any{"type": "staff.notify", "params": map[string]any{"text": "deal {deal_id} deleted"}}}}
	if code := call(r.tenant, "POST", "/api/v1/rules", body, &rule); code != 201 || !rule.Enabled {
		t.Fatalf("create: %d %+v", code, rule)
	}
	ev := crm.Event{Type: crm.DealDeleted, Key: "lead:1:delete", DealID: "1"}
	var dry automation.DryRun
	if code := call(r.tenant, "POST", fmt.Sprintf("/api/v1/rules/%s/dry-run", rule.ID), map[string]any{"key": ev.Key, "crm": ev}, &dry); code != 200 || !dry.Matched || len(dry.Actions) != 1 {
		t.Fatalf("dry run: %d %+v", code, dry)
	}
	if code := call(r.tenant, "POST", fmt.Sprintf("/api/v1/rules/%s/dry-run", rule.ID), map[string]any{}, &prob); code != 422 {
		t.Fatalf("dry run without an event: %d", code)
	}
	var runs struct{ Runs []automation.Run }
	if code := call(r.tenant, "GET", fmt.Sprintf("/api/v1/rules/%s/runs", rule.ID), nil, &runs); code != 200 || len(runs.Runs) != 0 {
		t.Fatalf("runs after a dry run: %d %+v", code, runs)
	}
	other := newTenantID(t)
	for _, m := range []string{"GET", "DELETE"} {
		if code := call(other, m, "/api/v1/rules/"+rule.ID.String(), nil, nil); code != 404 {
			t.Errorf("%s another tenant's rule: %d, want 404", m, code)
		}
	}
	var seq automation.Sequence
	if code := call(r.tenant, "POST", "/api/v1/sequences", map[string]any{"name": "s", "steps": []any{map[string]any{"delay": "-1h", "text": "x"}}}, &prob); code != 422 || prob.Errors[0].Field != "steps[0].delay" {
		t.Fatalf("negative delay: %d %+v", code, prob.Errors)
	}
	// Step params the outbox would refuse when the step is due.
	for _, c := range []struct{ name, steps, field string }{
		{"chat_id", `[{"method": "copyMessage", "params": {"chat_id": 1, "from_chat_id": -1001, "message_id": 5}}]`, "steps[0].params.chat_id"},
		{"not an object", `[{"text": "hi"}, {"method": "sendVideo", "params": [1, 2]}]`, "steps[1].params"},
		{"missing file", `[{"method": "sendPhoto", "params": {"caption": "x"}}]`, "steps[0].params.photo"},
		{"unknown method", `[{"method": "banChatMember", "params": {"user_id": 1}}]`, "steps[0].method"},
	} {
		body := json.RawMessage(`{"name": "s", "steps": ` + c.steps + `}`)
		if code := call(r.tenant, "POST", "/api/v1/sequences", body, &prob); code != 422 || len(prob.Errors) == 0 || prob.Errors[0].Field != c.field {
			t.Errorf("%s: %d %+v, want 422 naming %s", c.name, code, prob.Errors, c.field)
		}
	}
	if code := call(r.tenant, "POST", "/api/v1/sequences", map[string]any{"name": "s", "steps": []any{map[string]any{"text": "hello"}}}, &seq); code != 201 || seq.Steps[0].Delay != "0s" {
		t.Fatalf("create sequence: %d %+v", code, seq)
	}
	if code := call(r.tenant, "DELETE", "/api/v1/rules/"+rule.ID.String(), nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
}

func newTenantID(t *testing.T) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := env.Owner.Exec(t.Context(), "INSERT INTO tenants (id, name) VALUES ($1, 'Other')", id); err != nil {
		t.Fatal(err)
	}
	return id
}
