package support

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Errors the API maps to problems.
var (
	ErrNotFound     = errors.New("support: not found")
	ErrOpenExists   = errors.New("support: the person has another open ticket")
	ErrUnreachable  = errors.New("support: the person has no chat with the bot")
	ErrBadStatus    = errors.New("support: unknown status")
	ErrTicketClosed = errors.New("support: the ticket is resolved")
)

// Ticket is a support request as the console sees it.
type Ticket struct {
	ID              uuid.UUID  `json:"id"`
	No              int64      `json:"no"`
	BotID           int64      `json:"bot_id"`
	ContactID       uuid.UUID  `json:"contact_id"`
	ContactName     string     `json:"contact_name"`
	Status          string     `json:"status"`
	AssigneeName    string     `json:"assignee_name"`
	AssigneeUserID  *uuid.UUID `json:"assignee_user_id"`
	AssigneeTgID    *int64     `json:"assignee_tg_user_id"`
	Tags            []string   `json:"tags"`
	OpenedAt        time.Time  `json:"opened_at"`
	FirstResponseAt *time.Time `json:"first_response_at"`
	ResolvedAt      *time.Time `json:"resolved_at"`
}

// Message is one message of a ticket.
type Message struct {
	ID         uuid.UUID `json:"id"`
	Direction  string    `json:"direction"`
	AuthorName string    `json:"author_name"`
	Kind       string    `json:"kind"`
	Text       string    `json:"text"`
	Relay      string    `json:"relay"`
	CreatedAt  time.Time `json:"created_at"`
	// HasFile: GET /support/messages/:id/file streams the media.
	HasFile bool `json:"has_file"`
}

// fileKinds are the content kinds that carry a downloadable file.
var fileKinds = map[string]bool{"photo": true, "video": true, "animation": true, "document": true, "audio": true,
	"voice": true, "video_note": true, "sticker": true}

// TicketFilter selects tickets; Limit 1..100, Offset from 0.
type TicketFilter struct {
	Status         string
	AssigneeUserID *uuid.UUID
	Unassigned     bool
	// Tag keeps tickets carrying the tag; From/To keep tickets opened in
	// [From, To) (zero: unbounded).
	Tag           string
	From, To      time.Time
	Limit, Offset int
}

const ticketCols = `t.id, t.no, t.bot_id, t.contact_id, trim(c.first_name || ' ' || c.last_name), t.status,
	t.assignee_name, t.assignee_user_id, t.assignee_tg_user_id, t.tags, t.opened_at, t.first_response_at, t.resolved_at`

func scanTicket(r pgx.Row) (Ticket, error) {
	var t Ticket
	err := r.Scan(&t.ID, &t.No, &t.BotID, &t.ContactID, &t.ContactName, &t.Status, &t.AssigneeName, &t.AssigneeUserID,
		&t.AssigneeTgID, &t.Tags, &t.OpenedAt, &t.FirstResponseAt, &t.ResolvedAt)
	return t, err
}

// Tickets lists a tenant's tickets, newest first.
func (s *Service) Tickets(ctx context.Context, tenantID uuid.UUID, f TicketFilter) ([]Ticket, error) {
	out := []Ticket{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+ticketCols+` FROM support_tickets t JOIN contacts c ON c.id = t.contact_id
			WHERE ($1 = '' OR t.status = $1) AND ($2::uuid IS NULL OR t.assignee_user_id = $2)
			AND (NOT $3 OR (t.assignee_user_id IS NULL AND t.assignee_tg_user_id IS NULL))
			AND ($6 = '' OR $6 = ANY(t.tags))
			AND ($7::timestamptz IS NULL OR t.opened_at >= $7) AND ($8::timestamptz IS NULL OR t.opened_at < $8)
			ORDER BY t.opened_at DESC, t.no DESC LIMIT $4 OFFSET $5`, f.Status, f.AssigneeUserID, f.Unassigned, f.Limit, f.Offset,
			f.Tag, timeOrNil(f.From), timeOrNil(f.To))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ticket, error) { return scanTicket(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("support: tickets: %w", err)
	}
	return out, nil
}

