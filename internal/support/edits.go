package support

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

const kindEdit = "support.edit" // an edit mirrored to the other side

type storedMsg struct {
	ID             uuid.UUID
	Direction      string
	Kind           string
	UserMessageID  *int64
	StaffChatID    *int64
	StaffMessageID *int64
	ThreadID       *int
}

// messageBySource finds a stored message by the Telegram message it came
// from, locking it: an edit and the result hook that records the copy's id
// (onRelayIn, onRelayOut) take turns, so an edit that comes before the copy's
// id is known is applied by the hook (editAfterCopy) and never lost.
func messageBySource(ctx context.Context, tx pgx.Tx, source string) (*storedMsg, error) {
	var m storedMsg
	err := tx.QueryRow(ctx, `SELECT m.id, m.direction, m.kind, m.user_message_id, m.staff_chat_id, m.staff_message_id, tp.thread_id
		FROM support_messages m JOIN support_tickets t ON t.id = m.ticket_id
		LEFT JOIN support_topics tp ON tp.id = t.topic_id WHERE m.source = $1 FOR UPDATE OF m`, source).
		Scan(&m.ID, &m.Direction, &m.Kind, &m.UserMessageID, &m.StaffChatID, &m.StaffMessageID, &m.ThreadID)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: message by source: %w", err)
	}
	return &m, nil
}

// userEdit reflects a person's edit in the topic: the copy is edited when it
// was text, otherwise the new text is posted marked as edited. The ticket's
// status is not touched (an edit after resolution does not reopen it). A
// message still pending is copied later in its edited form anyway.
func (s *Service) userEdit(ctx context.Context, in *telegram.Inbound, now time.Time) error {
	source := fmt.Sprintf("tg:%d:%d:%d", in.BotID, in.ChatID, in.Message.MessageID)
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		m, err := messageBySource(ctx, tx, source)
		if err != nil || m == nil || m.Direction != "in" {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE support_messages SET text = $2, edited_at = $3 WHERE id = $1`, m.ID, in.Text, now); err != nil {
			return fmt.Errorf("store: edit: %w", err)
		}
		if m.StaffChatID == nil || m.StaffMessageID == nil || m.ThreadID == nil {
			return nil
		}
		om := outbox.Message{TenantID: in.TenantID, BotID: in.BotID, ChatID: *m.StaffChatID, Priority: outbox.Live,
			Kind: kindEdit, Ref: m.ID.String(), IdempotencyKey: fmt.Sprintf("support:edit:%s:%d", m.ID, in.UpdateID)}
		if m.Kind == "text" {
			om.Method = "editMessageText"
			om.Params = params(map[string]any{"message_id": *m.StaffMessageID, "text": in.Text})
		} else {
			om.Method, om.ThreadID = "sendMessage", *m.ThreadID
			om.Params = params(map[string]any{"text": "✏️ Edited:\n" + in.Text,
				"reply_parameters": map[string]any{"message_id": *m.StaffMessageID, "allow_sending_without_reply": true}})
		}
		_, err = s.enqueueTx(ctx, tx, om)
		return err
	})
	if err != nil {
		return fmt.Errorf("support: user edit: %w", err)
	}
	return nil
}

// staffEdit reflects an agent's edit in a topic to the person (text or
// caption of the copy); an edited note only updates the stored text.
func (s *Service) staffEdit(ctx context.Context, in *telegram.Inbound, kind string, now time.Time) error {
	source := fmt.Sprintf("tg:%d:%d:%d", in.BotID, in.ChatID, in.Message.MessageID)
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		m, err := messageBySource(ctx, tx, source)
		if err != nil || m == nil || m.Direction == "in" {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE support_messages SET text = $2, edited_at = $3 WHERE id = $1`, m.ID, in.Text, now); err != nil {
			return fmt.Errorf("store: edit: %w", err)
		}
		if m.Direction != "out" || m.UserMessageID == nil {
			return nil
		}
		var userChat int64
		if err := tx.QueryRow(ctx, `SELECT user_chat_id FROM support_messages WHERE id = $1`, m.ID).Scan(&userChat); err != nil {
			return fmt.Errorf("store: user chat: %w", err)
		}
		om := outbox.Message{TenantID: in.TenantID, BotID: in.BotID, ChatID: userChat, Priority: outbox.Live,
			Kind: kindEdit, Ref: m.ID.String(), IdempotencyKey: fmt.Sprintf("support:edit:%s:%d", m.ID, in.UpdateID)}
		if kind == "text" {
			om.Method = "editMessageText"
			om.Params = params(map[string]any{"message_id": *m.UserMessageID, "text": in.Text})
		} else {
			om.Method = "editMessageCaption"
			om.Params = params(map[string]any{"message_id": *m.UserMessageID, "caption": in.Text})
		}
		_, err = s.enqueueTx(ctx, tx, om)
		return err
	})
	if err != nil {
		return fmt.Errorf("support: agent edit: %w", err)
	}
	return nil
}

// editAfterCopy runs in a relay's result hook once the copy's id is
// recorded (the row locked by the UPDATE that recorded it): if the message
// was edited meanwhile, the edit could not be applied (no copy id yet), so
// the copy is edited now with the stored text. If the copy was made after
// the edit it already shows the new text and Telegram answers "message is
// not modified": harmless. Media from the person is not re-posted as
// "✏️ Edited" (a copy made after the edit already carries the caption).
func (s *Service) editAfterCopy(ctx context.Context, tx pgx.Tx, r outbox.Result, msgID uuid.UUID, copyID int64, kind, text string, out bool) error {
	om := outbox.Message{TenantID: r.TenantID, BotID: r.BotID, ChatID: r.ChatID, Priority: outbox.Live,
		Kind: kindEdit, Ref: msgID.String(), IdempotencyKey: fmt.Sprintf("support:edit:%s:after-copy:%d", msgID, copyID)}
	switch {
	case kind == "text":
		om.Method = "editMessageText"
		om.Params = params(map[string]any{"message_id": copyID, "text": text})
	case out && text != "":
		om.Method = "editMessageCaption"
		om.Params = params(map[string]any{"message_id": copyID, "caption": text})
	default:
		return nil
	}
	_, err := s.enqueueTx(ctx, tx, om)
	return err
}
