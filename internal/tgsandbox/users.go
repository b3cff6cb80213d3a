package tgsandbox

import (
	"encoding/json"
	"fmt"
	"strings"
)

// UserMessage is a message a user sends. ChatID is a bot's id for the private
// chat with that bot, or a group id. Exactly one kind of content is expected.
type UserMessage struct {
	UserID   int64           `json:"user_id"`
	ChatID   int64           `json:"chat_id"`
	ThreadID int64           `json:"message_thread_id,omitempty"`
	ReplyTo  int64           `json:"reply_to_message_id,omitempty"`
	Text     string          `json:"text,omitempty"`
	Entities json.RawMessage `json:"entities,omitempty"`
	Caption  string          `json:"caption,omitempty"`
	// Contact shares a phone number; with ContactUserID 0 it is the sender's own.
	ContactPhone string   `json:"contact_phone,omitempty"`
	Location     *LatLon  `json:"location,omitempty"`
	Media        *Media   `json:"media,omitempty"`
	Album        []*Media `json:"-"`
}

// LatLon is a shared location.
type LatLon struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// Media is an attachment a user sends. Kind is photo, video, voice,
// document or sticker; stickers need only Emoji.
type Media struct {
	Kind     string `json:"kind"`
	FileName string `json:"file_name,omitempty"`
	MIMEType string `json:"mime_type,omitempty"`
	Data     []byte `json:"data,omitempty"`
	Emoji    string `json:"emoji,omitempty"`
	Caption  string `json:"caption,omitempty"`
}

// Send delivers a user's message and emits the update to the bots that see it.
func (s *Server) Send(um UserMessage) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.sendAsUserLocked(um, "")
	if err != nil {
		return Sent{}, err
	}
	return Sent{ChatID: m.chat.ID, MessageID: m.tg.MessageID, ThreadID: m.tg.MessageThreadID}, nil
}

// SendText sends plain text from a user to a bot (chatID = bot id) or a group.
func (s *Server) SendText(userID, chatID int64, text string) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, Text: text})
}

// Reply sends text as a reply to a message of the same chat.
func (s *Server) Reply(userID, chatID, replyTo int64, text string) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, ReplyTo: replyTo, Text: text})
}

// SendCommand sends "/command payload", what a t.me/bot?start=payload deep link produces.
func (s *Server) SendCommand(userID, chatID int64, command, payload string) (Sent, error) {
	text := "/" + strings.TrimPrefix(command, "/")
	if payload != "" {
		text += " " + payload
	}
	return s.SendText(userID, chatID, text)
}

// SendContact shares the user's own phone number, as a request_contact button does.
func (s *Server) SendContact(userID, chatID int64, phone string) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, ContactPhone: phone})
}

// SendLocation shares a location.
func (s *Server) SendLocation(userID, chatID int64, lat, lon float64) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, Location: &LatLon{lat, lon}})
}

// SendPhoto sends an image; data may be any bytes (JPEG/PNG sizes are read).
func (s *Server) SendPhoto(userID, chatID int64, data []byte, caption string) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, Media: &Media{Kind: "photo", Data: data, Caption: caption}})
}

// SendDocument sends a file.
func (s *Server) SendDocument(userID, chatID int64, fileName string, data []byte, caption string) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, Media: &Media{Kind: "document", FileName: fileName, Data: data, Caption: caption}})
}

// SendVideo sends a video.
func (s *Server) SendVideo(userID, chatID int64, data []byte, caption string) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, Media: &Media{Kind: "video", Data: data, Caption: caption}})
}

// SendVoice sends a voice note.
func (s *Server) SendVoice(userID, chatID int64, data []byte) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, Media: &Media{Kind: "voice", Data: data}})
}

// SendSticker sends a sticker showing emoji.
func (s *Server) SendSticker(userID, chatID int64, emoji string) (Sent, error) {
	return s.Send(UserMessage{UserID: userID, ChatID: chatID, Media: &Media{Kind: "sticker", Emoji: emoji}})
}

