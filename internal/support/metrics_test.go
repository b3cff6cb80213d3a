package support_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/support"
)

// Agent metrics over a scripted timeline with an injected clock: a
// Telegram staff member and a console user, CSAT ratings, an unassigned
// ticket (totals only) and a ticket outside the period; exact figures.
func TestAgentMetricsOverAScriptedTimeline(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	d := newDesk(t, deskOpts{settings: `{"support": {"csat": true}}`, clock: clk})
	d.bindGroup()
	ctx := context.Background()
	ivan := uuid.New()
	if _, err := env.Owner.Exec(ctx, `INSERT INTO users (id, tenant_id, email, name, role, password_hash)
		VALUES ($1, $2, $3, 'Ivan', 'agent', 'x')`, ivan, d.tenant, fmt.Sprintf("ivan-%s@example.com", ivan)); err != nil {
		t.Fatal(err)
	}
	olga := d.agent("Olga", "olga")
	at := func(sec int) { clk.Set(t0.Add(time.Duration(sec) * time.Second)) }
	ticketOf := func(user int64) support.Ticket {
		t.Helper()
		var id uuid.UUID
		eventually(t, 30*time.Second, "the ticket", func() bool {
			return env.Owner.QueryRow(ctx, `SELECT t.id FROM support_tickets t JOIN bot_chats b ON b.contact_id = t.contact_id
				WHERE t.tenant_id = $1 AND b.chat_id = $2 ORDER BY t.opened_at DESC LIMIT 1`, d.tenant, user).Scan(&id) == nil
		})
		tk, _, err := d.svc.TicketWithMessages(ctx, d.tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	waitField := func(id uuid.UUID, col string) {
		t.Helper()
		eventually(t, 30*time.Second, col, func() bool {
			var set bool
			_ = env.Owner.QueryRow(ctx, `SELECT `+col+` IS NOT NULL FROM support_tickets WHERE id = $1`, id).Scan(&set)
			return set
		})
	}
	rate := func(user int64, label string) {
		t.Helper()
		q := d.botMessage(user, "Please rate our support")
		if _, err := d.sb.PressButton(user, d.bot.ID, q.MessageID, inlineButtons(q)[label]); err != nil {
			t.Fatal(err)
		}
	}

	// A: opened at 0, Olga answers at 60, closes at 600, rated 5.
	at(0)
	userA, threadA := d.openTopic("Anna", "A needs help")
	a := ticketOf(userA.ID)
	at(60)
	d.say(olga.ID, threadA, "hi A")
	waitField(a.ID, "first_response_at")
	at(600)
	d.say(olga.ID, threadA, "/close")
	waitField(a.ID, "csat_run_id")
	rate(userA.ID, "5")
	// B: opened at 100, Ivan answers from the console at 400, resolves at 1300, rated 3.
	at(100)
	userB, _ := d.openTopic("Boris", "B needs help")
	b := ticketOf(userB.ID)
	at(400)
	if _, err := d.svc.Reply(ctx, d.tenant, ivan, b.ID, "hi B"); err != nil {
		t.Fatal(err)
	}
	at(1300)
	if err := d.svc.SetStatus(ctx, d.tenant, b.ID, "resolved"); err != nil {
		t.Fatal(err)
	}
	rate(userB.ID, "3")
	// C: opened at 200, Olga answers at 380, still open.
	at(200)
	userC, threadC := d.openTopic("Clara", "C needs help")
	c := ticketOf(userC.ID)
	at(380)
	d.say(olga.ID, threadC, "hi C")
	waitField(c.ID, "first_response_at")
	// D: opened at 300, nobody answered.
	at(300)
	d.openTopic("Dmitry", "D needs help")
	// E: outside the period.
	at(7200)
	d.openTopic("Egor", "E needs help")
	eventually(t, 30*time.Second, "both ratings", func() bool {
		var n int
		_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM survey_answers WHERE tenant_id = $1`, d.tenant).Scan(&n)
		return n == 2
	})

	var m support.Metrics
	path := "/api/v1/support/metrics?from=" + t0.Add(-time.Hour).Format(time.RFC3339) + "&to=" + t0.Add(time.Hour).Format(time.RFC3339)
	if code := call(t, d.api(), d.tenant, ivan, "agent", "GET", path, nil, &m); code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	f := func(p *float64) string {
		if p == nil {
			return "null"
		}
		return fmt.Sprint(*p)
	}
	got := []string{}
	for _, a := range append(m.Agents, m.Totals) {
		got = append(got, fmt.Sprintf("%s tickets=%d fr=%s res=%s csat=%s/%d", a.Name, a.TicketsHandled,
			f(a.MedianFirstResponseSeconds), f(a.MedianResolutionSeconds), f(a.CSATAvg), a.CSATCount))
	}
	want := []string{
		"Olga tickets=2 fr=120 res=600 csat=5/1",
		"Ivan tickets=1 fr=300 res=1200 csat=3/1",
		" tickets=4 fr=180 res=900 csat=4/2",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics\n got %q\nwant %q", got, want)
	}
	if m.Agents[1].UserID == nil || *m.Agents[1].UserID != ivan || m.Agents[0].TgUserID == nil || *m.Agents[0].TgUserID != olga.ID {
		t.Fatalf("agent ids: %+v", m.Agents)
	}

	for _, tc := range []struct{ name, query string }{
		{"bad from", "?from=yesterday"},
		{"to before from", "?from=2025-03-02&to=2025-03-01"},
		{"too long", "?from=2023-01-01&to=2025-03-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := call(t, d.api(), d.tenant, ivan, "agent", "GET", "/api/v1/support/metrics"+tc.query, nil, nil); code != 422 {
				t.Fatalf("%s: %d, want 422", tc.query, code)
			}
		})
	}
	if code := call(t, d.api(), d.tenant, ivan, "operator", "GET", path, nil, nil); code != 403 {
		t.Fatalf("operator: %d, want 403", code)
	}
}
