package support_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/support"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// A person's edit is reflected in the topic (the text copy edited, a
// caption posted as edited); an agent's edit reaches the person; an edit
// after resolution is still reflected and does not reopen the ticket.
func TestEditsAreReflectedBothWays(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	olga := d.agent("Olga", "olga")
	user := d.sb.CreateUser("Lena", "")
	sent, err := d.sb.SendText(user.ID, d.bot.ID, "my plan is basik")
	if err != nil {
		t.Fatal(err)
	}
	var thread int64
	eventually(t, 30*time.Second, "the topic", func() bool {
		tps := d.liveTopics()
		if len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "my plan is basik") {
			thread = tps[0].ID
			return true
		}
		return false
	})
	photo, err := d.sb.SendPhoto(user.ID, d.bot.ID, []byte("png"), "screen 1")
	if err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "screen 1")
	if err := d.sb.EditMessage(user.ID, d.bot.ID, sent.MessageID, "my plan is basic"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the copy edited", func() bool {
		return contains(d.topicTexts(thread), "my plan is basic") && !contains(d.topicTexts(thread), "basik")
	})
	if err := d.sb.EditMessage(user.ID, d.bot.ID, photo.MessageID, "screen 2"); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "✏️ Edited:\nscreen 2")

	reply := d.say(olga.ID, thread, "Hello Lena, which plna?")
	eventually(t, 30*time.Second, "the reply", func() bool { return contains(d.userGot(user.ID), "which plna?") })
	if err := d.sb.EditMessage(olga.ID, d.group.ID, reply.MessageID, "Hello Lena, which plan?"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the person's copy edited", func() bool {
		return contains(d.userGot(user.ID), "which plan?") && !contains(d.userGot(user.ID), "plna")
	})

	d.say(olga.ID, thread, "/close")
	eventually(t, 30*time.Second, "resolved", func() bool { return d.onlyTicket().Status == "resolved" })
	if err := d.sb.EditMessage(user.ID, d.bot.ID, sent.MessageID, "my plan is premium"); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "my plan is premium")
	if tk := d.onlyTicket(); tk.Status != "resolved" {
		t.Fatalf("an edit after resolution moved the ticket to %q", tk.Status)
	}
	ts, _ := d.svc.Tickets(context.Background(), d.tenant, support.TicketFilter{Limit: 10})
	if len(ts) != 1 {
		t.Fatalf("%d tickets after a late edit, want 1", len(ts))
	}
}

// A relay to a person who blocked the bot posts one note in the topic.
func TestBlockedUserIsNotedOnce(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	olga := d.agent("Olga", "olga")
	user, thread := d.openTopic("Gone", "bye")
	if err := d.sb.BlockBot(user.ID, d.bot.ID); err != nil {
		t.Fatal(err)
	}
	d.say(olga.ID, thread, "are you there?")
	d.waitTopic(thread, "blocked the bot")
	d.say(olga.ID, thread, "hello?")
	eventually(t, 30*time.Second, "the second reply failed", func() bool {
		var n int
		_ = env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM support_messages WHERE tenant_id = $1
			AND direction = 'out' AND relay = 'failed'`, d.tenant).Scan(&n)
		return n == 2
	})
	d.say(olga.ID, thread, "// marker")
	if n := count(d.topicTexts(thread), "blocked the bot"); n != 1 {
		t.Fatalf("blocked note posted %d times, want once", n)
	}
}

// Content copyMessage refuses: a note in the topic instead of a copy, and
// the message with its raw update is stored.
func TestUncopyableContentIsNotedAndKept(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	user, thread := d.openTopic("Gleb", "hi")

	// The Bot API cannot copy a giveaway (the sandbox users cannot send one).
	var contactID uuid.UUID
	if err := env.Owner.QueryRow(context.Background(), `SELECT id FROM contacts WHERE tenant_id = $1 AND tg_user_id = $2`, d.tenant, user.ID).Scan(&contactID); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"update_id": 1, "message": map[string]any{"message_id": 777, "date": 1,
		"chat": map[string]any{"id": user.ID, "type": "private"}, "from": map[string]any{"id": user.ID, "first_name": "Gleb"},
		"giveaway": map[string]any{"winner_count": 1}}})
	in := &telegram.Inbound{TenantID: d.tenant, BotID: d.bot.ID, ChatID: user.ID, ChatType: "private", ContactID: contactID,
		Raw: raw, Message: &telegram.Message{MessageID: 777}}
	if err := d.svc.HandleUserMessage(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "cannot be copied here (giveaway)")

	// The sandbox refuses a copy: the topic is told, the message kept.
	if err := d.sb.FailNext(tgsandbox.Fault{BotID: d.bot.ID, Method: "copyMessage", Times: 1, Code: 400,
		Description: "Bad Request: message can't be copied"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "lost?"); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "cannot be copied here (text: Bad Request")
	var n int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM support_messages WHERE tenant_id = $1
		AND direction = 'in' AND raw IS NOT NULL AND (kind = 'giveaway' OR text = 'lost?')`, d.tenant).Scan(&n); err != nil || n != 2 {
		t.Fatalf("stored with raw: %d %v, want 2", n, err)
	}
}

// An agent edits a reply after its copy reached the person but before the
// copy's id was recorded (the relay's result hook has not run: its queue is
// paused here). The edit cannot be applied then; the hook applies it when
// it records the copy, so the person ends up with the edited text.
func TestAgentEditBeforeTheCopyIsRecorded(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	olga := d.agent("Olga", "olga")
	user := d.sb.CreateUser("Lena", "")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "hello"); err != nil {
		t.Fatal(err)
	}
	var thread int64
	eventually(t, 30*time.Second, "the topic", func() bool {
		tps := d.liveTopics()
		if len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "hello") {
			thread = tps[0].ID
			return true
		}
		return false
	})
	insp := asynq.NewInspector(env.Redis.Asynq)
	defer insp.Close()
	if err := insp.PauseQueue(queue.Default); err != nil { // result hooks run there
		t.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			_ = insp.UnpauseQueue(queue.Default)
		}
	}()
	reply := d.say(olga.ID, thread, "Hi, whcih plan?")
	eventually(t, 30*time.Second, "the reply", func() bool { return contains(d.userGot(user.ID), "whcih plan?") })
	if err := d.sb.EditMessage(olga.ID, d.group.ID, reply.MessageID, "Hi, which plan?"); err != nil {
		t.Fatal(err)
	}
	// The edit is handled (stored) while the copy's id is still unknown.
	eventually(t, 30*time.Second, "the edit stored", func() bool {
		var text string
		_ = env.Owner.QueryRow(context.Background(), `SELECT coalesce(text, '') FROM support_messages
			WHERE tenant_id = $1 AND direction = 'out' AND edited_at IS NOT NULL`, d.tenant).Scan(&text)
		return text == "Hi, which plan?"
	})
	if err := insp.UnpauseQueue(queue.Default); err != nil {
		t.Fatal(err)
	}
	paused = false
	eventually(t, 30*time.Second, "the person's copy edited", func() bool {
		return contains(d.userGot(user.ID), "which plan?") && !contains(d.userGot(user.ID), "whcih")
	})
}
