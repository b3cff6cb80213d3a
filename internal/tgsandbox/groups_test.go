package tgsandbox

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// staff returns a forum supergroup with an agent and the bot as admin with rights.
func (e *env) staff(b Bot, rights *Rights) (Chat, User) {
	e.t.Helper()
	agent := e.s.CreateUser("Agent", "agent")
	g := e.s.CreateForumSupergroup("Staff", agent.ID)
	if err := e.s.AddBotToChat(b.ID, g.ID, rights); err != nil {
		e.t.Fatal(err)
	}
	return g, agent
}

func TestForumTopicsLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("desk_bot", "Desk")
	g, agent := e.staff(b, AllRights())
	if g.ID > -1000000000000 {
		t.Fatalf("supergroup id %d is not -100...", g.ID)
	}
	var topic tgForumTopic
	e.ok(e.call(b.Token, "createForumTopic", map[string]any{"chat_id": g.ID, "name": "Ticket #1", "icon_custom_emoji_id": "5377498341074542641"}), &topic)
	if topic.MessageThreadID == 0 || topic.Name != "Ticket #1" || topic.IconColor != 0x6FB9F0 {
		t.Fatalf("topic = %+v", topic)
	}
	var m tgMessage
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": g.ID, "message_thread_id": topic.MessageThreadID, "text": "hello"}), &m)
	if m.MessageThreadID != topic.MessageThreadID || !m.IsTopicMessage || m.ReplyToMessage == nil || m.ReplyToMessage.ForumTopicCreated == nil {
		t.Fatalf("topic message = %+v", m)
	}
	tests := []struct {
		name   string
		method string
		body   map[string]any
		desc   string
	}{
		{name: "edit", method: "editForumTopic", body: map[string]any{"name": "Ticket #1 [open]"}},
		{name: "edit same", method: "editForumTopic", body: map[string]any{"name": "Ticket #1 [open]"}, desc: "Bad Request: TOPIC_NOT_MODIFIED"},
		{name: "close", method: "closeForumTopic"},
		{name: "close again", method: "closeForumTopic", desc: "Bad Request: TOPIC_NOT_MODIFIED"},
		{name: "reopen", method: "reopenForumTopic"},
		{name: "bad name", method: "createForumTopic", body: map[string]any{"name": ""}, desc: "Bad Request: TOPIC_TITLE_EMPTY"},
		{name: "bad color", method: "createForumTopic", body: map[string]any{"name": "x", "icon_color": 1}, desc: "Bad Request: TOPIC_ICON_COLOR_INVALID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			body := map[string]any{"chat_id": g.ID, "message_thread_id": topic.MessageThreadID}
			for k, v := range tc.body {
				body[k] = v
			}
			r := e.call(b.Token, tc.method, body)
			if tc.desc != "" {
				e.fails(r, 400, tc.desc)
				return
			}
			e.ok(r, nil)
		})
	}
	e.t = t
	var services []string
	for _, en := range e.s.Transcript(g.ID) {
		if en.ThreadID == topic.MessageThreadID && en.Service != "" {
			services = append(services, en.Service)
		}
	}
	want := []string{"forum_topic_created", "forum_topic_edited", "forum_topic_closed", "forum_topic_reopened"}
	if len(services) != len(want) {
		t.Fatalf("service messages = %v, want %v", services, want)
	}
	for i := range want {
		if services[i] != want[i] {
			t.Fatalf("service messages = %v, want %v", services, want)
		}
	}
	// An agent writing in the topic reaches the bot with the thread id.
	if _, err := e.s.Send(UserMessage{UserID: agent.ID, ChatID: g.ID, ThreadID: topic.MessageThreadID, Text: "on it"}); err != nil {
		t.Fatal(err)
	}
	var ups []struct {
		Message tgMessage `json:"message"`
	}
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": -1}), &ups)
	if len(ups) != 1 || ups[0].Message.MessageThreadID != topic.MessageThreadID || ups[0].Message.Text != "on it" {
		t.Fatalf("agent update = %+v", ups)
	}
	// A topic deleted by a human answers "message thread not found".
	if err := e.s.DeleteTopic(g.ID, topic.MessageThreadID); err != nil {
		t.Fatal(err)
	}
	e.fails(e.call(b.Token, "sendMessage", map[string]any{"chat_id": g.ID, "message_thread_id": topic.MessageThreadID, "text": "x"}), 400, "Bad Request: message thread not found")

	var icons []tgSticker
	e.ok(e.call(b.Token, "getForumTopicIconStickers", nil), &icons)
	seen := map[string]bool{}
	for _, ic := range icons {
		if ic.CustomEmojiID == "" {
			t.Fatalf("icon without custom_emoji_id: %+v", ic)
		}
		seen[ic.Emoji] = true
	}
	for _, em := range []string{"❗", "📝", "🏁"} {
		if !seen[em] {
			t.Fatalf("icon %s missing", em)
		}
	}
}