// TicketWithMessages returns a ticket and its messages in order.
func (s *Service) TicketWithMessages(ctx context.Context, tenantID, id uuid.UUID) (Ticket, []Message, error) {
	var t Ticket
	msgs := []Message{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		t, err = scanTicket(tx.QueryRow(ctx, `SELECT `+ticketCols+` FROM support_tickets t JOIN contacts c ON c.id = t.contact_id
			WHERE t.id = $1`, id))
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, direction, author_name, kind, text, relay, created_at FROM support_messages
			WHERE ticket_id = $1 ORDER BY seq`, id)
		if err != nil {
			return err
		}
		msgs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
			var m Message
			err := r.Scan(&m.ID, &m.Direction, &m.AuthorName, &m.Kind, &m.Text, &m.Relay, &m.CreatedAt)
			m.HasFile = fileKinds[m.Kind]
			return m, err
		})
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Ticket{}, nil, err
	}
	if err != nil {
		return Ticket{}, nil, fmt.Errorf("support: ticket: %w", err)
	}
	return t, msgs, nil
}

// Reply sends a console user's text to the person and mirrors it into the
// topic marked with the agent's name; the first replier is assigned.
func (s *Service) Reply(ctx context.Context, tenantID, userID, ticketID uuid.UUID, text string) (Message, error) {
	now := s.clock.Now()
	var out Message
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var botID int64
		var contactID uuid.UUID
		var topicID *uuid.UUID
		var status string
		err := tx.QueryRow(ctx, `SELECT bot_id, contact_id, topic_id, status FROM support_tickets WHERE id = $1 FOR UPDATE`, ticketID).
			Scan(&botID, &contactID, &topicID, &status)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var chatID int64
		err = tx.QueryRow(ctx, `SELECT chat_id FROM bot_chats WHERE bot_id = $1 AND contact_id = $2`, botID, contactID).Scan(&chatID)
		if db.IsNotFound(err) {
			return ErrUnreachable
		}
		if err != nil {
			return err
		}
		var name string
		if err := tx.QueryRow(ctx, `SELECT name FROM users WHERE id = $1`, userID).Scan(&name); err != nil && !db.IsNotFound(err) {
			return err
		}
		m := &message{TicketID: ticketID, Direction: "out", UserChatID: chatID, AuthorUserID: &userID, AuthorName: name,
			Kind: "text", Text: text, Relay: "queued"}
		if _, err := insertMessage(ctx, tx, tenantID, m, now); err != nil {
			return err
		}
		out = Message{ID: m.ID, Direction: "out", AuthorName: name, Kind: "text", Text: text, Relay: "queued", CreatedAt: now}
		if _, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: botID, ChatID: chatID, Method: "sendMessage",
			Params: params(map[string]any{"text": text}), Priority: outbox.Live, Kind: kindRelayOut, Ref: m.ID.String(),
			IdempotencyKey: "support:out:" + m.ID.String()}); err != nil {
			return err
		}
		if topicID != nil {
			topic, err := lockTopicByID(ctx, tx, *topicID)
			if err != nil {
				return err
			}
			if topic != nil && topic.ThreadID != nil {
				if _, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: botID, ChatID: topic.StaffChatID,
					ThreadID: *topic.ThreadID, Method: "sendMessage",
					Params: params(map[string]any{"text": "✍️ " + name + " (console):\n" + text}), Priority: outbox.Live,
					Kind: kindMirror, Ref: m.ID.String(), IdempotencyKey: "support:mirror:" + m.ID.String()}); err != nil {
					return err
				}
			}
			if status != "resolved" && topic != nil {
				if err := s.setIcon(ctx, tenantID, tx, topic.ID, iconInWork, now); err != nil {
					return err
				}
			}
		}
		if status == "resolved" {
			return nil
		}
		_, err = claim(ctx, tx, ticketID, nil, &userID, name, now)
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnreachable) {
		return Message{}, err
	}
	if err != nil {
		return Message{}, fmt.Errorf("support: reply: %w", err)
	}
	return out, nil
}

// SetStatus moves an open ticket between new and in_work, or resolves it.
// A resolved ticket is reopened by the person writing again.
func (s *Service) SetStatus(ctx context.Context, tenantID, ticketID uuid.UUID, status string) error {
	switch status {
	case "resolved":
		if err := s.exists(ctx, tenantID, ticketID); err != nil {
			return err
		}
		return s.Resolve(ctx, tenantID, ticketID)
	case "new", "in_work":
	default:
		return ErrBadStatus
	}
	now := s.clock.Now()
	return s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var cur string
		var topicID *uuid.UUID
		err := tx.QueryRow(ctx, `SELECT status, topic_id FROM support_tickets WHERE id = $1 FOR UPDATE`, ticketID).Scan(&cur, &topicID)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if cur == "resolved" {
			return ErrTicketClosed
		}
		if _, err := tx.Exec(ctx, `UPDATE support_tickets SET status = $2, updated_at = $3 WHERE id = $1`, ticketID, status, now); err != nil {
			return err
		}
		if topicID == nil {
			return nil
		}
		icon := iconNew
		if status == "in_work" {
			icon = iconInWork
		}
		return s.setIcon(ctx, tenantID, tx, *topicID, icon, now)
	})
}

func (s *Service) exists(ctx context.Context, tenantID, ticketID uuid.UUID) error {
	return s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM support_tickets WHERE id = $1`, ticketID).Scan(&one)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		return err
	})
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
