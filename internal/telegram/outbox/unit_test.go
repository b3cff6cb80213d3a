package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// Bad messages are refused at Enqueue and record nothing.
func TestEnqueueRefusesBadMessages(t *testing.T) {
	f := newFixture(t, fixtureOpts{noServer: true})
	good := f.text(f.user.ID, "x", Live)
	cases := []struct {
		name string
		mut  func(m *Message)
		want error
	}{
		{"unknown method", func(m *Message) { m.Method = "sendSpam" }, ErrUnknownMethod},
		{"no tenant", func(m *Message) { m.TenantID = uuid.Nil }, ErrInvalid},
		{"no bot", func(m *Message) { m.BotID = 0 }, ErrInvalid},
		{"no chat", func(m *Message) { m.ChatID = 0 }, ErrInvalid},
		{"negative thread", func(m *Message) { m.ThreadID = -1 }, ErrInvalid},
		{"bad priority", func(m *Message) { m.Priority = 9 }, ErrInvalid},
		{"params not an object", func(m *Message) { m.Params = json.RawMessage(`[1]`) }, ErrInvalid},
		{"params not JSON", func(m *Message) { m.Params = json.RawMessage(`{`) }, ErrInvalid},
		{"chat_id in params", func(m *Message) { m.Params = json.RawMessage(`{"chat_id":1,"text":"x"}`) }, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := good
			tc.mut(&m)
			if _, err := f.ob.Enqueue(context.Background(), m); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if n := f.statusCounts(); len(n) != 0 {
		t.Fatalf("rows recorded for refused messages: %v", n)
	}
}

func TestBodyInjectsChatThreadAndPaidFlag(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		thread   int
		params   string
		paidBulk bool
		want     string
	}{
		{"send in topic", "sendMessage", 7, `{"text":"hi"}`, false, `{"chat_id":-100,"message_thread_id":7,"text":"hi"}`},
		{"edit ignores thread", "editMessageText", 7, `{"message_id":3,"text":"hi"}`, false, `{"chat_id":-100,"message_id":3,"text":"hi"}`},
		{"callback answer has no chat", "answerCallbackQuery", 0, `{"callback_query_id":"q"}`, false, `{"callback_query_id":"q"}`},
		{"paid bulk send", "sendMessage", 0, `{"text":"hi"}`, true, `{"allow_paid_broadcast":true,"chat_id":-100,"text":"hi"}`},
		{"paid flag not on topics", "createForumTopic", 0, `{"name":"t"}`, true, `{"chat_id":-100,"name":"t"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := body(tc.method, -100, tc.thread, json.RawMessage(tc.params), tc.paidBulk)
			if err != nil || string(got) != tc.want {
				t.Fatalf("body = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestCosts(t *testing.T) {
	cases := []struct {
		name   string
		method string
		params string
		want   cost
	}{
		{"message", "sendMessage", `{"text":"x"}`, cost{1, 1}},
		{"album counts each item", "sendMediaGroup", `{"media":[{},{},{}]}`, cost{3, 1}},
		{"copyMessages counts each id", "copyMessages", `{"message_ids":[1,2]}`, cost{2, 1}},
		{"topic edit posts a service message", "editForumTopic", `{}`, cost{1, 1}},
		{"edit", "editMessageText", `{}`, cost{0, 1}},
		{"callback answer is free", "answerCallbackQuery", `{}`, cost{0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := methods[tc.method].costOf(json.RawMessage(tc.params)); got != tc.want {
				t.Fatalf("cost = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestResultIDs(t *testing.T) {
	cases := []struct {
		name   string
		result string
		ids    []int64
		topic  int
	}{
		{"message", `{"message_id":5,"chat":{"id":1}}`, []int64{5}, 0},
		{"message ids", `[{"message_id":5},{"message_id":6}]`, []int64{5, 6}, 0},
		{"topic", `{"message_thread_id":42,"name":"Alice","icon_color":1}`, nil, 42},
		{"true", `true`, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ids, topic := resultIDs(json.RawMessage(tc.result))
			if !slices.Equal(ids, tc.ids) || topic != tc.topic {
				t.Fatalf("= %v %d, want %v %d", ids, topic, tc.ids, tc.topic)
			}
		})
	}
}

// The delivery rule: what is repeated, what is reported unknown.
func TestClassify(t *testing.T) {
	o := &Outbox{opts: Options{MaxAttempts: 3}}
	apiErr := func(code int, desc string, retry int) *ta.Response {
		e := &ta.Error{ErrorCode: code, Description: desc}
		if retry > 0 {
			e.Parameters = &ta.ResponseParameters{RetryAfter: retry}
		}
		return &ta.Response{Error: e}
	}
	cases := []struct {
		name      string
		prio      Priority
		attempts  int
		resp      *ta.Response
		err       error
		want      string
		wantPause time.Duration
	}{
		{"429 waits retry_after", Bulk, 1, apiErr(429, "Too Many Requests: retry after 7", 7), nil, "queued", 7 * time.Second},
		{"403 private is blocked", Live, 1, apiErr(403, "Forbidden: bot was blocked by the user", 0), nil, "blocked", 0},
		{"400 fails", Live, 1, apiErr(400, "Bad Request: message thread not found", 0), nil, "failed", 0},
		{"not sent is retried even for bulk", Bulk, 1, nil, &transportError{sent: false, msg: "refused"}, "queued", time.Second},
		{"maybe sent bulk is unknown", Bulk, 1, nil, &transportError{sent: true, msg: "reset"}, "unknown", time.Second},
		{"maybe sent live is retried", Live, 1, nil, &transportError{sent: true, msg: "reset"}, "queued", time.Second},
		{"5xx bulk is unknown", Bulk, 1, apiErr(502, "Bad Gateway", 0), nil, "unknown", time.Second},
		{"live gives up after max attempts", Live, 3, nil, &transportError{sent: false, msg: "refused"}, "failed", 4 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, pause, _, _ := o.classify(claimed{ChatID: 5, Priority: tc.prio, Attempts: tc.attempts}, tc.resp, tc.err)
			if out.Status != tc.want || pause != tc.wantPause {
				t.Fatalf("= %q pause %s, want %q pause %s", out.Status, pause, tc.want, tc.wantPause)
			}
		})
	}
}

func TestPendingEntryAndDestinations(t *testing.T) {
	p := pendingEntry{TenantID: uuid.New(), BotID: 7, ChatID: -100123, ThreadID: 42,
		entry: entry{ID: uuid.New(), Cost: cost{chat: 1, bot: 1}, Priority: Topic, Seq: 99, Own: true}}
	got, err := parsePending(p.encode())
	if err != nil || got != p {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, p)
	}
	// Entries noted before destinations had threads still parse (thread 0).
	old := fmt.Sprintf("%s|7|-100123|%s|1|1|3|5", p.TenantID, p.ID)
	if got, err := parsePending(old); err != nil || got.ThreadID != 0 || got.Own || got.Seq != 5 {
		t.Fatalf("old entry: %+v, %v", got, err)
	}
	for _, c := range []struct {
		chat   int64
		thread int
		own    bool
		want   string
	}{{5, 0, false, "5"}, {-100123, 42, false, "-100123:42"}, {-100123, 0, true, "-100123/" + p.ID.String()}} {
		d := destOf(c.chat, c.thread, entry{ID: p.ID, Own: c.own})
		if d != c.want {
			t.Errorf("destOf(%d, %d, own %v) = %q, want %q", c.chat, c.thread, c.own, d, c.want)
		}
		if chat, err := destChat(d); err != nil || chat != c.chat {
			t.Errorf("destChat(%q) = %d, %v", d, chat, err)
		}
	}
}

// Results of Topic-priority calls (a topic's creation posts the topic's first
// messages from its hook) run from the live queue under slots of their own.
func TestTopicHooksOnTheLivePath(t *testing.T) {
	o := New(nil, nil, nil, nil, Options{HookConcurrency: 4})
	if q := hookQueue(Result{Priority: Topic}); q != queue.Outbound {
		t.Fatalf("topic hook queue %q", q)
	}
	if q := hookQueue(Result{Priority: Live}); q != queue.Default {
		t.Fatalf("live hook queue %q", q)
	}
	if o.slotsFor(Result{Priority: Topic}) == o.slotsFor(Result{Priority: Live}) || cap(o.slotsFor(Result{Priority: Topic})) != 2 {
		t.Fatal("topic hooks share the other hooks' slots")
	}
}