// SendAlbum sends 2..10 photos/videos/documents as one media group; each is
// its own message and update, sharing a media_group_id.
func (s *Server) SendAlbum(userID, chatID int64, items []*Media) ([]Sent, error) {
	if len(items) < 2 || len(items) > 10 {
		return nil, fmt.Errorf("tgsandbox: send album: need 2..10 items, got %d", len(items))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	group := s.newMediaGroupIDLocked()
	out := make([]Sent, 0, len(items))
	for _, it := range items {
		m, err := s.sendAsUserLocked(UserMessage{UserID: userID, ChatID: chatID, Media: it}, group)
		if err != nil {
			return out, err
		}
		out = append(out, Sent{ChatID: m.chat.ID, MessageID: m.tg.MessageID, ThreadID: m.tg.MessageThreadID})
	}
	return out, nil
}

// userChatLocked resolves where a user writes: the private chat with a bot
// (created on first contact, unblocking a blocked bot) or a group they are in.
func (s *Server) userChatLocked(u *user, chatID int64) (*chat, error) {
	if chatID > 0 {
		b := s.st.bots[chatID]
		if b == nil {
			return nil, fmt.Errorf("tgsandbox: bot %d not found", chatID)
		}
		key := privKey{b.ID, u.ID}
		c := s.st.privates[key]
		if c == nil {
			c = &chat{Chat: Chat{ID: u.ID, Type: "private"}, bot: b.ID, byID: map[int64]*message{}, users: map[int64]*member{}, bots: map[int64]*member{}}
			s.st.privates[key] = c
		}
		if u.blocked[b.ID] {
			// Pressing "Restart" unblocks the bot before the message goes out.
			s.setBlockedLocked(u, b, false)
		}
		return c, nil
	}
	c := s.st.groups[chatID]
	if c == nil {
		return nil, fmt.Errorf("tgsandbox: chat %d not found", chatID)
	}
	if c.migrateTo != 0 {
		return nil, fmt.Errorf("tgsandbox: chat %d was migrated to %d", chatID, c.migrateTo)
	}
	if !c.isUserMember(u.ID) {
		return nil, fmt.Errorf("tgsandbox: user %d is not a member of chat %d", u.ID, chatID)
	}
	return c, nil
}

func (s *Server) sendAsUserLocked(um UserMessage, mediaGroup string) (*message, error) {
	u := s.st.users[um.UserID]
	if u == nil {
		return nil, fmt.Errorf("tgsandbox: user %d not found", um.UserID)
	}
	c, err := s.userChatLocked(u, um.ChatID)
	if err != nil {
		return nil, err
	}
	tg := tgMessage{Text: um.Text, Entities: um.Entities, Caption: um.Caption, MediaGroupID: mediaGroup}
	if tg.Text != "" && tg.Entities == nil {
		tg.Entities = commandEntity(tg.Text)
	}
	switch {
	case um.ContactPhone != "":
		tg.Contact = &tgContact{PhoneNumber: um.ContactPhone, FirstName: u.FirstName, LastName: u.LastName, UserID: u.ID}
	case um.Location != nil:
		tg.Location = &tgLocation{Latitude: um.Location.Latitude, Longitude: um.Location.Longitude}
	case um.Media != nil:
		if um.Media.Caption != "" {
			tg.Caption = um.Media.Caption
		}
		if err := s.attachMediaLocked(&tg, um.Media); err != nil {
			return nil, err
		}
	case strings.TrimSpace(um.Text) == "":
		return nil, fmt.Errorf("tgsandbox: send: message has no content")
	}
	thread := um.ThreadID
	if c.IsForum && thread > 1 {
		t := c.topics[thread]
		if t == nil || t.deleted {
			return nil, fmt.Errorf("tgsandbox: send: topic %d not found", thread)
		}
	} else {
		thread = 0
	}
	if um.ReplyTo != 0 {
		r := c.byID[um.ReplyTo]
		if r == nil || r.deleted {
			return nil, fmt.Errorf("tgsandbox: send: message %d to reply to not found", um.ReplyTo)
		}
		if thread == 0 && c.IsForum {
			thread = r.tg.MessageThreadID
		}
	}
	tg.MessageThreadID = thread
	m := s.addMessageLocked(c, &message{tg: tg, senderUser: u.ID, replyTo: um.ReplyTo})
	s.announceLocked(m, "message")
	return m, nil
}

// commandEntity marks a leading /command the way Telegram's clients do.
func commandEntity(text string) json.RawMessage {
	if !strings.HasPrefix(text, "/") || len(text) < 2 {
		return nil
	}
	end := strings.IndexAny(text, " \n")
	if end < 0 {
		end = len(text)
	}
	raw, _ := json.Marshal([]entity{{Type: "bot_command", Offset: 0, Length: utf16Len(text[:end])}})
	return raw
}

// EditMessage changes the text (or caption) of a user's message and emits edited_message.
func (s *Server) EditMessage(userID, chatID, messageID int64, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[userID]
	if u == nil {
		return fmt.Errorf("tgsandbox: edit: user %d not found", userID)
	}
	c, err := s.userChatLocked(u, chatID)
	if err != nil {
		return err
	}
	m := c.byID[messageID]
	if m == nil || m.deleted || m.senderUser != userID {
		return fmt.Errorf("tgsandbox: edit: message %d of user %d not found in chat %d", messageID, userID, chatID)
	}
	m.history = append(m.history, m.tg)
	if m.tg.Text != "" {
		m.tg.Text, m.tg.Entities = text, commandEntity(text)
	} else {
		m.tg.Caption = text
	}
	m.tg.EditDate = s.clock.Now().Unix()
	s.announceLocked(m, "edited_message")
	return nil
}

// DeleteMessageAsUser deletes a user's own message; bots are not told, as in Telegram.
func (s *Server) DeleteMessageAsUser(userID, chatID, messageID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[userID]
	if u == nil {
		return fmt.Errorf("tgsandbox: delete: user %d not found", userID)
	}
	c, err := s.userChatLocked(u, chatID)
	if err != nil {
		return err
	}
	m := c.byID[messageID]
	if m == nil || m.deleted {
		return fmt.Errorf("tgsandbox: delete: message %d not found", messageID)
	}
	m.deleted = true
	return nil
}

// BlockBot makes a user block a bot: sends to them fail with 403 and the bot
// receives my_chat_member (member -> kicked).
func (s *Server) BlockBot(userID, botID int64) error { return s.setBlocked(userID, botID, true) }

// UnblockBot undoes BlockBot and tells the bot (kicked -> member).
func (s *Server) UnblockBot(userID, botID int64) error { return s.setBlocked(userID, botID, false) }

func (s *Server) setBlocked(userID, botID int64, blocked bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, b := s.st.users[userID], s.st.bots[botID]
	if u == nil || b == nil {
		return fmt.Errorf("tgsandbox: block: user %d or bot %d not found", userID, botID)
	}
	if u.blocked[botID] == blocked {
		return nil
	}
	s.setBlockedLocked(u, b, blocked)
	return nil
}

func (s *Server) setBlockedLocked(u *user, b *bot, blocked bool) {
	u.blocked[b.ID] = blocked
	oldS, newS := "member", "kicked"
	if !blocked {
		oldS, newS = newS, oldS
	}
	c := tgChat{ID: u.ID, Type: "private", FirstName: u.FirstName, LastName: u.LastName, Username: u.Username}
	s.emitLocked(b, "my_chat_member", s.memberUpdate(c, u.tg(), b.tg(), &member{status: oldS}, &member{status: newS}))
}

func (s *Server) memberUpdate(c tgChat, from, subject tgUser, old, cur *member) tgChatMemberUpdated {
	return tgChatMemberUpdated{Chat: c, From: from, Date: s.clock.Now().Unix(),
		OldChatMember: renderMember(subject, old), NewChatMember: renderMember(subject, cur)}
}

// renderMember builds a ChatMember of the right status-specific shape.
func renderMember(u tgUser, m *member) tgChatMember {
	u.CanJoinGroups, u.CanReadAllGroupMessages, u.SupportsInlineQueries = nil, nil, nil
	if m == nil {
		return tgChatMember{Status: "left", User: u}
	}
	out := tgChatMember{Status: m.status, User: u}
	f := false
	switch m.status {
	case "administrator":
		t := false
		out.CanBeEdited, out.IsAnonymous = &t, &f
		r := Rights{}
		if m.rights != nil {
			r = *m.rights
		}
		out.Rights = &r
	case "creator":
		out.IsAnonymous = &f
	case "kicked":
		until := m.untilDate
		out.UntilDate = &until
	}
	return out
}
