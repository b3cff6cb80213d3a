package support_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// First contact: /start alone creates no topic; the first real message
// creates exactly one, named after the person, with ❗, a header, and the
// message relayed into it; the person is told the request was received.
func TestFirstContactCreatesOneTopicAfterARealMessage(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	user := d.sb.CreateUser("Anna", "anna_v")
	if _, err := d.sb.SendCommand(user.ID, d.bot.ID, "start", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the /start greeting", func() bool { return len(d.userGot(user.ID)) >= 1 })
	if n := len(d.liveTopics()); n != 0 {
		t.Fatalf("/start alone created %d topics, want none", n)
	}
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "my VPN does not connect"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the message in a topic", func() bool {
		tps := d.liveTopics()
		return len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "my VPN does not connect")
	})
	tp := d.liveTopics()[0]
	want := fmt.Sprintf("Anna @anna_v %d", user.ID)
	if tp.Name != want {
		t.Fatalf("topic name %q, want %q", tp.Name, want)
	}
	if tp.IconEmoji != "5377498341074542641" {
		t.Fatalf("topic icon %q, want ❗ (5377498341074542641)", tp.IconEmoji)
	}
	texts := d.topicTexts(tp.ID)
	if len(texts) != 2 || !contains(texts[:1], "👤 Anna") || texts[1] != "my VPN does not connect" {
		t.Fatalf("topic holds %q, want the header then the message", texts)
	}
	eventually(t, 30*time.Second, "the received notice", func() bool { return contains(d.userGot(user.ID), "received") })
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "second message"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the second message", func() bool { return contains(d.topicTexts(tp.ID), "second message") })
	if n := len(d.liveTopics()); n != 1 {
		t.Fatalf("%d topics after two messages, want 1", n)
	}
}

