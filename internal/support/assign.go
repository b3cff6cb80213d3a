package support

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// ErrUnknownMember: the assignee is not an active member of the tenant.
var ErrUnknownMember = errors.New("support: no such member")

// Assign makes a tenant member (a console user, not disabled) the ticket's
// assignee, or clears the assignee (userID nil). The change is audited,
// kept in the ticket's history as a note and posted in the topic;
// assigning the current assignee again changes nothing. The status is not
// touched. A ticket or member of another tenant is not found.
func (s *Service) Assign(ctx context.Context, tenantID, actorID, ticketID uuid.UUID, userID *uuid.UUID) (Ticket, error) {
	now := s.clock.Now()
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var no, botID int64
		var contactID uuid.UUID
		var topicID, curUser *uuid.UUID
		var curTg *int64
		err := tx.QueryRow(ctx, `SELECT no, bot_id, contact_id, topic_id, assignee_user_id, assignee_tg_user_id
			FROM support_tickets WHERE id = $1 FOR UPDATE`, ticketID).Scan(&no, &botID, &contactID, &topicID, &curUser, &curTg)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: assign ticket: %w", err)
		}
		name := ""
		if userID != nil {
			// RLS keeps other tenants' users invisible: they are unknown.
			err := tx.QueryRow(ctx, `SELECT CASE WHEN name = '' THEN email ELSE name END FROM users
				WHERE id = $1 AND NOT disabled`, *userID).Scan(&name)
			if db.IsNotFound(err) {
				return ErrUnknownMember
			}
			if err != nil {
				return fmt.Errorf("store: member: %w", err)
			}
			if curUser != nil && *curUser == *userID && curTg == nil {
				return nil // already theirs
			}
		} else if curUser == nil && curTg == nil {
			return nil // already unassigned
		}
		if _, err := tx.Exec(ctx, `UPDATE support_tickets SET assignee_user_id = $2, assignee_tg_user_id = NULL,
			assignee_name = $3, updated_at = $4 WHERE id = $1`, ticketID, userID, name, now); err != nil {
			return fmt.Errorf("store: assign: %w", err)
		}
		var actorName string
		if err := tx.QueryRow(ctx, `SELECT CASE WHEN name = '' THEN email ELSE name END FROM users WHERE id = $1`, actorID).
			Scan(&actorName); err != nil && !db.IsNotFound(err) {
			return fmt.Errorf("store: actor: %w", err)
		}
		details, _ := json.Marshal(map[string]any{"user_id": userID, "name": name})
		if _, err := tx.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, details, at)
			VALUES ($1, $2, 'support.ticket.assign', $3, $4, $5)`, tenantID, "user:"+actorID.String(),
			"ticket:"+ticketID.String(), details, now); err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		text := fmt.Sprintf("👤 Request #%d is assigned to %s", no, name)
		if userID == nil {
			text = fmt.Sprintf("👤 Request #%d is unassigned", no)
		}
		if actorName != "" {
			text += " (by " + actorName + ", console)."
		} else {
			text += "."
		}
		var chatID int64
		if err := tx.QueryRow(ctx, `SELECT chat_id FROM bot_chats WHERE bot_id = $1 AND contact_id = $2`, botID, contactID).
			Scan(&chatID); err != nil && !db.IsNotFound(err) {
			return fmt.Errorf("store: bot chat: %w", err)
		}
		m := &message{TicketID: ticketID, Direction: "note", UserChatID: chatID, AuthorUserID: &actorID, AuthorName: actorName,
			Kind: "text", Text: text, Relay: "none"}
		if _, err := insertMessage(ctx, tx, tenantID, m, now); err != nil {
			return err
		}
		if topicID == nil {
			return nil
		}
		topic, err := lockTopicByID(ctx, tx, *topicID)
		if err != nil || topic == nil || topic.ThreadID == nil {
			return err
		}
		_, err = s.enqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: botID, ChatID: topic.StaffChatID,
			ThreadID: *topic.ThreadID, Method: "sendMessage", Params: params(map[string]any{"text": text}),
			Priority: outbox.Live, Kind: kindNote, Ref: ticketID.String(), IdempotencyKey: "support:assign:" + m.ID.String()})
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnknownMember) {
		return Ticket{}, err
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("support: assign: %w", err)
	}
	t, _, err := s.TicketWithMessages(ctx, tenantID, ticketID)
	return t, err
}
