package tgsandbox

import (
	"fmt"
	"testing"
	"time"
)

func TestPrivateChatLimit(t *testing.T) {
	l := DefaultLimits()
	e := newEnv(t, &l)
	b, u := e.started()
	send := func() apiResp { return e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "x"}) }
	for i := range 3 { // burst of 3
		if r := send(); !r.OK {
			t.Fatalf("send %d: %s", i, r.Description)
		}
	}
	r := send()
	e.fails(r, 429, "Too Many Requests: retry after 1")
	if r.Parameters == nil || r.Parameters.RetryAfter != 1 {
		t.Fatalf("parameters = %+v", r.Parameters)
	}
	e.clock.Advance(time.Second)
	e.ok(send(), nil)
}

func TestGroupLimitCountsServiceMessages(t *testing.T) {
	tests := []struct {
		name string
		// spend uses n messages of the group's budget.
		spend func(e *env, b Bot, g Chat, thread int64) int
	}{
		{name: "topic edits", spend: func(e *env, b Bot, g Chat, thread int64) int {
			for i := range 9 {
				e.ok(e.call(b.Token, "editForumTopic", map[string]any{"chat_id": g.ID, "message_thread_id": thread, "name": fmt.Sprint("n", i)}), nil)
			}
			return 9
		}},
		{name: "close and reopen", spend: func(e *env, b Bot, g Chat, thread int64) int {
			for range 4 {
				e.ok(e.call(b.Token, "closeForumTopic", map[string]any{"chat_id": g.ID, "message_thread_id": thread}), nil)
				e.ok(e.call(b.Token, "reopenForumTopic", map[string]any{"chat_id": g.ID, "message_thread_id": thread}), nil)
			}
			return 8
		}},
		{name: "album", spend: func(e *env, b Bot, g Chat, thread int64) int {
			media := []map[string]any{}
			for range 10 {
				media = append(media, map[string]any{"type": "photo", "media": "https://example.com/a.jpg"})
			}
			e.ok(e.call(b.Token, "sendMediaGroup", map[string]any{"chat_id": g.ID, "media": media}), nil)
			return 10
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := DefaultLimits()
			e := newEnv(t, &l)
			b := e.s.CreateBot("desk_bot", "Desk")
			g, _ := e.staff(b, AllRights())
			var topic tgForumTopic
			e.ok(e.call(b.Token, "createForumTopic", map[string]any{"chat_id": g.ID, "name": "T"}), &topic) // 1
			used := 1 + tc.spend(e, b, g, topic.MessageThreadID)
			for i := used; i < 20; i++ {
				e.clock.Advance(100 * time.Millisecond) // stay under the per-bot rate
				e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": g.ID, "text": "x"}), nil)
			}
			e.clock.Advance(time.Second)
			r := e.call(b.Token, "sendMessage", map[string]any{"chat_id": g.ID, "text": "21st"})
			if r.ErrorCode != 429 || r.Parameters == nil || r.Parameters.RetryAfter < 1 {
				t.Fatalf("21st message in a minute = %+v", r)
			}
			e.clock.Advance(time.Duration(r.Parameters.RetryAfter) * time.Second)
			e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": g.ID, "text": "after wait"}), nil)
		})
	}
}

func TestCopyMessagesChargesEachMessage(t *testing.T) {
	l := DefaultLimits()
	e := newEnv(t, &l)
	b, u := e.started()
	g, _ := e.staff(b, AllRights())
	var ids []int64
	for range 3 {
		s, _ := e.s.SendText(u.ID, b.ID, "m")
		ids = append(ids, s.MessageID)
	}
	for range 6 {
		e.ok(e.call(b.Token, "copyMessages", map[string]any{"chat_id": g.ID, "from_chat_id": u.ID, "message_ids": ids}), nil)
		e.clock.Advance(200 * time.Millisecond)
	}
	// 18 used; 3 more do not fit into 20.
	if r := e.call(b.Token, "copyMessages", map[string]any{"chat_id": g.ID, "from_chat_id": u.ID, "message_ids": ids}); r.ErrorCode != 429 || r.Parameters == nil || r.Parameters.RetryAfter < 1 {
		t.Fatalf("3 more copies = %+v, want 429", r)
	}
	e.ok(e.call(b.Token, "copyMessages", map[string]any{"chat_id": g.ID, "from_chat_id": u.ID, "message_ids": ids[:2]}), nil)
}

func TestBotWideLimitAndScaling(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		ok     int // sends admitted at one instant before a 429
	}{
		{name: "default 30/s", limits: DefaultLimits(), ok: 30},
		{name: "scaled x2", limits: func() Limits { l := DefaultLimits(); l.Scale = 2; return l }(), ok: 60},
		{name: "off", limits: NoLimits(), ok: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &tc.limits)
			b := e.s.CreateBot("bulk_bot", "Bulk")
			var users []User
			for i := range 100 {
				u := e.s.CreateUser(fmt.Sprint("u", i), "")
				if _, err := e.s.SendCommand(u.ID, b.ID, "start", ""); err != nil {
					t.Fatal(err)
				}
				users = append(users, u)
			}
			sent := 0
			for _, u := range users {
				if r := e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "news"}); !r.OK {
					if r.ErrorCode != 429 {
						t.Fatalf("unexpected %d %s", r.ErrorCode, r.Description)
					}
					break
				}
				sent++
			}
			if sent != tc.ok {
				t.Fatalf("admitted %d, want %d", sent, tc.ok)
			}
		})
	}
}

func TestSetLimitsAtRuntime(t *testing.T) {
	l := DefaultLimits()
	e := newEnv(t, &l)
	b, u := e.started()
	for range 3 {
		e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "x"}), nil)
	}
	e.s.SetLimits(NoLimits())
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "x"}), nil)
	if e.s.CurrentLimits().Enabled {
		t.Fatal("limits still enabled")
	}
}
