package tgsandbox

import (
	"encoding/json"
	"time"
)

// Transcript returns every message of a group (by id, following migrations
// is up to the caller) or, for a user id, of every private chat that user has
// with a bot: content, service messages, edits with their history and
// deletions, in order.
func (s *Server) Transcript(chatID int64) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if chatID < 0 {
		if c := s.st.groups[chatID]; c != nil {
			return s.transcriptLocked(c)
		}
		return nil
	}
	var out []Entry
	for key, c := range s.st.privates {
		if key.user == chatID {
			out = append(out, s.transcriptLocked(c)...)
		}
	}
	sortBy(out, func(e Entry) int64 { return e.Date.UnixNano()*1000 + e.MessageID })
	return out
}

// PrivateTranscript returns the private chat between a bot and a user.
func (s *Server) PrivateTranscript(botID, userID int64) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.st.privates[privKey{botID, userID}]; c != nil {
		return s.transcriptLocked(c)
	}
	return nil
}

func (s *Server) transcriptLocked(c *chat) []Entry {
	out := make([]Entry, 0, len(c.messages))
	for _, m := range c.messages {
		e := s.entryOf(m, m.tg)
		e.Deleted = m.deleted
		for _, h := range m.history {
			e.Edits = append(e.Edits, s.entryOf(m, h))
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) entryOf(m *message, tg tgMessage) Entry {
	e := Entry{
		ChatID: m.chat.ID, BotID: m.chat.bot, MessageID: tg.MessageID, ThreadID: tg.MessageThreadID,
		Date: time.Unix(tg.Date, 0).UTC(), Text: tg.Text, Caption: tg.Caption, Service: tg.serviceKind(),
		ReplyKeyboard: m.keyboard,
	}
	if m.senderBot != 0 {
		e.SenderKind, e.SenderID = "bot", m.senderBot
	} else {
		e.SenderKind, e.SenderID = "user", m.senderUser
	}
	r := s.renderLocked(&message{tg: tg, chat: m.chat, replyTo: m.replyTo})
	e.Message, _ = json.Marshal(r)
	return e
}
