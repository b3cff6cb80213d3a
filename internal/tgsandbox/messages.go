package tgsandbox

import (
	"encoding/json"
	"unicode/utf8"
)

const (
	maxTextLen    = 4096
	maxCaptionLen = 1024
)

// textLen counts characters the way the sandbox enforces Telegram's limits:
// Unicode code points after entity parsing.
func textLen(s string) int { return utf8.RuneCountInString(s) }

// addMessageLocked appends a message to a chat and assigns its id and date.
func (s *Server) addMessageLocked(c *chat, m *message) *message {
	c.nextMsg++
	m.chat = c
	m.tg.MessageID = c.nextMsg
	m.tg.Date = s.clock.Now().Unix()
	m.tg.Chat = c.tg()
	if c.Type == "private" {
		if u := s.st.users[c.ID]; u != nil {
			m.tg.Chat.FirstName, m.tg.Chat.LastName, m.tg.Chat.Username = u.FirstName, u.LastName, u.Username
		}
	}
	if m.senderBot != 0 {
		if b := s.st.bots[m.senderBot]; b != nil {
			t := b.tg()
			t.CanJoinGroups, t.CanReadAllGroupMessages, t.SupportsInlineQueries = nil, nil, nil
			m.tg.From = &t
		}
	} else if u := s.st.users[m.senderUser]; u != nil {
		t := u.tg()
		m.tg.From = &t
	}
	if c.IsForum && m.tg.MessageThreadID != 0 {
		m.tg.IsTopicMessage = true
	}
	c.messages = append(c.messages, m)
	c.byID[m.tg.MessageID] = m
	return m
}

// renderLocked returns the Telegram object of a message with reply_to_message
// filled in one level deep. In forum topics a message that replies to nothing
// carries the topic's creation message, as Telegram sends it.
func (s *Server) renderLocked(m *message) tgMessage {
	out := m.tg
	replyTo := m.replyTo
	if replyTo == 0 && m.tg.IsTopicMessage && m.tg.ForumTopicCreated == nil {
		replyTo = m.tg.MessageThreadID
	}
	if r := m.chat.byID[replyTo]; r != nil && !r.deleted && replyTo != m.tg.MessageID {
		rr := r.tg
		rr.ReplyToMessage = nil
		out.ReplyToMessage = &rr
	}
	return out
}

// announceLocked emits a new message to the bots that see it: the bot of a
// private chat when a user writes, every member bot of a group when a user
// writes or a service message appears. Bots never see other bots' messages.
func (s *Server) announceLocked(m *message, kind string) {
	if m.senderBot != 0 {
		return
	}
	payload := s.renderLocked(m)
	if m.chat.Type == "private" {
		s.emitLocked(s.st.bots[m.chat.bot], kind, payload)
		return
	}
	for _, id := range m.chat.activeBots() {
		s.emitLocked(s.st.bots[id], kind, payload)
	}
}

// postServiceLocked adds a service message caused by actor (a bot id, or a
// user id when fromUser) and announces it to the other bots in the chat.
func (s *Server) postServiceLocked(c *chat, actorBot, actorUser, thread int64, tg tgMessage) *message {
	tg.MessageThreadID = thread
	m := s.addMessageLocked(c, &message{tg: tg, senderBot: actorBot, senderUser: actorUser})
	if actorBot != 0 {
		// Service messages a bot caused reach the other bots of the chat.
		payload := s.renderLocked(m)
		for _, id := range c.activeBots() {
			if id != actorBot {
				s.emitLocked(s.st.bots[id], "message", payload)
			}
		}
		return m
	}
	s.announceLocked(m, "message")
	return m
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	out, _ := json.Marshal(v)
	return out
}
