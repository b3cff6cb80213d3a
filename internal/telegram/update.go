// Package telegram takes Telegram updates in and hands them to features in
// order (DESIGN.md invariants 2 and 3): the webhook router checks the
// secret, drops duplicates and puts each update into a per-chat mailbox in
// Redis; the drain task handles one chat's mailbox at a time under a lock,
// records contacts, bot chats, events and chat bindings, and dispatches to
// features (dialog → command → button → fallback, DESIGN.md 4a). Replies
// leave through the Sender (the outbox).
package telegram

import (
	"encoding/json"
	"strings"
)

// The Bot API types this package reads. Only the fields the platform uses
// are decoded; features needing more read Inbound.Raw.

// User is a Telegram user or bot.
type User struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

// Chat is a private chat, group, supergroup or channel.
type Chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	IsForum   bool   `json:"is_forum,omitempty"`
}

// Contact is a shared phone contact.
type Contact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	UserID      int64  `json:"user_id,omitempty"`
}

// Message is a message or an edited message.
type Message struct {
	MessageID         int64    `json:"message_id"`
	MessageThreadID   int      `json:"message_thread_id,omitempty"`
	IsTopicMessage    bool     `json:"is_topic_message,omitempty"`
	From              *User    `json:"from,omitempty"`
	Chat              Chat     `json:"chat"`
	Date              int64    `json:"date"`
	Text              string   `json:"text,omitempty"`
	Caption           string   `json:"caption,omitempty"`
	Contact           *Contact `json:"contact,omitempty"`
	MigrateToChatID   int64    `json:"migrate_to_chat_id,omitempty"`
	MigrateFromChatID int64    `json:"migrate_from_chat_id,omitempty"`
	ReplyToMessage    *struct {
		MessageID int64 `json:"message_id"`
	} `json:"reply_to_message,omitempty"`
}

// CallbackQuery is a button press.
type CallbackQuery struct {
	ID              string   `json:"id"`
	From            User     `json:"from"`
	Message         *Message `json:"message,omitempty"`
	InlineMessageID string   `json:"inline_message_id,omitempty"`
	Data            string   `json:"data,omitempty"`
}

// ChatMember is one side of a membership change. Raw keeps the whole
// object (rights and restrictions vary by status).
type ChatMember struct {
	Status string          `json:"status"`
	User   User            `json:"user"`
	Raw    json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw object beside the decoded fields.
func (m *ChatMember) UnmarshalJSON(b []byte) error {
	type plain ChatMember
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = ChatMember(p)
	m.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// ChatMemberUpdated is a membership change (my_chat_member, chat_member).
type ChatMemberUpdated struct {
	Chat          Chat       `json:"chat"`
	From          User       `json:"from"`
	Date          int64      `json:"date"`
	OldChatMember ChatMember `json:"old_chat_member"`
	NewChatMember ChatMember `json:"new_chat_member"`
}

// ChatJoinRequest asks to join a chat.
type ChatJoinRequest struct {
	Chat       Chat  `json:"chat"`
	From       User  `json:"from"`
	UserChatID int64 `json:"user_chat_id"`
	Date       int64 `json:"date"`
}

// Update is one Telegram update.
type Update struct {
	UpdateID        int64              `json:"update_id"`
	Message         *Message           `json:"message,omitempty"`
	EditedMessage   *Message           `json:"edited_message,omitempty"`
	CallbackQuery   *CallbackQuery     `json:"callback_query,omitempty"`
	MyChatMember    *ChatMemberUpdated `json:"my_chat_member,omitempty"`
	ChatMember      *ChatMemberUpdated `json:"chat_member,omitempty"`
	ChatJoinRequest *ChatJoinRequest   `json:"chat_join_request,omitempty"`
}

// Update kinds, as named in allowed_updates.
const (
	KindMessage         = "message"
	KindEditedMessage   = "edited_message"
	KindCallbackQuery   = "callback_query"
	KindMyChatMember    = "my_chat_member"
	KindChatMember      = "chat_member"
	KindChatJoinRequest = "chat_join_request"
)

// Kind names the update's payload ("" for kinds the platform does not ask for).
func (u *Update) Kind() string {
	switch {
	case u.Message != nil:
		return KindMessage
	case u.EditedMessage != nil:
		return KindEditedMessage
	case u.CallbackQuery != nil:
		return KindCallbackQuery
	case u.MyChatMember != nil:
		return KindMyChatMember
	case u.ChatMember != nil:
		return KindChatMember
	case u.ChatJoinRequest != nil:
		return KindChatJoinRequest
	}
	return ""
}

// ChatID is the conversation an update belongs to: its mailbox. A button
// on an inline message (no chat) belongs to the presser's private chat.
func (u *Update) ChatID() int64 {
	switch {
	case u.Message != nil:
		return u.Message.Chat.ID
	case u.EditedMessage != nil:
		return u.EditedMessage.Chat.ID
	case u.CallbackQuery != nil:
		if u.CallbackQuery.Message != nil {
			return u.CallbackQuery.Message.Chat.ID
		}
		return u.CallbackQuery.From.ID
	case u.MyChatMember != nil:
		return u.MyChatMember.Chat.ID
	case u.ChatMember != nil:
		return u.ChatMember.Chat.ID
	case u.ChatJoinRequest != nil:
		return u.ChatJoinRequest.Chat.ID
	}
	return 0
}

// chat returns the update's chat, if it has one.
func (u *Update) chat() *Chat {
	switch {
	case u.Message != nil:
		return &u.Message.Chat
	case u.EditedMessage != nil:
		return &u.EditedMessage.Chat
	case u.CallbackQuery != nil && u.CallbackQuery.Message != nil:
		return &u.CallbackQuery.Message.Chat
	case u.MyChatMember != nil:
		return &u.MyChatMember.Chat
	case u.ChatMember != nil:
		return &u.ChatMember.Chat
	case u.ChatJoinRequest != nil:
		return &u.ChatJoinRequest.Chat
	}
	return nil
}

// From is the person who caused the update.
func (u *Update) From() *User {
	switch {
	case u.Message != nil:
		return u.Message.From
	case u.EditedMessage != nil:
		return u.EditedMessage.From
	case u.CallbackQuery != nil:
		return &u.CallbackQuery.From
	case u.MyChatMember != nil:
		return &u.MyChatMember.From
	case u.ChatMember != nil:
		return &u.ChatMember.From
	case u.ChatJoinRequest != nil:
		return &u.ChatJoinRequest.From
	}
	return nil
}

// ParseCommand splits "/name@bot payload" into name and payload; name is
// "" when text is not a command.
func ParseCommand(text string) (name, payload string) {
	if !strings.HasPrefix(text, "/") || len(text) < 2 {
		return "", ""
	}
	head, rest, _ := strings.Cut(text[1:], " ")
	head, _, _ = strings.Cut(head, "@")
	for _, r := range head {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "", ""
		}
	}
	if head == "" {
		return "", ""
	}
	return strings.ToLower(head), strings.TrimSpace(rest)
}

// lang2 reduces an IETF language tag to its two-letter language.
func lang2(code string) string {
	if len(code) >= 2 {
		l := strings.ToLower(code[:2])
		if l[0] >= 'a' && l[0] <= 'z' && l[1] >= 'a' && l[1] <= 'z' {
			return l
		}
	}
	return ""
}
