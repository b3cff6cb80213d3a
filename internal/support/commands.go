package support

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Text keys of the agent commands (tenants/defaults/catalog.yaml).
const (
	TextReopened = "support.reopened"
	TextBanned   = "support.banned"
)

// seeStaff remembers a staff member who wrote in a staff group, so that
// /assign @username can find them.
func (s *Service) seeStaff(ctx context.Context, in *telegram.Inbound, name string, now time.Time) error {
	return s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO support_staff (tenant_id, tg_user_id, username, name, seen_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, tg_user_id)
			DO UPDATE SET username = EXCLUDED.username, name = EXCLUDED.name, seen_at = EXCLUDED.seen_at`,
			in.TenantID, in.From.ID, in.From.Username, name, now)
		if err != nil {
			return fmt.Errorf("support: staff seen: %w", err)
		}
		return nil
	})
}

// agentCommand runs an agent's command in a topic: /reopen, /assign
// @username, /note text, /ban, /unban, /history, /t name. Unknown commands
// are ignored (never relayed). The answer goes to the topic.
func (s *Service) agentCommand(ctx context.Context, in *telegram.Inbound, agentName string, now time.Time) error {
	var reply string
	var after func() error
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		topic, err := topicByThread(ctx, tx, in.BotID, in.ChatID, in.ThreadID)
		if err != nil || topic == nil {
			return err
		}
		ticket, err := latestTicket(ctx, tx, topic.ID)
		if err != nil || ticket == nil {
			return err
		}
		arg := strings.TrimSpace(in.Payload)
		switch in.Command {
		case "note":
			if arg == "" {
				reply = "Usage: /note text"
				return nil
			}
			source := fmt.Sprintf("tg:%d:%d:%d", in.BotID, in.ChatID, in.Message.MessageID)
			staffChat, staffMsg, tgUser := in.ChatID, in.Message.MessageID, in.From.ID
			_, err := insertMessage(ctx, tx, in.TenantID, &message{TicketID: ticket.ID, Direction: "note",
				UserChatID: topic.UserChatID, StaffChatID: &staffChat, StaffMessageID: &staffMsg, AuthorTgUserID: &tgUser,
				AuthorName: agentName, Kind: "text", Text: arg, Relay: "none", Source: &source}, now)
			return err
		case "reopen":
			reply, after, err = s.reopen(ctx, in.TenantID, tx, topic, ticket, now)
			return err
		case "assign":
			reply, err = assign(ctx, tx, ticket, arg, now)
			return err
		case "ban", "unban":
			reply, err = ban(ctx, tx, in, topic, in.Command == "ban", now)
			return err
		case "history":
			reply, err = history(ctx, tx, topic, ticket)
			return err
		case "t":
			reply, err = s.sendCanned(ctx, in, tx, topic, ticket, arg, agentName, now)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("support: command /%s: %w", in.Command, err)
	}
	if after != nil {
		if err := after(); err != nil {
			return err
		}
	}
	if reply == "" {
		return nil
	}
	return in.Reply(ctx, reply, nil)
}

// reopen makes a resolved ticket open again: the topic reopens with the
// icon of its status and the person is told.
func (s *Service) reopen(ctx context.Context, tenantID uuid.UUID, tx pgx.Tx, topic *topicRow, ticket *ticketRow, now time.Time) (string, func() error, error) {
	if ticket.Status != "resolved" {
		return fmt.Sprintf("Request #%d is not resolved.", ticket.No), nil, nil
	}
	var status string
	err := tx.QueryRow(ctx, `UPDATE support_tickets SET status = CASE WHEN assignee_tg_user_id IS NULL
		AND assignee_user_id IS NULL THEN 'new' ELSE 'in_work' END, resolved_at = NULL, updated_at = $2
		WHERE id = $1 AND status = 'resolved' RETURNING status`, ticket.ID, now).Scan(&status)
	if db.IsUniqueViolation(err, "support_tickets_open") {
		return "The person has another open request; it cannot be reopened.", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("store: reopen: %w", err)
	}
	if topic.ThreadID != nil && topic.State == "closed" {
		if _, err := tx.Exec(ctx, `UPDATE support_topics SET state = 'open', updated_at = $2 WHERE id = $1`, topic.ID, now); err != nil {
			return "", nil, fmt.Errorf("store: reopen topic: %w", err)
		}
		if _, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: topic.BotID, ChatID: topic.StaffChatID,
			ThreadID: *topic.ThreadID, Method: "reopenForumTopic", Priority: outbox.Topic, Kind: kindState,
			Ref: topic.ID.String(), IdempotencyKey: fmt.Sprintf("support:reopen:%s:%d", topic.ID, now.UnixNano())}); err != nil {
			return "", nil, err
		}
	}
	icon := iconNew
	if status == "in_work" {
		icon = iconInWork
	}
	if err := s.setIcon(ctx, tenantID, tx, topic.ID, icon, now); err != nil {
		return "", nil, err
	}
	card, err := contactOf(ctx, tx, topic.ContactID)
	if err != nil {
		return "", nil, err
	}
	text := s.texts.Text(ctx, tenantID, TextReopened, card.Language, map[string]string{"ticket_no": strconv.FormatInt(ticket.No, 10)})
	after := func() error {
		return s.notify(ctx, tenantID, topic.BotID, topic.UserChatID, text, fmt.Sprintf("support:reopened:%s:%d", ticket.ID, now.UnixNano()))
	}
	return fmt.Sprintf("🔄 Request #%d is open again.", ticket.No), after, nil
}

// assign makes a staff member (by Telegram username, seen in a staff group)
// the ticket's assignee.
func assign(ctx context.Context, tx pgx.Tx, ticket *ticketRow, arg string, now time.Time) (string, error) {
	username := strings.TrimPrefix(strings.TrimSpace(arg), "@")
	if username == "" || strings.ContainsAny(username, " \n") {
		return "Usage: /assign @username", nil
	}
	var tgID int64
	var name string
	err := tx.QueryRow(ctx, `SELECT tg_user_id, name FROM support_staff WHERE lower(username) = lower($1)
		ORDER BY seen_at DESC LIMIT 1`, username).Scan(&tgID, &name)
	if db.IsNotFound(err) {
		return fmt.Sprintf("❓ @%s is not a known staff member: they must write in this group once first.", username), nil
	}
	if err != nil {
		return "", fmt.Errorf("store: staff: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE support_tickets SET assignee_tg_user_id = $2, assignee_user_id = NULL,
		assignee_name = $3, updated_at = $4 WHERE id = $1`, ticket.ID, tgID, name, now); err != nil {
		return "", fmt.Errorf("store: assign: %w", err)
	}
	return fmt.Sprintf("👤 Request #%d is assigned to %s (@%s).", ticket.No, name, username), nil
}