// Messages sent quickly before the topic exists are held and relayed in
// their original order once it is created.
func TestMessagesBeforeTheTopicExistArriveInOrder(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	// Slow topic creation down so every message arrives before the topic.
	d.sb.SetLatency(d.bot.ID, "createForumTopic", 700*time.Millisecond)
	user := d.sb.CreateUser("Boris", "")
	for i := 1; i <= 5; i++ {
		if _, err := d.sb.SendText(user.ID, d.bot.ID, fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	eventually(t, 30*time.Second, "five messages in the topic", func() bool {
		tps := d.liveTopics()
		if len(tps) != 1 {
			return false
		}
		got = d.topicTexts(tps[0].ID)
		return len(got) >= 6
	})
	want := []string{"m1", "m2", "m3", "m4", "m5"}
	if fmt.Sprint(got[1:]) != fmt.Sprint(want) {
		t.Fatalf("topic holds %q after the header, want %q", got[1:], want)
	}
	if n := len(d.sb.Topics(d.group.ID)); n != 1 {
		t.Fatalf("%d topics created, want 1", n)
	}
}

// An agent's reply in the topic reaches the person, a //note does not,
// commands are not relayed; the first replier is assigned and the icon
// turns 📝; a second agent's reply does not take the ticket over.
func TestAgentReplyNoteAndFirstReplierWins(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	agent1, agent2 := d.sb.CreateUser("Olga", "olga"), d.sb.CreateUser("Petr", "petr")
	for _, a := range []int64{agent1.ID, agent2.ID} {
		if err := d.sb.AddUserToChat(a, d.group.ID); err != nil {
			t.Fatal(err)
		}
	}
	user := d.sb.CreateUser("Vera", "")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "help"); err != nil {
		t.Fatal(err)
	}
	var thread int64
	eventually(t, 30*time.Second, "the topic", func() bool {
		tps := d.liveTopics()
		if len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "help") {
			thread = tps[0].ID
			return true
		}
		return false
	})
	send := func(from int64, text string) {
		t.Helper()
		if _, err := d.sb.Send(tgsandbox.UserMessage{UserID: from, ChatID: d.group.ID, ThreadID: thread, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	send(agent1.ID, "// internal: check the server")
	send(agent1.ID, "Hello Vera, please restart the app")
	send(agent2.ID, "I can take it too")
	send(agent2.ID, "/whatever")
	eventually(t, 30*time.Second, "both replies at the user", func() bool {
		got := d.userGot(user.ID)
		return contains(got, "please restart the app") && contains(got, "I can take it too")
	})
	got := d.userGot(user.ID)
	if contains(got, "internal: check") || contains(got, "/whatever") {
		t.Fatalf("a note or a command reached the user: %q", got)
	}
	var assignee, status string
	var firstResp *time.Time
	if err := env.Owner.QueryRow(context.Background(), `SELECT assignee_name, status, first_response_at FROM support_tickets
		WHERE tenant_id = $1`, d.tenant).Scan(&assignee, &status, &firstResp); err != nil {
		t.Fatal(err)
	}
	if assignee != "Olga" || status != "in_work" || firstResp == nil {
		t.Fatalf("ticket assignee %q status %q first response %v, want Olga, in_work, set", assignee, status, firstResp)
	}
	var notes int
	_ = env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM support_messages WHERE tenant_id = $1 AND direction = 'note'`, d.tenant).Scan(&notes)
	if notes != 1 {
		t.Fatalf("%d notes stored, want 1", notes)
	}
	eventually(t, 30*time.Second, "the 📝 icon", func() bool {
		tps := d.liveTopics()
		return len(tps) == 1 && tps[0].IconEmoji == "5373251851074415873"
	})
}

// /close resolves: 🏁 and the topic closed; the person writing again
// reopens the same topic with ❗ and a new ticket.
func TestCloseAndReopen(t *testing.T) {
	d := newDesk(t, deskOpts{iconDebounce: 200 * time.Millisecond})
	d.bindGroup()
	agent := d.sb.CreateUser("Olga", "olga")
	if err := d.sb.AddUserToChat(agent.ID, d.group.ID); err != nil {
		t.Fatal(err)
	}
	user := d.sb.CreateUser("Gleb", "")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "question"); err != nil {
		t.Fatal(err)
	}
	var thread int64
	eventually(t, 30*time.Second, "the topic", func() bool {
		tps := d.liveTopics()
		if len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "question") {
			thread = tps[0].ID
			return true
		}
		return false
	})
	if _, err := d.sb.Send(tgsandbox.UserMessage{UserID: agent.ID, ChatID: d.group.ID, ThreadID: thread, Text: "/close"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "🏁 and closed", func() bool {
		tps := d.liveTopics()
		return len(tps) == 1 && tps[0].Closed && tps[0].IconEmoji == "5408906741125490282"
	})
	eventually(t, 30*time.Second, "the resolved notice", func() bool { return contains(d.userGot(user.ID), "resolved") })
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "one more thing"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "reopened with ❗", func() bool {
		tps := d.liveTopics()
		return len(tps) == 1 && !tps[0].Closed && tps[0].IconEmoji == "5377498341074542641" &&
			contains(d.topicTexts(thread), "one more thing")
	})
	var tickets, open int
	_ = env.Owner.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE status <> 'resolved')
		FROM support_tickets WHERE tenant_id = $1`, d.tenant).Scan(&tickets, &open)
	if tickets != 2 || open != 1 {
		t.Fatalf("%d tickets (%d open), want 2 (1 open)", tickets, open)
	}
}

// A topic deleted by a human is recreated on the person's next message,
// with the header and a note, and the message arrives in the new topic.
func TestDeletedTopicIsRecreated(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	user := d.sb.CreateUser("Dina", "")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "first"); err != nil {
		t.Fatal(err)
	}
	var thread int64
	eventually(t, 30*time.Second, "the topic", func() bool {
		tps := d.liveTopics()
		if len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "first") {
			thread = tps[0].ID
			return true
		}
		return false
	})
	if err := d.sb.DeleteTopic(d.group.ID, thread); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "after deletion"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a new topic with the message", func() bool {
		tps := d.liveTopics()
		if len(tps) != 1 || tps[0].ID == thread {
			return false
		}
		texts := d.topicTexts(tps[0].ID)
		return len(texts) >= 2 && contains(texts[:1], "deleted") && contains(texts, "after deletion")
	})
}