func TestForumRights(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("desk_bot", "Desk")
	g, _ := e.staff(b, &Rights{CanManageTopics: false})
	e.fails(e.call(b.Token, "createForumTopic", map[string]any{"chat_id": g.ID, "name": "T"}), 400, "Bad Request: not enough rights to create a topic")
	if err := e.s.SetBotRights(b.ID, g.ID, AllRights()); err != nil {
		t.Fatal(err)
	}
	var topic tgForumTopic
	e.ok(e.call(b.Token, "createForumTopic", map[string]any{"chat_id": g.ID, "name": "T"}), &topic)
	other := e.s.CreateBot("other_bot", "Other")
	if err := e.s.AddBotToChat(other.ID, g.ID, nil); err != nil {
		t.Fatal(err)
	}
	e.fails(e.call(other.Token, "closeForumTopic", map[string]any{"chat_id": g.ID, "message_thread_id": topic.MessageThreadID}), 400, "Bad Request: not enough rights to manage topics")
	plain := e.s.CreateSupergroup("Plain")
	_ = e.s.AddBotToChat(b.ID, plain.ID, AllRights())
	e.fails(e.call(b.Token, "createForumTopic", map[string]any{"chat_id": plain.ID, "name": "T"}), 400, "Bad Request: the chat is not a forum")
	// Removing the bot: my_chat_member and 403 afterwards.
	if err := e.s.RemoveBotFromChat(b.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	e.fails(e.call(b.Token, "sendMessage", map[string]any{"chat_id": g.ID, "text": "x"}), 403, "Forbidden: bot was kicked from the supergroup chat")
	e.ok(e.call(b.Token, "leaveChat", map[string]any{"chat_id": plain.ID}), nil)
	e.fails(e.call(b.Token, "sendMessage", map[string]any{"chat_id": plain.ID, "text": "x"}), 403, "Forbidden: bot is not a member of the supergroup chat")
	var ups []map[string]json.RawMessage
	e.ok(e.call(b.Token, "getUpdates", nil), &ups)
	var kinds []string
	for _, up := range ups {
		if raw, ok := up["my_chat_member"]; ok {
			var u tgChatMemberUpdated
			_ = json.Unmarshal(raw, &u)
			kinds = append(kinds, u.OldChatMember.Status+">"+u.NewChatMember.Status)
		}
	}
	want := []string{"left>administrator", "administrator>administrator", "left>administrator", "administrator>kicked", "administrator>left"}
	if len(kinds) != len(want) {
		t.Fatalf("my_chat_member transitions = %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("my_chat_member transitions = %v, want %v", kinds, want)
		}
	}
}

func TestGroupsMigrationAndMembership(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("g_bot", "G")
	owner := e.s.CreateUser("Owner", "owner")
	g := e.s.CreateGroup("Team", owner.ID)
	if g.ID >= 0 || g.ID < -1000000000000 {
		t.Fatalf("group id %d", g.ID)
	}
	if err := e.s.AddBotToChat(b.ID, g.ID, AllRights()); err != nil {
		t.Fatal(err)
	}
	var admins []tgChatMember
	e.ok(e.call(b.Token, "getChatAdministrators", map[string]any{"chat_id": g.ID}), &admins)
	if len(admins) != 2 || admins[0].Status != "creator" || admins[1].Status != "administrator" {
		t.Fatalf("admins = %+v", admins)
	}
	sg, err := e.s.MigrateToSupergroup(g.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := e.call(b.Token, "sendMessage", map[string]any{"chat_id": g.ID, "text": "x"})
	e.fails(r, 400, "Bad Request: group chat was upgraded to a supergroup chat")
	if r.Parameters == nil || r.Parameters.MigrateToChatID != sg.ID {
		t.Fatalf("parameters = %+v", r.Parameters)
	}
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": sg.ID, "text": "x"}), nil)
	if tr := e.s.Transcript(g.ID); tr[len(tr)-1].Service != "migrate_to_chat_id" {
		t.Fatalf("old chat transcript = %+v", tr)
	}

	// Invite links with approval -> chat_join_request -> approve -> chat_member (opted in).
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": -1, "allowed_updates": []string{"message", "chat_member", "chat_join_request"}}), nil)
	var link tgChatInviteLink
	e.ok(e.call(b.Token, "createChatInviteLink", map[string]any{"chat_id": sg.ID, "creates_join_request": true, "name": "vip"}), &link)
	e.fails(e.call(b.Token, "createChatInviteLink", map[string]any{"chat_id": sg.ID, "creates_join_request": true, "member_limit": 5}), 400, "Bad Request: member limit can't be specified for links requiring administrator approval")
	guest := e.s.CreateUser("Guest", "guest")
	requested, err := e.s.JoinChat(guest.ID, link.InviteLink)
	if err != nil || !requested {
		t.Fatalf("join: requested=%v err=%v", requested, err)
	}
	e.ok(e.call(b.Token, "approveChatJoinRequest", map[string]any{"chat_id": sg.ID, "user_id": guest.ID}), nil)
	e.fails(e.call(b.Token, "approveChatJoinRequest", map[string]any{"chat_id": sg.ID, "user_id": guest.ID}), 400, "Bad Request: HIDE_REQUESTER_MISSING")
	var member tgChatMember
	e.ok(e.call(b.Token, "getChatMember", map[string]any{"chat_id": sg.ID, "user_id": guest.ID}), &member)
	if member.Status != "member" {
		t.Fatalf("member = %+v", member)
	}
	e.ok(e.call(b.Token, "banChatMember", map[string]any{"chat_id": sg.ID, "user_id": guest.ID}), nil)
	e.ok(e.call(b.Token, "getChatMember", map[string]any{"chat_id": sg.ID, "user_id": guest.ID}), &member)
	if member.Status != "kicked" {
		t.Fatalf("after ban = %+v", member)
	}
	e.ok(e.call(b.Token, "unbanChatMember", map[string]any{"chat_id": sg.ID, "user_id": guest.ID, "only_if_banned": true}), nil)
	e.ok(e.call(b.Token, "getChatMember", map[string]any{"chat_id": sg.ID, "user_id": guest.ID}), &member)
	if member.Status != "left" {
		t.Fatalf("after unban = %+v", member)
	}
	var ups []map[string]json.RawMessage
	e.ok(e.call(b.Token, "getUpdates", nil), &ups)
	var got []string
	for _, up := range ups {
		for k, v := range up {
			if k == "update_id" {
				continue
			}
			if k == "message" && bytes.Contains(v, []byte("new_chat_members")) {
				k = "new_chat_members"
			}
			got = append(got, k)
		}
	}
	// The first is the update kept by offset -1; then join request, approval, ban, unban.
	want := []string{"message", "chat_join_request", "chat_member", "new_chat_members", "chat_member", "chat_member"}
	if len(got) != len(want) {
		t.Fatalf("updates = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("updates = %v, want %v", got, want)
		}
	}
	// Expired links refuse joins (injected clock).
	var short tgChatInviteLink
	e.ok(e.call(b.Token, "createChatInviteLink", map[string]any{"chat_id": sg.ID, "expire_date": e.clock.Now().Add(time.Hour).Unix(), "member_limit": 1}), &short)
	e.clock.Advance(2 * time.Hour)
	if _, err := e.s.JoinChat(e.s.CreateUser("Late", "").ID, short.InviteLink); err == nil {
		t.Fatal("joined through an expired link")
	}
}
