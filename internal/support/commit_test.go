package support_test

import (
	"context"
	"testing"
	"time"
)

// An agent's reply whose transaction commits slowly (here: the ticket
// update waits for a lock) is not sent before the commit, and once sent
// its result is recorded: the person's copy id is kept, so a later edit
// of the reply reaches the person. Enqueued inside the uncommitted
// transaction, the copy went out at once and its result hook found no
// row to update.
func TestAgentReplyCommittingSlowlyKeepsItsResult(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	olga := d.agent("Olga", "olga")
	user := d.sb.CreateUser("Rita", "")
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
	d.say(olga.ID, thread, "warm-up") // the agent is known; the ticket in work
	eventually(t, 30*time.Second, "the warm-up reply", func() bool { return contains(d.userGot(user.ID), "warm-up") })

	ctx := context.Background()
	tx, err := env.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// Reads go on; the reply's ticket update waits, after the message row
	// is written and the copy enqueued.
	if _, err := tx.Exec(ctx, `LOCK TABLE support_tickets IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	reply := d.say(olga.ID, thread, "Hi Rita, which plna?")
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && !contains(d.userGot(user.ID), "plna") {
		time.Sleep(20 * time.Millisecond)
	}
	early := contains(d.userGot(user.ID), "plna")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if early {
		t.Fatalf("the reply was sent before its transaction committed")
	}
	eventually(t, 30*time.Second, "the reply", func() bool { return contains(d.userGot(user.ID), "which plna?") })
	eventually(t, 30*time.Second, "the person's copy id recorded", func() bool {
		var n int
		_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM support_messages WHERE tenant_id = $1 AND text = 'Hi Rita, which plna?'
			AND relay = 'sent' AND user_message_id IS NOT NULL`, d.tenant).Scan(&n)
		return n == 1
	})
	if err := d.sb.EditMessage(olga.ID, d.group.ID, reply.MessageID, "Hi Rita, which plan?"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the person's copy edited", func() bool {
		return contains(d.userGot(user.ID), "which plan?") && !contains(d.userGot(user.ID), "plna")
	})
}