// Bind: a group without the rights the desk needs is told exactly what is
// missing and stays unbound; a code of another tenant is not accepted.
func TestBindReportsMissingRights(t *testing.T) {
	d := newDesk(t, deskOpts{})
	if err := d.sb.AddBotToChat(d.bot.ID, d.group.ID, &tgsandbox.Rights{CanManageTopics: true}); err != nil {
		t.Fatal(err)
	}
	d.waitBinding("administrator")
	code, err := d.svc.CreateBindCode(context.Background(), d.tenant, [16]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.sb.SendText(d.admin.ID, d.group.ID, code.Command); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the missing-rights reply", func() bool {
		for _, e := range d.sb.Transcript(d.group.ID) {
			if e.SenderKind == "bot" && contains([]string{e.Text}, "can_delete_messages") {
				return !contains([]string{e.Text}, "can_manage_topics")
			}
		}
		return false
	})
	gs, _ := d.svc.StaffGroups(context.Background(), d.tenant)
	if len(gs) != 0 {
		t.Fatalf("bound without rights: %+v", gs)
	}
	// The same code works once the rights are given.
	if err := d.sb.SetBotRights(d.bot.ID, d.group.ID, tgsandbox.AllRights()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "rights recorded", func() bool {
		var ok bool
		_ = env.Owner.QueryRow(context.Background(), `SELECT (rights->>'can_delete_messages')::bool FROM chat_bindings
			WHERE bot_id = $1 AND chat_id = $2`, d.bot.ID, d.group.ID).Scan(&ok)
		return ok
	})
	// Desks share the queues, so the other tenant lives in this desk.
	otherTenant := newTenant(t)
	foreign, err := d.svc.CreateBindCode(context.Background(), otherTenant, [16]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.sb.SendText(d.admin.ID, d.group.ID, foreign.Command); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			for _, e := range d.sb.Transcript(d.group.ID) {
				t.Logf("%s %d: %q %s", e.SenderKind, e.SenderID, e.Text, e.Service)
			}
		}
	}()
	eventually(t, 30*time.Second, "the foreign code refused", func() bool {
		n := 0
		for _, e := range d.sb.Transcript(d.group.ID) {
			if e.SenderKind == "bot" && contains([]string{e.Text}, "invalid") {
				n++
			}
		}
		return n == 1
	})
	_ = fmt.Sprint
	if gs, _ := d.svc.StaffGroups(context.Background(), d.tenant); len(gs) != 0 {
		t.Fatalf("bound with another tenant's code: %+v", gs)
	}
	if _, err := d.sb.SendText(d.admin.ID, d.group.ID, code.Command); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "bound", func() bool {
		gs, _ := d.svc.StaffGroups(context.Background(), d.tenant)
		return len(gs) == 1 && gs[0].Status == "ok"
	})
}

// The topic-created hook must find the topic row: the forum topic is asked
// for only after the transaction that created the row commits, however long
// that transaction takes (here: held up by a table lock).
func TestTopicCreatedWhileTheFirstMessageCommitsSlowly(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	ctx := context.Background()
	tx, err := env.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE support_messages IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	user := d.sb.CreateUser("Slow", "")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "slow commit"); err != nil {
		t.Fatal(err)
	}
	// While the message's transaction waits, no topic may be asked for.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(d.liveTopics()) == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	early := len(d.liveTopics())
	_ = tx.Rollback(ctx)
	if early != 0 {
		t.Fatalf("a topic was created before the first message committed")
	}
	eventually(t, 30*time.Second, "the message in its topic", func() bool {
		tps := d.liveTopics()
		return len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "slow commit")
	})
}
