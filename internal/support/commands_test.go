package support_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/support"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// openTopic has a new person write text and waits for their topic.
func (d *desk) openTopic(name, text string) (tgsandbox.User, int64) {
	d.t.Helper()
	user := d.sb.CreateUser(name, "")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, text); err != nil {
		d.t.Fatal(err)
	}
	var thread int64
	eventually(d.t, 30*time.Second, "the topic of "+name, func() bool {
		for _, tp := range d.liveTopics() {
			if contains(d.topicTexts(tp.ID), text) {
				thread = tp.ID
				return true
			}
		}
		return false
	})
	return user, thread
}

// agent adds a staff member to the group.
func (d *desk) agent(name, username string) tgsandbox.User {
	d.t.Helper()
	a := d.sb.CreateUser(name, username)
	if err := d.sb.AddUserToChat(a.ID, d.group.ID); err != nil {
		d.t.Fatal(err)
	}
	return a
}

func (d *desk) say(from, thread int64, text string) tgsandbox.Sent {
	d.t.Helper()
	s, err := d.sb.Send(tgsandbox.UserMessage{UserID: from, ChatID: d.group.ID, ThreadID: thread, Text: text})
	if err != nil {
		d.t.Fatal(err)
	}
	return s
}

// waitTopic waits for a text in the topic.
func (d *desk) waitTopic(thread int64, text string) {
	d.t.Helper()
	eventually(d.t, 30*time.Second, "topic text "+text, func() bool { return contains(d.topicTexts(thread), text) })
}

func (d *desk) onlyTicket() support.Ticket {
	d.t.Helper()
	ts, err := d.svc.Tickets(context.Background(), d.tenant, support.TicketFilter{Limit: 10})
	if err != nil || len(ts) == 0 {
		d.t.Fatalf("tickets: %v %v", ts, err)
	}
	return ts[0]
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if strings.Contains(x, s) {
			n++
		}
	}
	return n
}

// /note stores an internal note and relays nothing; /assign finds a staff
// member by username (and says so when unknown); /history lists the
// person's requests; /close then /reopen opens the request again and tells
// the person.
func TestAgentCommandsNoteAssignHistoryReopen(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	olga, petr := d.agent("Olga", "olga"), d.agent("Petr", "petr")
	user, thread := d.openTopic("Vera", "help me")
	d.say(petr.ID, thread, "// looking")
	d.say(olga.ID, thread, "/note check the billing server")
	d.say(olga.ID, thread, "/assign @nobody")
	d.waitTopic(thread, "@nobody is not a known staff member")
	d.say(olga.ID, thread, "/assign @Petr")
	d.waitTopic(thread, "assigned to Petr")
	tk := d.onlyTicket()
	if tk.AssigneeName != "Petr" || tk.AssigneeTgID == nil || *tk.AssigneeTgID != petr.ID {
		t.Fatalf("assignee %q %v, want Petr %d", tk.AssigneeName, tk.AssigneeTgID, petr.ID)
	}
	_, msgs, err := d.svc.TicketWithMessages(context.Background(), d.tenant, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var note bool
	for _, m := range msgs {
		note = note || (m.Direction == "note" && m.Text == "check the billing server" && m.Relay == "none")
	}
	if !note {
		t.Fatalf("no stored /note among %+v", msgs)
	}
	if contains(d.userGot(user.ID), "billing") {
		t.Fatal("a /note reached the person")
	}

	d.say(olga.ID, thread, "/close")
	eventually(t, 30*time.Second, "resolved", func() bool { return d.onlyTicket().Status == "resolved" })
	d.say(olga.ID, thread, "/reopen")
	d.waitTopic(thread, "is open again")
	if st := d.onlyTicket().Status; st != "in_work" {
		t.Fatalf("reopened ticket is %q, want in_work (it has an assignee)", st)
	}
	eventually(t, 30*time.Second, "the person told", func() bool { return contains(d.userGot(user.ID), "is open again") })
	d.say(olga.ID, thread, "/reopen")
	d.waitTopic(thread, "is not resolved")

	d.say(olga.ID, thread, "/history")
	d.waitTopic(thread, "Requests of this person")
	hist := d.topicTexts(thread)
	var h string
	for _, x := range hist {
		if strings.Contains(x, "Requests of this person") {
			h = x
		}
	}
	if !strings.Contains(h, "(this one)") || !strings.Contains(h, "Petr") {
		t.Fatalf("history %q lacks the current ticket and its assignee", h)
	}
}

// /ban: the person's messages are not relayed and they are told once;
// /unban: relayed again.
func TestBanAndUnban(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	olga := d.agent("Olga", "olga")
	user, thread := d.openTopic("Spam", "buy crypto")
	d.say(olga.ID, thread, "/ban")
	d.waitTopic(thread, "is banned")
	for _, txt := range []string{"spam 1", "spam 2", "spam 3"} {
		if _, err := d.sb.SendText(user.ID, d.bot.ID, txt); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "the banned notice", func() bool { return contains(d.userGot(user.ID), "cannot accept") })
	d.say(olga.ID, thread, "/unban")
	d.waitTopic(thread, "unbanned")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "sorry, real question"); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "sorry, real question")
	if contains(d.topicTexts(thread), "spam ") {
		t.Fatalf("a banned person's message was relayed: %q", d.topicTexts(thread))
	}
	if n := count(d.userGot(user.ID), "cannot accept"); n != 1 {
		t.Fatalf("banned notice sent %d times, want once", n)
	}
}

