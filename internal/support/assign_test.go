package support_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/support"
)

func addUser(t *testing.T, tenantID uuid.UUID, name, role string, disabled bool) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := env.Owner.Exec(context.Background(), `INSERT INTO users (id, tenant_id, email, name, role, password_hash, disabled)
		VALUES ($1, $2, $3, $4, $5, 'x', $6)`, id, tenantID, id.String()+"@ex.example", name, role, disabled); err != nil {
		t.Fatal(err)
	}
	return id
}

// POST /support/tickets/:id/assignee assigns a tenant member or clears the
// assignee, audited and noted in the topic; another tenant's ticket or
// member, an unknown or disabled member are not found.
func TestAssignFromConsole(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	app := d.api()
	boss := addUser(t, d.tenant, "Boss", "admin", false)
	irina := addUser(t, d.tenant, "Irina", "agent", false)
	gone := addUser(t, d.tenant, "Gone", "agent", true)
	other := newTenant(t)
	stranger := addUser(t, other, "Stranger", "agent", false)

	user := d.sb.CreateUser("Kira", "")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "cannot pay"); err != nil {
		t.Fatal(err)
	}
	var thread int64
	eventually(t, 30*time.Second, "the topic", func() bool {
		tps := d.liveTopics()
		if len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "cannot pay") {
			thread = tps[0].ID
			return true
		}
		return false
	})
	tk := d.onlyTicket()
	path := "/api/v1/support/tickets/" + tk.ID.String() + "/assignee"

	cases := []struct {
		name   string
		tenant uuid.UUID
		path   string
		body   any
		want   int
	}{
		{"unknown member", d.tenant, path, map[string]any{"user_id": uuid.NewString()}, 404},
		{"another tenant's member", d.tenant, path, map[string]any{"user_id": stranger.String()}, 404},
		{"disabled member", d.tenant, path, map[string]any{"user_id": gone.String()}, 404},
		{"not a uuid", d.tenant, path, map[string]any{"user_id": "irina"}, 422},
		{"unknown field", d.tenant, path, map[string]any{"user": irina.String()}, 422},
		{"another tenant's ticket", other, path, map[string]any{"user_id": stranger.String()}, 404},
		{"unknown ticket", d.tenant, "/api/v1/support/tickets/" + uuid.NewString() + "/assignee", map[string]any{"user_id": irina.String()}, 404},
		{"bad ticket id", d.tenant, "/api/v1/support/tickets/x/assignee", map[string]any{"user_id": irina.String()}, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := call(t, app, c.tenant, boss, "admin", "POST", c.path, c.body, nil); got != c.want {
				t.Fatalf("status %d, want %d", got, c.want)
			}
		})
	}
	if got := d.onlyTicket(); got.AssigneeUserID != nil || got.AssigneeName != "" {
		t.Fatalf("a refused assignment changed the ticket: %+v", got)
	}

	var out support.Ticket
	if got := call(t, app, d.tenant, boss, "agent", "POST", path, map[string]any{"user_id": irina.String()}, &out); got != 200 {
		t.Fatalf("assign: status %d", got)
	}
	if out.AssigneeUserID == nil || *out.AssigneeUserID != irina || out.AssigneeName != "Irina" {
		t.Fatalf("assign answered %+v", out)
	}
	d.waitTopic(thread, "assigned to Irina (by Boss, console)")
	// Again: nothing changes, nothing is posted twice.
	if got := call(t, app, d.tenant, boss, "agent", "POST", path, map[string]any{"user_id": irina.String()}, nil); got != 200 {
		t.Fatalf("assign again: status %d", got)
	}
	var list struct{ Tickets []support.Ticket }
	if got := call(t, app, d.tenant, irina, "agent", "GET", "/api/v1/support/tickets?assignee=me", nil, &list); got != 200 {
		t.Fatalf("list: %d", got)
	}
	if mine := list.Tickets; len(mine) != 1 || mine[0].ID != tk.ID {
		t.Fatalf("Irina's tickets: %+v", list.Tickets)
	}

	if got := call(t, app, d.tenant, boss, "agent", "POST", path, map[string]any{"user_id": nil}, &out); got != 200 {
		t.Fatalf("clear: status %d", got)
	}
	if out.AssigneeUserID != nil || out.AssigneeName != "" {
		t.Fatalf("clear answered %+v", out)
	}
	d.waitTopic(thread, "is unassigned (by Boss, console).")
	n := 0
	for _, s := range d.topicTexts(thread) {
		if strings.Contains(s, "assigned to Irina") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d assignment notes in the topic, want 1", n)
	}
	var audits int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE tenant_id = $1
		AND action = 'support.ticket.assign' AND target = $2 AND actor = $3`, d.tenant, "ticket:"+tk.ID.String(),
		"user:"+boss.String()).Scan(&audits); err != nil || audits != 2 {
		t.Fatalf("%d audit rows (%v), want 2", audits, err)
	}
	_, msgs, err := d.svc.TicketWithMessages(context.Background(), d.tenant, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, m := range msgs {
		if m.Direction == "note" && strings.Contains(m.Text, "assigned") {
			notes++
		}
	}
	if notes != 2 {
		t.Fatalf("%d assignment notes in the history, want 2", notes)
	}
}
