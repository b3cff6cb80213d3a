package tgsandbox

import (
	"fmt"
)

func newGroupChat(id int64, typ, title string, forum bool) *chat {
	return &chat{Chat: Chat{ID: id, Type: typ, Title: title, IsForum: forum},
		users: map[int64]*member{}, bots: map[int64]*member{}, byID: map[int64]*message{}, topics: map[int64]*topic{}}
}

// CreateGroup creates a basic group; the first member is its creator.
func (s *Server) CreateGroup(title string, memberIDs ...int64) Chat {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.nextGroup++
	return s.addGroupLocked(newGroupChat(-s.st.nextGroup, "group", title, false), memberIDs)
}

// CreateSupergroup creates a supergroup (id -100...) without topics.
func (s *Server) CreateSupergroup(title string, memberIDs ...int64) Chat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addGroupLocked(newGroupChat(s.nextSupergroupIDLocked(), "supergroup", title, false), memberIDs)
}

// CreateForumSupergroup creates a supergroup with topics enabled, like a
// helpdesk staff group.
func (s *Server) CreateForumSupergroup(title string, memberIDs ...int64) Chat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addGroupLocked(newGroupChat(s.nextSupergroupIDLocked(), "supergroup", title, true), memberIDs)
}

func (s *Server) nextSupergroupIDLocked() int64 {
	s.st.nextSuper++
	return -(1000000000000 + s.st.nextSuper)
}

func (s *Server) addGroupLocked(c *chat, memberIDs []int64) Chat {
	for i, id := range memberIDs {
		st := "member"
		if i == 0 {
			st, c.creator = "creator", id
		}
		c.users[id] = &member{status: st}
	}
	s.st.groups[c.ID] = c
	return c.Chat
}

// SetChatUsername makes a group public so bots can address it as "@username".
func (s *Server) SetChatUsername(chatID int64, username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.groups[chatID]
	if c == nil {
		return fmt.Errorf("tgsandbox: set username: chat %d not found", chatID)
	}
	c.Username = username
	return nil
}

// actorLocked is the user credited with administrative changes: the creator.
func (s *Server) actorLocked(c *chat) tgUser {
	if u := s.st.users[c.creator]; u != nil {
		return u.tg()
	}
	return tgUser{ID: 777000, FirstName: "Telegram"}
}

// AddBotToChat adds a bot to a group, as an administrator when rights is
// non-nil. The bot receives my_chat_member and the new_chat_members message.
func (s *Server) AddBotToChat(botID, chatID int64, rights *Rights) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, c := s.st.bots[botID], s.groupLocked(chatID)
	if b == nil || c == nil {
		return fmt.Errorf("tgsandbox: add bot: bot %d or chat %d not found", botID, chatID)
	}
	old := c.bots[botID]
	if old != nil && old.status != "left" && old.status != "kicked" {
		return s.setRightsLocked(b, c, rights)
	}
	cur := &member{status: "member"}
	if rights != nil {
		r := *rights
		cur = &member{status: "administrator", rights: &r}
	}
	c.bots[botID] = cur
	actor := s.actorLocked(c)
	s.emitLocked(b, "my_chat_member", s.memberUpdate(c.tg(), actor, b.tg(), old, cur))
	bt := b.tg()
	bt.CanJoinGroups, bt.CanReadAllGroupMessages, bt.SupportsInlineQueries = nil, nil, nil
	s.postServiceLocked(c, 0, actor.ID, 0, tgMessage{NewChatMembers: []tgUser{bt}})
	return nil
}

// SetBotRights changes a bot's administrator rights; nil demotes it to a
// plain member. The bot receives my_chat_member.
func (s *Server) SetBotRights(botID, chatID int64, rights *Rights) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, c := s.st.bots[botID], s.groupLocked(chatID)
	if b == nil || c == nil {
		return fmt.Errorf("tgsandbox: set rights: bot %d or chat %d not found", botID, chatID)
	}
	return s.setRightsLocked(b, c, rights)
}

func (s *Server) setRightsLocked(b *bot, c *chat, rights *Rights) error {
	old := c.bots[b.ID]
	if old == nil || old.status == "left" || old.status == "kicked" {
		return fmt.Errorf("tgsandbox: set rights: bot %d is not in chat %d", b.ID, c.ID)
	}
	cur := &member{status: "member"}
	if rights != nil {
		r := *rights
		cur = &member{status: "administrator", rights: &r}
	}
	c.bots[b.ID] = cur
	s.emitLocked(b, "my_chat_member", s.memberUpdate(c.tg(), s.actorLocked(c), b.tg(), old, cur))
	return nil
}

// RemoveBotFromChat kicks a bot out of a group; it receives my_chat_member
// and then answers "Forbidden: bot was kicked from the ... chat".
func (s *Server) RemoveBotFromChat(botID, chatID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, c := s.st.bots[botID], s.groupLocked(chatID)
	if b == nil || c == nil || c.bots[botID] == nil {
		return fmt.Errorf("tgsandbox: remove bot: bot %d not in chat %d", botID, chatID)
	}
	old := c.bots[botID]
	cur := &member{status: "kicked"}
	c.bots[botID] = cur
	actor := s.actorLocked(c)
	s.emitLocked(b, "my_chat_member", s.memberUpdate(c.tg(), actor, b.tg(), old, cur))
	bt := b.tg()
	bt.CanJoinGroups, bt.CanReadAllGroupMessages, bt.SupportsInlineQueries = nil, nil, nil
	s.postServiceLocked(c, 0, actor.ID, 0, tgMessage{LeftChatMember: &bt})
	return nil
}

// MigrateToSupergroup upgrades a basic group. The old chat gets a
// migrate_to_chat_id message, the new one migrate_from_chat_id; bots move
// along and sending to the old id answers 400 with migrate_to_chat_id.
func (s *Server) MigrateToSupergroup(chatID int64) (Chat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.st.groups[chatID]
	if old == nil || old.Type != "group" || old.migrateTo != 0 {
		return Chat{}, fmt.Errorf("tgsandbox: migrate: %d is not a basic group", chatID)
	}
	nc := newGroupChat(s.nextSupergroupIDLocked(), "supergroup", old.Title, false)
	nc.creator = old.creator
	for id, m := range old.users {
		cp := *m
		nc.users[id] = &cp
	}
	for id, m := range old.bots {
		cp := *m
		nc.bots[id] = &cp
	}
	s.st.groups[nc.ID] = nc
	actor := s.actorLocked(old)
	s.postServiceLocked(old, 0, actor.ID, 0, tgMessage{MigrateToChatID: nc.ID})
	old.migrateTo = nc.ID
	s.postServiceLocked(nc, 0, actor.ID, 0, tgMessage{MigrateFromChatID: old.ID})
	return nc.Chat, nil
}
