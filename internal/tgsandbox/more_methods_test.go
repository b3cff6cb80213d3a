package tgsandbox

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestRemainingMethods(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	g, agent := e.staff(b, AllRights())
	var topic tgForumTopic
	e.ok(e.call(b.Token, "createForumTopic", map[string]any{"chat_id": g.ID, "name": "T"}), &topic)
	var photo tgMessage
	e.ok(e.call(b.Token, "sendPhoto", map[string]any{"chat_id": u.ID, "photo": "https://example.com/p.jpg", "caption": "c1"}), &photo)

	tests := []struct {
		name   string
		method string
		body   map[string]any
		check  func(t *testing.T, raw json.RawMessage)
	}{
		{name: "getChat private", method: "getChat", body: map[string]any{"chat_id": u.ID}, check: func(t *testing.T, raw json.RawMessage) {
			if !strings.Contains(string(raw), `"type":"private"`) || !strings.Contains(string(raw), `"first_name":"Alice"`) {
				t.Fatalf("getChat = %s", raw)
			}
		}},
		{name: "getChat forum", method: "getChat", body: map[string]any{"chat_id": g.ID}, check: func(t *testing.T, raw json.RawMessage) {
			if !strings.Contains(string(raw), `"is_forum":true`) {
				t.Fatalf("getChat = %s", raw)
			}
		}},
		{name: "editMessageCaption", method: "editMessageCaption", body: map[string]any{"chat_id": u.ID, "message_id": photo.MessageID, "caption": "c2"}, check: func(t *testing.T, raw json.RawMessage) {
			if !strings.Contains(string(raw), `"caption":"c2"`) || !strings.Contains(string(raw), `"edit_date"`) {
				t.Fatalf("edit caption = %s", raw)
			}
		}},
		{name: "setMessageReaction", method: "setMessageReaction", body: map[string]any{"chat_id": u.ID, "message_id": photo.MessageID, "reaction": []map[string]string{{"type": "emoji", "emoji": "👍"}}}, check: func(t *testing.T, raw json.RawMessage) {
			if string(raw) != "true" {
				t.Fatalf("reaction = %s", raw)
			}
		}},
		{name: "sendVideo", method: "sendVideo", body: map[string]any{"chat_id": u.ID, "video": "https://example.com/v.mp4"}, check: func(t *testing.T, raw json.RawMessage) {
			if !strings.Contains(string(raw), `"video":{`) {
				t.Fatalf("video = %s", raw)
			}
		}},
		{name: "sendVoice", method: "sendVoice", body: map[string]any{"chat_id": u.ID, "voice": "https://example.com/v.ogg"}, check: func(t *testing.T, raw json.RawMessage) {
			if !strings.Contains(string(raw), `"voice":{`) {
				t.Fatalf("voice = %s", raw)
			}
		}},
		{name: "sendSticker", method: "sendSticker", body: map[string]any{"chat_id": g.ID, "message_thread_id": topic.MessageThreadID, "sticker": "https://example.com/s.webp"}, check: func(t *testing.T, raw json.RawMessage) {
			if !strings.Contains(string(raw), `"sticker":{`) || !strings.Contains(string(raw), `"is_topic_message":true`) {
				t.Fatalf("sticker = %s", raw)
			}
		}},
		{name: "forward into topic", method: "forwardMessage", body: map[string]any{"chat_id": g.ID, "message_thread_id": topic.MessageThreadID, "from_chat_id": u.ID, "message_id": 1}, check: func(t *testing.T, raw json.RawMessage) {
			if !strings.Contains(string(raw), `"forward_origin":{"type":"user"`) || !strings.Contains(string(raw), `"message_thread_id":`) {
				t.Fatalf("forward = %s", raw)
			}
		}},
		{name: "getChatMemberCount", method: "getChatMemberCount", body: map[string]any{"chat_id": g.ID}, check: func(t *testing.T, raw json.RawMessage) {
			if string(raw) != "2" {
				t.Fatalf("count = %s", raw)
			}
		}},
		{name: "getChatMember bot", method: "getChatMember", body: map[string]any{"chat_id": g.ID, "user_id": b.ID}, check: func(t *testing.T, raw json.RawMessage) {
			if !strings.Contains(string(raw), `"status":"administrator"`) || !strings.Contains(string(raw), `"can_manage_topics":true`) {
				t.Fatalf("member = %s", raw)
			}
		}},
		{name: "deleteForumTopic", method: "deleteForumTopic", body: map[string]any{"chat_id": g.ID, "message_thread_id": topic.MessageThreadID}, check: func(t *testing.T, raw json.RawMessage) {
			if tps := e.s.Topics(g.ID); len(tps) != 1 || !tps[0].Deleted {
				t.Fatalf("topics = %+v", tps)
			}
		}},
		{name: "deleteWebhook without one", method: "deleteWebhook", check: func(t *testing.T, raw json.RawMessage) {
			if string(raw) != "true" {
				t.Fatalf("deleteWebhook = %s", raw)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.call(b.Token, tc.method, tc.body)
			e.ok(r, nil)
			tc.check(t, r.Result)
		})
	}
	e.t = t
	// Declined join requests leave the user outside.
	var link tgChatInviteLink
	e.ok(e.call(b.Token, "createChatInviteLink", map[string]any{"chat_id": g.ID, "creates_join_request": true}), &link)
	guest := e.s.CreateUser("Guest", "")
	if _, err := e.s.JoinChat(guest.ID, link.InviteLink); err != nil {
		t.Fatal(err)
	}
	e.ok(e.call(b.Token, "declineChatJoinRequest", map[string]any{"chat_id": g.ID, "user_id": guest.ID}), nil)
	var m tgChatMember
	e.ok(e.call(b.Token, "getChatMember", map[string]any{"chat_id": g.ID, "user_id": guest.ID}), &m)
	if m.Status != "left" {
		t.Fatalf("declined guest = %+v", m)
	}
	e.fails(e.call(b.Token, "banChatMember", map[string]any{"chat_id": g.ID, "user_id": agent.ID}), 400, "Bad Request: can't remove chat owner")
}

func TestConcurrentGetUpdatesConflict(t *testing.T) {
	e := newEnv(t, nil)
	b, _ := e.started()
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": 2}), nil)
	done := make(chan apiResp, 1)
	go func() {
		resp, err := http.Post(e.ts.URL+"/bot"+b.Token+"/getUpdates", "application/json", strings.NewReader(`{"offset":2,"timeout":30}`))
		if err != nil {
			done <- apiResp{}
			return
		}
		defer resp.Body.Close()
		var r apiResp
		_ = json.NewDecoder(resp.Body).Decode(&r)
		r.status = resp.StatusCode
		done <- r
	}()
	eventually(t, "first poller waiting", func() bool { return e.s.CallCount(b.ID, "getUpdates") == 2 })
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": 2}), nil)
	r := <-done
	if r.ErrorCode != 409 || r.Description != "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running" {
		t.Fatalf("older poll = %+v", r)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New(Options{})
	b := s.CreateBot("g_bot", "G")
	u := s.CreateUser("U", "")
	_, _ = s.SendCommand(u.ID, b.ID, "start", "")
	h := newHook(t)
	h.status = func(int) int { return http.StatusServiceUnavailable }
	s.mu.Lock()
	s.startWebhookLocked(s.st.bots[b.ID], &webhookState{url: h.srv.URL, maxConn: 40})
	s.mu.Unlock()
	eventually(t, "delivery attempted", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls > 0 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	h.srv.CloseClientConnections()
	eventually(t, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before+3 })
}
