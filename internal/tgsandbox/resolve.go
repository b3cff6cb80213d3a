package tgsandbox

import (
	"strings"
)

// chatKind is how Telegram names a chat type in "not a member" errors.
func chatKind(c *chat) string {
	if c.Type == "supergroup" {
		return "supergroup"
	}
	return "group"
}

// chatForBotLocked resolves a chat_id as the bot sees it and checks that the
// bot may act in it: started private chat, not blocked, still a member.
func (s *Server) chatForBotLocked(b *bot, ref chatRef) (*chat, error) {
	if ref.username != "" {
		for _, c := range s.st.groups {
			if c.Username != "" && strings.EqualFold(c.Username, ref.username) {
				return c, s.checkBotInGroupLocked(b, c)
			}
		}
		return nil, errChatNotFound()
	}
	if ref.id > 0 {
		u := s.st.users[ref.id]
		if u == nil {
			return nil, errChatNotFound()
		}
		if u.blocked[b.ID] {
			return nil, errBlocked()
		}
		c := s.st.privates[privKey{b.ID, ref.id}]
		if c == nil {
			return nil, errCantInitiate()
		}
		return c, nil
	}
	c := s.st.groups[ref.id]
	if c == nil {
		return nil, errChatNotFound()
	}
	if c.migrateTo != 0 {
		e := badRequest("group chat was upgraded to a supergroup chat")
		e.MigrateTo = c.migrateTo
		return nil, e
	}
	return c, s.checkBotInGroupLocked(b, c)
}

func (s *Server) checkBotInGroupLocked(b *bot, c *chat) error {
	m := c.bots[b.ID]
	switch {
	case m == nil:
		return errChatNotFound()
	case m.status == "kicked":
		return forbidden("bot was kicked from the " + chatKind(c) + " chat")
	case m.status == "left":
		return forbidden("bot is not a member of the " + chatKind(c) + " chat")
	}
	return nil
}

// chatParamLocked resolves the chat named by a parameter.
func (s *Server) chatParamLocked(b *bot, p *params, key string) (*chat, error) {
	ref, err := p.Chat(key)
	if err != nil {
		return nil, err
	}
	return s.chatForBotLocked(b, ref)
}

// botRightsLocked returns the bot's admin rights in a chat, nil if it is not an admin.
func botRightsLocked(c *chat, botID int64) *Rights {
	if m := c.bots[botID]; m != nil && (m.status == "administrator" || m.status == "creator") {
		return m.rights
	}
	return nil
}

// groupChatLocked returns a group by id for the control API, following migrations.
func (s *Server) groupLocked(id int64) *chat {
	c := s.st.groups[id]
	for c != nil && c.migrateTo != 0 {
		c = s.st.groups[c.migrateTo]
	}
	return c
}

func (c *chat) activeBots() []int64 {
	var ids []int64
	for id, m := range c.bots {
		if m.status != "left" && m.status != "kicked" {
			ids = append(ids, id)
		}
	}
	sortBy(ids, func(v int64) int64 { return v })
	return ids
}

func (c *chat) isUserMember(id int64) bool {
	m := c.users[id]
	return m != nil && m.status != "left" && m.status != "kicked"
}
