package support_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/support"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

type routingDoc struct {
	Languages []string `json:"languages"`
	Greeting  struct {
		Values   map[string]string `json:"values"`
		Defaults map[string]string `json:"defaults"`
	} `json:"greeting"`
	RoutePrompt struct {
		Values map[string]string `json:"values"`
	} `json:"route_prompt"`
	RequestTypes []map[string]any `json:"request_types"`
}

type problemDoc struct {
	Code   string `json:"code"`
	Errors []struct {
		Field string `json:"field"`
		Code  string `json:"code"`
	} `json:"errors"`
}

func (p problemDoc) fields() map[string]string {
	out := map[string]string{}
	for _, e := range p.Errors {
		out[e.Field] = e.Code
	}
	return out
}

// The greeting/routing editor's API: admins read and replace the greeting,
// the menu's question and the menu; every field error is named; a saved
// menu is audited and used at once: the chosen type's staff group takes the
// topic (though another group is older and also allowed), its agent is
// assigned and its tag set; /start answers the new greeting.
func TestRoutingEditorAPI(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup() // group A: every type, the older binding
	ctx := context.Background()
	app := d.api()
	admin := uuid.New()
	agentID := uuid.New()
	if _, err := env.Owner.Exec(ctx, `INSERT INTO users (id, tenant_id, email, name, role, password_hash)
		VALUES ($1, $2, $3, 'Irina', 'agent', 'x')`, agentID, d.tenant, agentID.String()+"@ex.example"); err != nil {
		t.Fatal(err)
	}
	groupB := d.sb.CreateForumSupergroup("Billing staff", d.admin.ID)
	if err := d.sb.AddBotToChat(d.bot.ID, groupB.ID, tgsandbox.AllRights()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "group B recorded", func() bool {
		var got string
		_ = env.Owner.QueryRow(ctx, `SELECT bot_status FROM chat_bindings WHERE bot_id = $1 AND chat_id = $2`, d.bot.ID, groupB.ID).Scan(&got)
		return got == "administrator"
	})
	code, err := d.svc.CreateBindCode(ctx, d.tenant, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.sb.SendText(d.admin.ID, groupB.ID, code.Command); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "two staff groups", func() bool {
		gs, _ := d.svc.StaffGroups(ctx, d.tenant)
		return len(gs) == 2
	})

	// Defaults: the platform's greeting, an empty menu; agents are refused.
	var doc routingDoc
	if st := call(t, app, d.tenant, admin, "admin", "GET", "/api/v1/support/routing", nil, &doc); st != 200 {
		t.Fatalf("GET routing: %d", st)
	}
	if len(doc.RequestTypes) != 0 || !strings.Contains(doc.Greeting.Values["en"], "{first_name}") ||
		doc.Greeting.Values["ru"] != doc.Greeting.Defaults["ru"] || doc.RoutePrompt.Values["en"] == "" {
		t.Fatalf("default routing %+v", doc)
	}
	if st := call(t, app, d.tenant, agentID, "agent", "GET", "/api/v1/support/routing", nil, nil); st != 403 {
		t.Fatalf("agent GET routing: %d, want 403", st)
	}
	if st := call(t, app, d.tenant, agentID, "agent", "PUT", "/api/v1/support/routing", map[string]any{"request_types": []any{}}, nil); st != 403 {
		t.Fatalf("agent PUT routing: %d, want 403", st)
	}

	// Every bad field is named; nothing is saved.
	var prob problemDoc
	bad := map[string]any{
		"greeting": map[string]string{"en": "Hi {nobody}", "ru": "  "},
		"request_types": []map[string]any{
			{"key": "Pay ment", "title": map[string]string{"en": "Payment"}},
			{"key": "refund", "title": map[string]string{"en": "Refund", "ru": strings.Repeat("д", 65)}, "tag": "Bad Tag",
				"staff_group": map[string]int64{"bot_id": d.bot.ID, "chat_id": -42}, "assignee_user_id": uuid.New()},
			{"key": "refund", "title": map[string]string{"en": "Again", "ru": "Снова"}},
		},
	}
	if st := call(t, app, d.tenant, admin, "admin", "PUT", "/api/v1/support/routing", bad, &prob); st != 422 {
		t.Fatalf("bad routing: %d, want 422", st)
	}
	want := map[string]string{
		"greeting.en": "unknown_placeholder", "greeting.ru": "required",
		"request_types[0].key": "invalid", "request_types[0].title.ru": "required",
		"request_types[1].title.ru": "too_long", "request_types[1].tag": "invalid",
		"request_types[1].staff_group": "unknown_staff_group", "request_types[1].assignee_user_id": "unknown_member",
		"request_types[2].key": "duplicate",
	}
	if got := prob.fields(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("field errors\n got %v\nwant %v", got, want)
	}

	// A good menu: payment → group B and Irina, tag billing; other → a tag only.
	good := map[string]any{
		"greeting":     map[string]string{"en": "Welcome to {tenant_name}, {first_name}!", "ru": doc.Greeting.Defaults["ru"]},
		"route_prompt": map[string]string{"en": "What is it about?"},
		"request_types": []map[string]any{
			{"key": "payment", "title": map[string]string{"en": "Payment", "ru": "Оплата"}, "tag": "billing",
				"staff_group": map[string]int64{"bot_id": d.bot.ID, "chat_id": groupB.ID}, "assignee_user_id": agentID},
			{"key": "other", "title": map[string]string{"en": " Something else ", "ru": "Другое"}, "tag": "misc"},
		},
	}
	if st := call(t, app, d.tenant, admin, "admin", "PUT", "/api/v1/support/routing", good, &doc); st != 200 {
		t.Fatalf("good routing: %d", st)
	}
	if len(doc.RequestTypes) != 2 || doc.RequestTypes[1]["title"].(map[string]any)["en"] != "Something else" ||
		doc.Greeting.Values["en"] != "Welcome to {tenant_name}, {first_name}!" || doc.RoutePrompt.Values["en"] != "What is it about?" {
		t.Fatalf("saved routing %+v", doc)
	}
	var audits int
	if err := env.Owner.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'support.routing.update'
		AND actor = $2`, d.tenant, admin.String()).Scan(&audits); err != nil || audits != 1 {
		t.Fatalf("routing audits %d %v", audits, err)
	}
	// Saving the same again changes (and audits) nothing.
	if st := call(t, app, d.tenant, admin, "admin", "PUT", "/api/v1/support/routing", good, nil); st != 200 {
		t.Fatalf("same routing: %d", st)
	}
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'support.routing.update'`, d.tenant).Scan(&audits)
	if audits != 1 {
		t.Fatalf("an unchanged save audited: %d", audits)
	}

	// The person: /start gets the new greeting; the first message the menu.
	u := d.sb.CreateUser("Pavel", "")
	if _, err := d.sb.SendText(u.ID, d.bot.ID, "/start"); err != nil {
		t.Fatal(err)
	}
	d.botMessage(u.ID, "Welcome to Topic VPN, Pavel!")
	if _, err := d.sb.SendText(u.ID, d.bot.ID, "my card is declined"); err != nil {
		t.Fatal(err)
	}
	menu := d.botMessage(u.ID, "What is it about?")
	buttons := inlineButtons(menu)
	if len(buttons) != 2 || buttons["Payment"] == "" || buttons["Something else"] == "" {
		t.Fatalf("menu buttons %v", buttons)
	}
	if _, err := d.sb.PressButton(u.ID, d.bot.ID, menu.MessageID, buttons["Payment"]); err != nil {
		t.Fatal(err)
	}
	if chat, _ := d.topicWith("my card is declined", d.group.ID, groupB.ID); chat != groupB.ID {
		t.Fatalf("payment topic in group %d, want its target B %d", chat, groupB.ID)
	}
	ts, err := d.svc.Tickets(ctx, d.tenant, support.TicketFilter{Limit: 10})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets %v %v", ts, err)
	}
	raw, _ := json.Marshal(ts[0])
	var tk struct {
		Tags     []string `json:"tags"`
		Assignee *struct {
			UserID *uuid.UUID `json:"user_id"`
		} `json:"assignee"`
	}
	_ = json.Unmarshal(raw, &tk)
	if fmt.Sprint(tk.Tags) != "[billing]" || !strings.Contains(string(raw), agentID.String()) {
		t.Fatalf("routed ticket %s: want tag billing and assignee %s", raw, agentID)
	}
}
