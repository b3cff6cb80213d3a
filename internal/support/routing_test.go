package support_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/support"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

const routingSettings = `{"support": {"request_types": [
	{"key": "connect", "title": {"en": "VPN does not connect", "ru": "Не подключается VPN"},
	 "auto_reply": {"en": "Try another server.", "ru": "Попробуйте другой сервер."}, "tag": "connect"},
	{"key": "payment", "title": {"en": "Payment", "ru": "Оплата"}, "tag": "payment"}]}}`

// groupTexts are the content texts of a group's topic, in order.
func (d *desk) groupTexts(chatID, thread int64) []string {
	var out []string
	for _, e := range d.sb.Transcript(chatID) {
		if e.ThreadID == thread && e.Service == "" && !e.Deleted {
			out = append(out, e.Text+e.Caption)
		}
	}
	return out
}

// topicWith waits for the topic (in any of groups) holding text.
func (d *desk) topicWith(text string, groups ...int64) (int64, int64) {
	d.t.Helper()
	var chat, thread int64
	eventually(d.t, 30*time.Second, "a topic with "+text, func() bool {
		for _, g := range groups {
			for _, tp := range d.sb.Topics(g) {
				if !tp.Deleted && contains(d.groupTexts(g, tp.ID), text) {
					chat, thread = g, tp.ID
					return true
				}
			}
		}
		return false
	})
	return chat, thread
}

// The routing menu on first contact: messages wait for the choice and then
// reach the topic in order; the type is the ticket's tag; topics go to the
// least-loaded group the type is allowed in; the auto-reply is sent; the
// staff groups show their load.
func TestRoutingMenuAndLeastLoadedGroups(t *testing.T) {
	d := newDesk(t, deskOpts{settings: routingSettings})
	d.bindGroup() // group A: every type
	ctx := context.Background()
	groupB := d.sb.CreateForumSupergroup("Billing staff", d.admin.ID)
	if err := d.sb.AddBotToChat(d.bot.ID, groupB.ID, tgsandbox.AllRights()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "group B recorded", func() bool {
		var got string
		_ = env.Owner.QueryRow(ctx, `SELECT bot_status FROM chat_bindings WHERE bot_id = $1 AND chat_id = $2`, d.bot.ID, groupB.ID).Scan(&got)
		return got == "administrator"
	})
	code, err := d.svc.CreateBindCodeFor(ctx, d.tenant, uuid.Nil, []string{"payment"})
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

	choose := func(name, label string, msgs ...string) tgsandbox.User {
		t.Helper()
		u := d.sb.CreateUser(name, "")
		for _, m := range msgs {
			if _, err := d.sb.SendText(u.ID, d.bot.ID, m); err != nil {
				t.Fatal(err)
			}
		}
		menu := d.botMessage(u.ID, "Choose the topic of your request")
		data := inlineButtons(menu)[label]
		if data == "" || len(data) > 64 {
			t.Fatalf("menu buttons %v", inlineButtons(menu))
		}
		if _, err := d.sb.PressButton(u.ID, d.bot.ID, menu.MessageID, data); err != nil {
			t.Fatal(err)
		}
		return u
	}
	// 1: payment; both groups allowed and empty: the older group A.
	choose("Pavel", "Payment", "p1 first", "p1 second")
	chat, thread := d.topicWith("p1 second", d.group.ID, groupB.ID)
	if chat != d.group.ID {
		t.Fatalf("first payment request in group %d, want A %d", chat, d.group.ID)
	}
	if got := d.groupTexts(chat, thread); len(got) != 3 || got[1] != "p1 first" || got[2] != "p1 second" {
		t.Fatalf("topic holds %q, want the header and both messages in order", got)
	}
	// 2: connect; only A takes it, though B is emptier; the auto-reply comes.
	u2 := choose("Kira", "VPN does not connect", "k1")
	if chat, _ := d.topicWith("k1", d.group.ID, groupB.ID); chat != d.group.ID {
		t.Fatalf("connect request in group %d, want A", chat)
	}
	d.botMessage(u2.ID, "Try another server.")
	// 3: payment; A has 2 open, B none: B.
	choose("Lev", "Payment", "l1")
	if chat, _ := d.topicWith("l1", d.group.ID, groupB.ID); chat != groupB.ID {
		t.Fatalf("third request in group %d, want the less loaded B", chat)
	}

	ts, err := d.svc.Tickets(ctx, d.tenant, support.TicketFilter{Limit: 10})
	if err != nil || len(ts) != 3 {
		t.Fatalf("tickets %v %v", ts, err)
	}
	tags := map[string]int{}
	for _, tk := range ts {
		tags[fmt.Sprint(tk.Tags)]++
	}
	if tags["[payment]"] != 2 || tags["[connect]"] != 1 {
		t.Fatalf("ticket tags %v", tags)
	}
	gs, _ := d.svc.StaffGroups(ctx, d.tenant)
	got := map[int64]support.StaffGroup{}
	for _, g := range gs {
		got[g.ChatID] = g
	}
	if a, b := got[d.group.ID], got[groupB.ID]; a.Open != 2 || a.Backlog != 2 || len(a.RequestTypes) != 0 ||
		b.Open != 1 || b.Backlog != 1 || fmt.Sprint(b.RequestTypes) != "[payment]" {
		t.Fatalf("staff groups A %+v B %+v", a, b)
	}

	// The API refuses a bind code for an unknown type.
	if code := call(t, d.api(), d.tenant, uuid.New(), "admin", "POST", "/api/v1/support/staff-groups/bind-code",
		map[string]any{"request_types": []string{"refunds"}}, nil); code != 422 {
		t.Fatalf("unknown request type: %d, want 422", code)
	}
	if code := call(t, d.api(), d.tenant, uuid.New(), "admin", "POST", "/api/v1/support/staff-groups/bind-code", nil, nil); code != 201 {
		t.Fatalf("bind code without a body: %d, want 201", code)
	}
}