// Saved replies: CRUD (admin writes, agent reads), /t name sends one to
// the person, an unknown name is answered in the topic.
func TestCannedRepliesAPIAndSlashT(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	app := d.api()
	admin := uuid.New()
	var c support.Canned
	if code := call(t, app, d.tenant, admin, "agent", "POST", "/api/v1/support/canned", map[string]string{"name": "x", "text": "y"}, nil); code != 403 {
		t.Fatalf("agent create: %d, want 403", code)
	}
	for _, tc := range []struct {
		name string
		body map[string]string
	}{
		{"bad name", map[string]string{"name": "Two words", "text": "t"}},
		{"empty text", map[string]string{"name": "ok", "text": " "}},
	} {
		if code := call(t, app, d.tenant, admin, "admin", "POST", "/api/v1/support/canned", tc.body, nil); code != 422 && code != 400 {
			t.Fatalf("%s: %d, want a validation problem", tc.name, code)
		}
	}
	if code := call(t, app, d.tenant, admin, "admin", "POST", "/api/v1/support/canned",
		map[string]string{"name": "refund", "text": "Refunds take three days."}, &c); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := call(t, app, d.tenant, admin, "admin", "POST", "/api/v1/support/canned",
		map[string]string{"name": "refund", "text": "again"}, nil); code != 409 {
		t.Fatalf("duplicate name: %d, want 409", code)
	}
	if code := call(t, app, d.tenant, admin, "admin", "PUT", "/api/v1/support/canned/"+c.ID.String(),
		map[string]string{"name": "refund", "text": "Refunds take 3 days."}, &c); code != 200 || c.Text != "Refunds take 3 days." {
		t.Fatalf("update: %d %+v", code, c)
	}
	other := newTenant(t)
	if code := call(t, app, other, admin, "admin", "DELETE", "/api/v1/support/canned/"+c.ID.String(), nil, nil); code != 404 {
		t.Fatalf("another tenant's delete: %d, want 404", code)
	}
	var list struct{ Canned []support.Canned }
	if code := call(t, app, d.tenant, admin, "agent", "GET", "/api/v1/support/canned", nil, &list); code != 200 || len(list.Canned) != 1 {
		t.Fatalf("list: %d %+v", code, list)
	}

	olga := d.agent("Olga", "olga")
	user, thread := d.openTopic("Ivan", "where is my money")
	d.say(olga.ID, thread, "/t nope")
	d.waitTopic(thread, `no saved reply named "nope"`)
	d.say(olga.ID, thread, "/t refund")
	eventually(t, 30*time.Second, "the saved reply", func() bool { return contains(d.userGot(user.ID), "Refunds take 3 days.") })
	d.waitTopic(thread, "Sent «refund»")
	if tk := d.onlyTicket(); tk.AssigneeName != "Olga" || tk.Status != "in_work" {
		t.Fatalf("after /t: %+v, want in work by Olga", tk)
	}

	if code := call(t, app, d.tenant, admin, "admin", "DELETE", "/api/v1/support/canned/"+c.ID.String(), nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code := call(t, app, d.tenant, admin, "admin", "DELETE", "/api/v1/support/canned/"+c.ID.String(), nil, nil); code != 404 {
		t.Fatalf("delete again: %d, want 404", code)
	}
}
