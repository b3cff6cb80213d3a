package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// forum makes a forum supergroup with the bot as a topic-managing admin and
// n topics (created directly against the sandbox); it answers the group
// and the topics' thread ids.
func (f *fixture) forum(n int) (tgsandbox.Chat, []int) {
	f.t.Helper()
	g := f.sb.CreateForumSupergroup("Staff", f.user.ID)
	if err := f.sb.AddBotToChat(f.bot.ID, g.ID, tgsandbox.AllRights()); err != nil {
		f.t.Fatal(err)
	}
	var threads []int
	for i := range n {
		body, _ := json.Marshal(map[string]any{"chat_id": g.ID, "name": fmt.Sprintf("topic %d", i)})
		resp, err := http.Post(f.ts.URL+"/bot"+f.bot.Token+"/createForumTopic", "application/json", bytes.NewReader(body))
		if err != nil {
			f.t.Fatal(err)
		}
		var out struct {
			Ok     bool `json:"ok"`
			Result struct {
				MessageThreadID int `json:"message_thread_id"`
			} `json:"result"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		_ = resp.Body.Close()
		if err != nil || !out.Ok {
			f.t.Fatalf("createForumTopic: %v %+v", err, out)
		}
		threads = append(threads, out.Result.MessageThreadID)
	}
	return g, threads
}

// topicTexts are the bot's texts in one topic, in transcript order.
func (f *fixture) topicTexts(chatID int64, thread int) []string {
	var out []string
	for _, e := range f.sb.Transcript(chatID) {
		if e.SenderKind == "bot" && e.Text != "" && e.ThreadID == int64(thread) {
			out = append(out, e.Text)
		}
	}
	return out
}

// Order is per destination (chat, topic): messages to different topics of
// one group are in flight together, each topic's messages in order; the
// group's budget is still one (no 429 from the sandbox's real limits).
func TestTopicsOfOneGroupInFlightTogether(t *testing.T) {
	f := newFixture(t, fixtureOpts{clock: newFastClock(30), clockRate: 30})
	g, threads := f.forum(4)
	f.sb.SetLimits(tgsandbox.DefaultLimits()) // after the topics, which the outbox did not count
	f.sb.SetLatency(f.bot.ID, "sendMessage", 30*time.Millisecond)
	want := map[int][]string{}
	for i := range 4 {
		for _, th := range threads {
			s := fmt.Sprintf("t%d m%d", th, i)
			m := f.text(g.ID, s, Live)
			m.ThreadID = th
			f.enqueue(m)
			want[th] = append(want[th], s)
		}
	}
	eventually(t, 20*time.Second, "16 topic messages", func() bool { return len(f.botTexts(g.ID)) >= 16 })
	for _, th := range threads {
		if got := f.topicTexts(g.ID, th); !slices.Equal(got, want[th]) {
			t.Errorf("topic %d order:\n got %q\nwant %q", th, got, want[th])
		}
	}
	if m := f.rec.maxInflight.Load(); m < 2 {
		t.Errorf("at most %d call in flight into the group: topics did not go together", m)
	}
	for _, c := range f.rec.snapshot() {
		if c.status == 429 {
			t.Fatalf("the outbox triggered a 429 itself: %+v", c)
		}
	}
}

// With one destination per topic, priority still holds across a group's
// topics while its window is short: an icon edit in one topic does not take
// a slot while another topic's relays wait (in flight or for the window).
// 24 relays: the first 20 fill the window, the other 4 wait for it.
func TestLowerPriorityWaitsForOtherTopicsWhenBudgetShort(t *testing.T) {
	f := newFixture(t, fixtureOpts{clock: newFastClock(30), clockRate: 30})
	g, threads := f.forum(2)
	f.sb.SetLimits(tgsandbox.DefaultLimits()) // after the topics, which the outbox did not count
	want := texts("live", 24)
	for _, s := range want {
		m := f.text(g.ID, s, Live)
		m.ThreadID = threads[0]
		f.enqueue(m)
	}
	icon := Message{TenantID: f.tenant, BotID: f.bot.ID, ChatID: g.ID, ThreadID: threads[1], Method: "editForumTopic",
		Params: []byte(`{"name":"renamed"}`), Priority: Icon, Kind: "test"}
	id := f.enqueue(icon)
	eventually(t, 30*time.Second, "icon edit and relays", func() bool {
		return f.row(id).Status == "sent" && len(f.topicTexts(g.ID, threads[0])) >= 24
	})
	if got := f.topicTexts(g.ID, threads[0]); !slices.Equal(got, want) {
		t.Fatalf("topic order:\n got %q\nwant %q", got, want)
	}
	// The first window's 20 slots all went to relays; once the window frees
	// slots for every message still queued, the icon edit takes no slot a
	// relay needs and may go (it need not wait for the very last relay).
	before := 0
	for _, c := range f.rec.snapshot() {
		if c.status == 429 {
			t.Fatalf("the outbox triggered a 429 itself: %+v", c)
		}
		if c.method == "editForumTopic" {
			break
		}
		if c.method == "sendMessage" {
			before++
		}
	}
	if before < 20 {
		t.Fatalf("the icon edit went after %d relays: it took one of the window's slots while relays waited", before)
	}
}

// A 429 from one topic pauses the whole group: no call goes to any of its
// topics before retry_after has passed.
func TestTopic429PausesTheWholeGroup(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	g, threads := f.forum(2)
	if err := f.sb.FailNext(tgsandbox.Fault{BotID: f.bot.ID, Method: "sendMessage", Times: 1, Code: 429, RetryAfter: 1}); err != nil {
		t.Fatal(err)
	}
	first := f.text(g.ID, "first", Live)
	first.ThreadID = threads[0]
	id := f.enqueue(first)
	eventually(t, 5*time.Second, "the 429", func() bool { return f.row(id).Throttled == 1 })
	other := f.text(g.ID, "other topic", Live)
	other.ThreadID = threads[1]
	f.enqueue(other)
	eventually(t, 10*time.Second, "both sent", func() bool { return len(f.botTexts(g.ID)) >= 2 })
	var at429 time.Time
	for _, c := range f.rec.snapshot() {
		switch {
		case c.method == "sendMessage" && c.status == 429:
			at429 = c.at
		case c.method == "sendMessage" && strings.Contains(c.body, "other topic"):
			if gap := c.at.Sub(at429); gap < time.Second {
				t.Fatalf("another topic of the group was called %s after a 429 with retry_after 1", gap)
			}
		}
	}
}

// Service messages are found by elimination only when the count matches:
// with one unknown id more than service calls waiting (another bot's
// message, say) nothing is deleted until the ids add up.
func TestServiceMessageIdsByElimination(t *testing.T) {
	f := newFixture(t, fixtureOpts{noServer: true})
	zero := time.Duration(0)
	f.ob.serviceSettle = &zero
	f.ob.DeleteServiceMessagesOf("test")
	ctx := context.Background()
	const chat = -1009000
	deletes := func() []string {
		rows, err := env.Owner.Query(ctx, `SELECT params->>'message_ids' FROM outbox_messages WHERE tenant_id = $1 AND method = 'deleteMessages' ORDER BY seq`, f.tenant)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}
	seen := func(ids ...int64) {
		if err := f.ob.SeenInChat(ctx, f.tenant, f.bot.ID, chat, ids...); err != nil {
			t.Fatal(err)
		}
	}
	service := func(token string, bound int64) {
		if err := f.ob.serviceStep(ctx, f.tenant, f.bot.ID, chat, "service", token, bound); err != nil {
			t.Fatal(err)
		}
	}
	seen(10, 11)
	service("a", 11) // posts 12
	seen(14)         // 13 is someone else's, not received (yet)
	if got := deletes(); len(got) != 0 {
		t.Fatalf("deleted %v although two ids are unknown for one service message", got)
	}
	seen(13) // its update came late
	if got := deletes(); len(got) != 1 || got[0] != "[12]" {
		t.Fatalf("deletes = %v, want [12]", got)
	}
	service("b", 14) // posts 15
	service("c", 14) // posts 16 (two changes in flight together)
	seen(17)
	if got := deletes(); len(got) != 2 || got[1] != "[15, 16]" {
		t.Fatalf("deletes = %v, want [12] then [15, 16]", got)
	}
}
