package telegram

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Inbound is one update as a feature handler sees it, with the recorded
// contact and binding and ways to answer.
type Inbound struct {
	TenantID  uuid.UUID
	BotID     int64
	ChatID    int64
	ChatType  string // private, group, supergroup, channel ("" if none)
	ThreadID  int    // forum topic of the message, 0 if none
	UpdateID  int64
	Kind      string
	From      *User
	ContactID uuid.UUID // uuid.Nil when the update has no human sender
	Lang      string    // the contact's language ("" if unknown)
	Binding   *Binding  // the group's binding (groups only; nil if none)

	Update   *Update
	Raw      json.RawMessage
	Message  *Message // message or edited message (Edited tells which)
	Edited   bool
	Callback *CallbackQuery
	Text     string // message text or caption
	Command  string // lower-case command name without "/" ("" if not a command)
	Payload  string // the text after the command

	p     *Processor
	sends int
}

func newInbound(p *Processor, m mailbox, u *Update, raw json.RawMessage, rec recorded) *Inbound {
	in := &Inbound{TenantID: m.TenantID, BotID: m.BotID, ChatID: m.ChatID, UpdateID: u.UpdateID, Kind: u.Kind(),
		From: u.From(), ContactID: rec.contactID, Lang: rec.lang, Binding: rec.binding, Update: u, Raw: raw, p: p}
	if c := u.chat(); c != nil {
		in.ChatType = c.Type
	}
	switch {
	case u.Message != nil:
		in.Message = u.Message
	case u.EditedMessage != nil:
		in.Message, in.Edited = u.EditedMessage, true
	case u.CallbackQuery != nil:
		in.Callback = u.CallbackQuery
		if u.CallbackQuery.Message == nil {
			in.ChatType = "private"
		}
	}
	if in.Message != nil {
		in.Text = in.Message.Text
		if in.Text == "" {
			in.Text = in.Message.Caption
		}
		if in.Message.IsTopicMessage {
			in.ThreadID = in.Message.MessageThreadID
		}
		if !in.Edited {
			in.Command, in.Payload = ParseCommand(in.Message.Text)
		}
	}
	return in
}

// Private reports whether the update comes from a private chat.
func (in *Inbound) Private() bool { return in.ChatType == "private" }

// T returns a tenant text in the contact's language.
// The sender's first name is always available as {first_name}.
func (in *Inbound) T(ctx context.Context, key string, vars map[string]string) string {
	if _, given := vars["first_name"]; !given && in.From != nil {
		withName := make(map[string]string, len(vars)+1)
		for k, v := range vars {
			withName[k] = v
		}
		withName["first_name"] = in.From.FirstName
		vars = withName
	}
	return in.p.texts.Text(ctx, in.TenantID, key, in.Lang, vars)
}

// Send queues a Bot API call to this chat through the outbox. params is
// the request body; chat_id (and the topic's message_thread_id) are filled
// in. Each send of one update gets a stable idempotency key, so handling an
// update again (at-least-once) does not send twice.
func (in *Inbound) Send(ctx context.Context, method string, params map[string]any) error {
	// The outbox takes the destination apart from the parameters.
	chatID, threadID := in.ChatID, in.ThreadID
	body := make(map[string]any, len(params))
	for k, v := range params {
		switch k {
		case "chat_id":
			if id, ok := v.(int64); ok {
				chatID = id
			}
		case "message_thread_id":
			if id, ok := v.(int); ok {
				threadID = id
			}
		default:
			body[k] = v
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("telegram: send %s: %w", method, err)
	}
	in.sends++
	_, err = in.p.sender.Enqueue(ctx, outbox.Message{
		TenantID: in.TenantID, BotID: in.BotID, ChatID: chatID, ThreadID: threadID, Method: method, Params: raw,
		Priority: outbox.Live, Kind: "reply", Ref: fmt.Sprintf("update:%d:%d", in.BotID, in.UpdateID),
		IdempotencyKey: fmt.Sprintf("tg:%d:%d:%d", in.BotID, in.UpdateID, in.sends),
	})
	return err
}

// Reply sends text to the chat; markup (may be nil) is a reply_markup.
func (in *Inbound) Reply(ctx context.Context, text string, markup any) error {
	params := map[string]any{"text": text}
	if markup != nil {
		params["reply_markup"] = markup
	}
	return in.Send(ctx, "sendMessage", params)
}

// ReplyText sends a tenant text in the contact's language.
func (in *Inbound) ReplyText(ctx context.Context, key string, vars map[string]string) error {
	return in.Reply(ctx, in.T(ctx, key, vars), nil)
}

// AnswerCallback stops the button's spinner (text may be empty).
func (in *Inbound) AnswerCallback(ctx context.Context, text string) error {
	if in.Callback == nil {
		return nil
	}
	params := map[string]any{"callback_query_id": in.Callback.ID}
	if text != "" {
		params["text"] = text
	}
	// Not through Send: answerCallbackQuery takes no chat_id.
	raw, _ := json.Marshal(params)
	in.sends++
	_, err := in.p.sender.Enqueue(ctx, outbox.Message{
		TenantID: in.TenantID, BotID: in.BotID, ChatID: in.ChatID, Method: "answerCallbackQuery", Params: raw,
		Priority: outbox.Live, Kind: "callback_answer", Ref: fmt.Sprintf("update:%d:%d", in.BotID, in.UpdateID),
		IdempotencyKey: fmt.Sprintf("tg:%d:%d:%d", in.BotID, in.UpdateID, in.sends),
	})
	return err
}
