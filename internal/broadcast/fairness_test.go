package broadcast_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/broadcast"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Two campaigns at once on one bot at Telegram's real 30/s, with live
// support-like messages in between: both campaigns progress together (each
// gets its share, neither waits for the other to finish), and a live
// message is sent ahead of the Bulk backlog (at most a few bulk sends that
// were already picked go between its enqueue and its send).
func TestTwoCampaignsAndLiveTraffic(t *testing.T) {
	r := newRig(t, rigOptions{scale: 1, minWindow: 10, windowSpan: 300 * time.Millisecond})
	// people() waits for bot chats by count: the second batch waits for 50.
	ctx := context.Background()
	// Live replies go to people outside the audience: a person who just got
	// a campaign message waits for Telegram's per-chat budget (about 1/s),
	// whatever the priority.
	talkers := r.people("Ivy", 5)
	if _, err := env.Owner.Exec(ctx, `UPDATE bot_chats SET unsubscribed = true WHERE bot_id = $1`, r.bot.ID); err != nil {
		t.Fatal(err)
	}
	ps := r.people("Hal", 45)
	a := r.create(t, "A", broadcast.Content{Text: "Campaign A [ca]"})
	b := r.create(t, "B", broadcast.Content{Text: "Campaign B [cb]"})
	if _, err := r.svc.SendNow(ctx, r.tenant, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.SendNow(ctx, r.tenant, b.ID); err != nil {
		t.Fatal(err)
	}
	type live struct{ text string }
	var lives []live
	bulk := func(calls []string) int {
		n := 0
		for _, c := range calls {
			if strings.Contains(c, "[ca]") || strings.Contains(c, "[cb]") {
				n++
			}
		}
		return n
	}
	for i := range 5 {
		eventually(t, "campaign progress", func() bool { return bulk(r.sent()) >= 10*(i+1) })
		text := fmt.Sprintf("Live reply %d", i)
		raw, _ := json.Marshal(map[string]any{"text": text})
		lives = append(lives, live{text: text})
		if _, err := r.ob.Enqueue(ctx, outbox.Message{TenantID: r.tenant, BotID: r.bot.ID, ChatID: talkers[i].chatID, Method: "sendMessage",
			Params: raw, Priority: outbox.Live, Kind: "test.live"}); err != nil {
			t.Fatal(err)
		}
	}
	// Fair share: when the first campaign finishes, the second is well under way.
	var other int
	eventually(t, "a campaign done", func() bool {
		sa, sb := r.stats(t, a.ID), r.stats(t, b.ID)
		switch {
		case sa.Status == broadcast.StatusDone:
			other = sb.Sent
		case sb.Status == broadcast.StatusDone:
			other = sa.Sent
		default:
			return false
		}
		return true
	})
	if other < 30 {
		t.Fatalf("when one campaign finished the other had sent only %d of 45", other)
	}
	r.waitStatus(t, a.ID, broadcast.StatusDone)
	r.waitStatus(t, b.ID, broadcast.StatusDone)
	// Per live message, from the outbox's own record: bulk calls claimed
	// between its enqueue and its claim (only calls already picked when it
	// arrived may be; a FIFO would put the whole backlog there), and bulk
	// messages queued before it that it overtook (the backlog it skipped).
	overtook := 0
	for _, l := range lives {
		var waited, skipped int
		if err := env.Owner.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM outbox_messages b WHERE b.bot_id = l.bot_id AND b.kind = 'broadcast'
					AND b.sending_at > l.created_at AND b.sending_at < l.sending_at),
				(SELECT count(*) FROM outbox_messages b WHERE b.bot_id = l.bot_id AND b.kind = 'broadcast'
					AND b.created_at < l.created_at AND b.sending_at > l.sending_at)
			FROM outbox_messages l WHERE l.bot_id = $1 AND l.kind = 'test.live' AND l.params ->> 'text' = $2`,
			r.bot.ID, l.text).Scan(&waited, &skipped); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bulk calls claimed before it, %d queued bulk messages overtaken", l.text, waited, skipped)
		if waited > 3 {
			t.Fatalf("%q waited behind %d bulk calls", l.text, waited)
		}
		overtook += skipped
	}
	if overtook == 0 {
		t.Fatal("no live message had a bulk backlog to overtake: the test proves nothing")
	}
	for _, p := range ps {
		if r.received(p.user.ID, "[ca]") != 1 || r.received(p.user.ID, "[cb]") != 1 {
			t.Fatalf("%s: not exactly one of each", p.user.FirstName)
		}
	}
}

// A bot with paid broadcasts switched on sends its campaigns with
// allow_paid_broadcast (the outbox adds it to Bulk sends and budgets them
// at the paid rate); live messages never carry it.
func TestPaidBroadcast(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	// Before the bot's first pump: the outbox caches the switch for a minute.
	if _, err := env.Owner.Exec(ctx, `UPDATE bots SET paid_broadcast = true WHERE id = $1`, r.bot.ID); err != nil {
		t.Fatal(err)
	}
	ps := r.people("Lea", 4)
	c := r.create(t, "paid", broadcast.Content{Text: "Paid [mp]"})
	if _, err := r.svc.SendNow(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	r.callMu.Lock()
	paid := r.paid
	r.callMu.Unlock()
	if paid != len(ps) {
		t.Fatalf("%d sends carried allow_paid_broadcast, want %d (the campaign's only)", paid, len(ps))
	}
}