// ban bans or unbans the topic's person.
func ban(ctx context.Context, tx pgx.Tx, in *telegram.Inbound, topic *topicRow, on bool, now time.Time) (string, error) {
	if !on {
		tag, err := tx.Exec(ctx, `DELETE FROM support_bans WHERE bot_id = $1 AND contact_id = $2`, topic.BotID, topic.ContactID)
		if err != nil {
			return "", fmt.Errorf("store: unban: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return "The person is not banned.", nil
		}
		return "✅ The person is unbanned: their messages are relayed again.", nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO support_bans (tenant_id, bot_id, contact_id, banned_by, banned_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, in.TenantID, topic.BotID, topic.ContactID, in.From.ID, now); err != nil {
		return "", fmt.Errorf("store: ban: %w", err)
	}
	return "🚫 The person is banned: their messages are no longer relayed. /unban lifts it.", nil
}

// history lists the person's tickets with this bot, newest first.
func history(ctx context.Context, tx pgx.Tx, topic *topicRow, current *ticketRow) (string, error) {
	rows, err := tx.Query(ctx, `SELECT id, no, status, opened_at, resolved_at, assignee_name FROM support_tickets
		WHERE bot_id = $1 AND contact_id = $2 ORDER BY opened_at DESC, no DESC LIMIT 30`, topic.BotID, topic.ContactID)
	if err != nil {
		return "", fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var b strings.Builder
	b.WriteString("🗂 Requests of this person:\n")
	for rows.Next() {
		var id uuid.UUID
		var no int64
		var status, assignee string
		var opened time.Time
		var resolved *time.Time
		if err := rows.Scan(&id, &no, &status, &opened, &resolved, &assignee); err != nil {
			return "", fmt.Errorf("store: history: %w", err)
		}
		fmt.Fprintf(&b, "#%d %s %s, opened %s", no, iconEmoji[status], status, opened.UTC().Format("2006-01-02 15:04"))
		if resolved != nil {
			fmt.Fprintf(&b, ", resolved %s", resolved.UTC().Format("2006-01-02 15:04"))
		}
		if assignee != "" {
			fmt.Fprintf(&b, ", %s", assignee)
		}
		if id == current.ID {
			b.WriteString(" (this one)")
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n"), rows.Err()
}

// sendCanned sends a saved reply to the person as the agent's message.
func (s *Service) sendCanned(ctx context.Context, in *telegram.Inbound, tx pgx.Tx, topic *topicRow, ticket *ticketRow, name, agentName string, now time.Time) (string, error) {
	if name == "" {
		return "Usage: /t name (saved replies are managed in the console)", nil
	}
	var text string
	err := tx.QueryRow(ctx, `SELECT text FROM support_canned WHERE lower(name) = lower($1)`, name).Scan(&text)
	if db.IsNotFound(err) {
		return fmt.Sprintf("❓ There is no saved reply named %q.", name), nil
	}
	if err != nil {
		return "", fmt.Errorf("store: canned: %w", err)
	}
	source := fmt.Sprintf("tg:%d:%d:%d", in.BotID, in.ChatID, in.Message.MessageID)
	staffChat, tgUser := in.ChatID, in.From.ID
	m := &message{TicketID: ticket.ID, Direction: "out", UserChatID: topic.UserChatID, StaffChatID: &staffChat,
		AuthorTgUserID: &tgUser, AuthorName: agentName, Kind: "text", Text: text, Relay: "queued", Source: &source}
	fresh, err := insertMessage(ctx, tx, in.TenantID, m, now)
	if err != nil || !fresh {
		return "", err
	}
	if _, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: in.TenantID, BotID: in.BotID, ChatID: topic.UserChatID,
		Method: "sendMessage", Params: params(map[string]any{"text": text}), Priority: outbox.Live, Kind: kindRelayOut,
		Ref: m.ID.String(), IdempotencyKey: "support:out:" + m.ID.String()}); err != nil {
		return "", err
	}
	if ticket.Status != "resolved" {
		if _, err := claim(ctx, tx, ticket.ID, &tgUser, nil, agentName, now); err != nil {
			return "", err
		}
		if err := s.setIcon(ctx, in.TenantID, tx, topic.ID, iconInWork, now); err != nil {
			return "", err
		}
	}
	return "📎 Sent «" + name + "»:\n" + text, nil
}
