package support_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/support"
)

// Tickets filter by tag and by opening date; a ticket exports as JSON or
// text; bad filters and formats are 422, another tenant's ticket 404.
func TestTicketFiltersAndExport(t *testing.T) {
	t0 := time.Date(2025, 5, 10, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	d := newDesk(t, deskOpts{clock: clk})
	ctx := context.Background()
	write := func(name, text string) {
		t.Helper()
		u := d.sb.CreateUser(name, "")
		if _, err := d.sb.SendText(u.ID, d.bot.ID, text); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the ticket of "+name, func() bool {
			ts, _ := d.svc.Tickets(ctx, d.tenant, support.TicketFilter{Limit: 10})
			for _, tk := range ts {
				if tk.ContactName == name {
					return true
				}
			}
			return false
		})
	}
	write("Ann", "first")
	clk.Set(t0.Add(48 * time.Hour))
	write("Bob", "second\nline two")
	if _, err := env.Owner.Exec(ctx, `UPDATE support_tickets t SET tags = '{vip}' FROM contacts c
		WHERE c.id = t.contact_id AND c.first_name = 'Bob' AND t.tenant_id = $1`, d.tenant); err != nil {
		t.Fatal(err)
	}
	app, user := d.api(), uuid.New()
	list := func(q string) []string {
		t.Helper()
		var out struct{ Tickets []support.Ticket }
		if code := call(t, app, d.tenant, user, "agent", "GET", "/api/v1/support/tickets"+q, nil, &out); code != 200 {
			t.Fatalf("list %s: %d", q, code)
		}
		var names []string
		for _, tk := range out.Tickets {
			names = append(names, tk.ContactName)
		}
		return names
	}
	for _, tc := range []struct{ name, query, want string }{
		{"by tag", "?tag=vip", "Bob"},
		{"unknown tag", "?tag=nope", ""},
		{"from a date", "?from=2025-05-11", "Bob"},
		{"up to a date", "?to=2025-05-11", "Ann"},
		{"a window", "?from=2025-05-10T08:00:00Z&to=2025-05-13", "Bob,Ann"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(list(tc.query), ","); got != tc.want {
				t.Fatalf("%s: %q, want %q", tc.query, got, tc.want)
			}
		})
	}
	if code := call(t, app, d.tenant, user, "agent", "GET", "/api/v1/support/tickets?from=soon", nil, nil); code != 422 {
		t.Fatalf("bad from: %d, want 422", code)
	}

	var ts struct{ Tickets []support.Ticket }
	call(t, app, d.tenant, user, "agent", "GET", "/api/v1/support/tickets?tag=vip", nil, &ts)
	id := ts.Tickets[0].ID.String()
	var exp struct {
		Ticket   support.Ticket
		Messages []support.Message
	}
	if code := call(t, app, d.tenant, user, "agent", "GET", "/api/v1/support/tickets/"+id+"/export", nil, &exp); code != 200 ||
		len(exp.Messages) != 1 || exp.Messages[0].Text != "second\nline two" {
		t.Fatalf("json export: %d %+v", code, exp)
	}
	req := httptest.NewRequest("GET", "/api/v1/support/tickets/"+id+"/export?format=text", nil)
	req.Header.Set("X-Tenant", d.tenant.String())
	req.Header.Set("X-User", user.String())
	req.Header.Set("X-Role", "agent")
	res, err := app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	text := string(body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(text, "Request #") || !strings.Contains(text, "Tags: vip") ||
		!strings.Contains(text, "[2025-05-12 09:00:00 UTC] Bob (person):\n  second\n  line two") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("text export: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), text)
	}
	if code := call(t, app, d.tenant, user, "agent", "GET", "/api/v1/support/tickets/"+id+"/export?format=xml", nil, nil); code != 422 {
		t.Fatalf("bad format: %d, want 422", code)
	}
	if code := call(t, app, newTenant(t), user, "agent", "GET", "/api/v1/support/tickets/"+id+"/export", nil, nil); code != 404 {
		t.Fatalf("another tenant's export: %d, want 404", code)
	}
}
