package support

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// PurposeStaff is the chat binding purpose of a staff support group.
const PurposeStaff = "staff_support"

// Routes is what the desk needs from the update processor.
type Routes interface {
	SetFallback(h telegram.Handler)
	RegisterGroupHandler(purpose string, h telegram.Handler)
	RegisterCallbackPrefix(prefix string, h telegram.Handler)
}

// Attach makes the desk the support relay for private messages and the
// handler of staff groups (and of /bind in any group).
func (s *Service) Attach(p Routes) {
	p.SetFallback(s.HandleUserMessage)
	p.RegisterGroupHandler("", s.HandleBind)
	p.RegisterGroupHandler(PurposeStaff, s.HandleStaffMessage)
	p.RegisterCallbackPrefix(routePrefix, s.HandleRoute)
}

// HandleStaffMessage handles a message in a staff group's topic: an agent's
// reply is copied to the person, a note (NotePrefix) is kept, /close resolves.
func (s *Service) HandleStaffMessage(ctx context.Context, in *telegram.Inbound) error {
	if in.Message != nil && !in.Edited {
		// Every message the bot receives in the group is not one of its own
		// service messages (docs/outbox.md, "Service messages").
		if err := s.ob.SeenInChat(ctx, in.TenantID, in.BotID, in.ChatID, in.Message.MessageID); err != nil {
			s.log.Warn("support: note a staff group message", "tenant_id", in.TenantID, "bot_id", in.BotID, "error", err)
		}
	}
	if in.Message == nil || in.ThreadID == 0 || in.From == nil || in.Command == "bind" {
		return nil
	}
	kind := contentKind(in)
	if kind == "" {
		return nil // service messages (topic edits, pins, joins)
	}
	now := s.clock.Now()
	if in.Edited {
		return s.staffEdit(ctx, in, kind, now)
	}
	agentName := strings.TrimSpace(in.From.FirstName + " " + in.From.LastName)
	if err := s.seeStaff(ctx, in, agentName, now); err != nil {
		return err
	}
	switch {
	case in.Command == "close":
		return s.closeFromTopic(ctx, in, now)
	case in.Command != "":
		return s.agentCommand(ctx, in, agentName, now) // commands are for the bot, never relayed
	}
	note := strings.HasPrefix(in.Text, s.opts.NotePrefix) && kind == "text"
	return s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		topic, err := topicByThread(ctx, tx, in.BotID, in.ChatID, in.ThreadID)
		if err != nil || topic == nil {
			return err
		}
		ticket, err := latestTicket(ctx, tx, topic.ID)
		if err != nil || ticket == nil {
			return err
		}
		source := fmt.Sprintf("tg:%d:%d:%d", in.BotID, in.ChatID, in.Message.MessageID)
		staffChat, staffMsg, tgUser := in.ChatID, in.Message.MessageID, in.From.ID
		m := &message{TicketID: ticket.ID, Direction: "out", UserChatID: topic.UserChatID, StaffChatID: &staffChat,
			StaffMessageID: &staffMsg, AuthorTgUserID: &tgUser, AuthorName: agentName, Kind: kind, Text: in.Text,
			Relay: "queued", Source: &source, Raw: in.Raw}
		if note {
			m.Direction, m.Relay = "note", "none"
		}
		fresh, err := insertMessage(ctx, tx, in.TenantID, m, now)
		if err != nil || !fresh || note {
			return err
		}
		if _, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: in.TenantID, BotID: in.BotID, ChatID: topic.UserChatID,
			Method: "copyMessage", Params: params(map[string]any{"from_chat_id": in.ChatID, "message_id": in.Message.MessageID}),
			Priority: outbox.Live, Kind: kindRelayOut, Ref: m.ID.String(), IdempotencyKey: "support:out:" + m.ID.String()}); err != nil {
			return err
		}
		if ticket.Status == "resolved" {
			return nil
		}
		if _, err := claim(ctx, tx, ticket.ID, &tgUser, nil, agentName, now); err != nil {
			return err
		}
		return s.setIcon(ctx, in.TenantID, tx, topic.ID, iconInWork, now)
	})
}

// claim records a reply on the ticket: the first replier becomes the
// assignee (one conditional UPDATE decides it, DESIGN.md invariant 7), the
// first response time is kept, and the ticket is in work. It reports
// whether this reply won the assignment.
func claim(ctx context.Context, tx pgx.Tx, ticketID uuid.UUID, tgUser *int64, userID *uuid.UUID, name string, now time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, `UPDATE support_tickets SET assignee_tg_user_id = $2, assignee_user_id = $3,
		assignee_name = $4, updated_at = $5
		WHERE id = $1 AND assignee_tg_user_id IS NULL AND assignee_user_id IS NULL`, ticketID, tgUser, userID, name, now)
	if err != nil {
		return false, fmt.Errorf("store: claim ticket: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE support_tickets SET status = 'in_work',
		first_response_at = COALESCE(first_response_at, $2), updated_at = $2 WHERE id = $1 AND status <> 'resolved'`, ticketID, now); err != nil {
		return false, fmt.Errorf("store: ticket in work: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Service) closeFromTopic(ctx context.Context, in *telegram.Inbound, now time.Time) error {
	var ticketID uuid.UUID
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		topic, err := topicByThread(ctx, tx, in.BotID, in.ChatID, in.ThreadID)
		if err != nil || topic == nil {
			return err
		}
		ticket, err := latestTicket(ctx, tx, topic.ID)
		if err != nil || ticket == nil || ticket.Status == "resolved" {
			return err
		}
		ticketID = ticket.ID
		return nil
	})
	if err != nil || ticketID == uuid.Nil {
		return err
	}
	return s.Resolve(ctx, in.TenantID, ticketID)
}

// Resolve marks a ticket resolved: 🏁, the topic closed, the person told.
// Resolving a resolved ticket changes nothing.
func (s *Service) Resolve(ctx context.Context, tenantID, ticketID uuid.UUID) error {
	now := s.clock.Now()
	var notice func() error
	resolved := false
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		notice, resolved = nil, false
		var no, botID int64
		var topicID *uuid.UUID
		var contactID uuid.UUID
		err := tx.QueryRow(ctx, `UPDATE support_tickets SET status = 'resolved', resolved_at = $2, updated_at = $2
			WHERE id = $1 AND status <> 'resolved' RETURNING no, bot_id, topic_id, contact_id`, ticketID, now).
			Scan(&no, &botID, &topicID, &contactID)
		if db.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: resolve: %w", err)
		}
		resolved = true
		card, err := contactOf(ctx, tx, contactID)
		if err != nil {
			return err
		}
		var chatID int64
		if err := tx.QueryRow(ctx, `SELECT chat_id FROM bot_chats WHERE bot_id = $1 AND contact_id = $2`, botID, contactID).Scan(&chatID); err != nil && !db.IsNotFound(err) {
			return fmt.Errorf("store: bot chat: %w", err)
		}
		if chatID != 0 {
			text := s.texts.Text(ctx, tenantID, TextResolved, card.Language, map[string]string{"ticket_no": strconv.FormatInt(no, 10)})
			notice = func() error {
				// Keyed by the resolution: a ticket reopened (/reopen) and
				// resolved again is told again.
				return s.notify(ctx, tenantID, botID, chatID, text, fmt.Sprintf("support:resolved:%s:%d", ticketID, now.UnixNano()))
			}
		}
		if topicID == nil {
			return nil
		}
		topic, err := lockTopicByID(ctx, tx, *topicID)
		if err != nil || topic == nil || topic.ThreadID == nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE support_topics SET state = 'closed', updated_at = $2 WHERE id = $1`, topic.ID, now); err != nil {
			return fmt.Errorf("store: close topic: %w", err)
		}
		if err := s.setIcon(ctx, tenantID, tx, topic.ID, iconResolved, now); err != nil {
			return err
		}
		_, err = s.enqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: botID, ChatID: topic.StaffChatID,
			ThreadID: *topic.ThreadID, Method: "closeForumTopic", Priority: outbox.Topic, Kind: kindState,
			Ref: topic.ID.String(), IdempotencyKey: fmt.Sprintf("support:close:%s:%d", ticketID, now.UnixNano())})
		return err
	})
	if err != nil {
		return fmt.Errorf("support: resolve: %w", err)
	}
	if notice != nil {
		if err := notice(); err != nil {
			return err
		}
	}
	if resolved {
		// After the resolved notice, so the rating question follows it.
		if err := s.scheduleCSAT(ctx, tenantID, ticketID); err != nil {
			return fmt.Errorf("support: resolve: %w", err)
		}
	}
	return nil
}

// BindCode is a one-time code that binds a staff group.
type BindCode struct {
	Code      string    `json:"code"`
	Command   string    `json:"command"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateBindCode issues a one-time staff-group bind code; only its hash is kept.
func (s *Service) CreateBindCode(ctx context.Context, tenantID, userID uuid.UUID) (BindCode, error) {
	return s.CreateBindCodeFor(ctx, tenantID, userID, nil)
}

// CreateBindCodeFor issues a bind code for a group that takes only the
// given request types (none: every type).
func (s *Service) CreateBindCodeFor(ctx context.Context, tenantID, userID uuid.UUID, requestTypes []string) (BindCode, error) {
	code := "sup-" + ids.Token(12)
	exp := s.clock.Now().Add(s.opts.BindCodeTTL)
	var by *uuid.UUID
	if userID != uuid.Nil {
		by = &userID
	}
	if requestTypes == nil {
		requestTypes = []string{}
	}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO support_bind_codes (id, tenant_id, code_hash, created_by, expires_at, created_at, request_types)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, ids.New(), tenantID, ids.Hash(code), by, exp, s.clock.Now(), requestTypes)
		return err
	})
	if err != nil {
		return BindCode{}, fmt.Errorf("support: bind code: %w", err)
	}
	return BindCode{Code: code, Command: "/bind " + code, ExpiresAt: exp}, nil
}

// missingRights lists what the bot lacks in a group to run a desk there.
func missingRights(isForum bool, status string, rights json.RawMessage) []string {
	var r struct {
		CanManageTopics   bool `json:"can_manage_topics"`
		CanDeleteMessages bool `json:"can_delete_messages"`
	}
	_ = json.Unmarshal(rights, &r)
	var out []string
	if !isForum {
		out = append(out, "is_forum")
	}
	if status != "administrator" && status != "creator" {
		out = append(out, "administrator")
	}
	if !r.CanManageTopics {
		out = append(out, "can_manage_topics")
	}
	if !r.CanDeleteMessages {
		out = append(out, "can_delete_messages")
	}
	return out
}

var missingText = map[string]string{
	"is_forum":            "topics must be enabled in the group settings",
	"administrator":       "the bot must be an administrator",
	"can_manage_topics":   "the bot needs the right to manage topics",
	"can_delete_messages": "the bot needs the right to delete messages",
}

// HandleBind handles "/bind <code>" in any group: with a valid code and
// the rights the desk needs, the group becomes the bot's staff group;
// otherwise the group is told exactly what is missing.
func (s *Service) HandleBind(ctx context.Context, in *telegram.Inbound) error {
	if in.Message == nil || in.Edited || in.Command != "bind" {
		return nil
	}
	if strings.HasPrefix(strings.TrimSpace(in.Payload), "disp-") {
		return nil // an executors' chat bind code: internal/dispatch binds it
	}
	now := s.clock.Now()
	var reply string
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		var codeID uuid.UUID
		var types []string
		err := tx.QueryRow(ctx, `SELECT id, request_types FROM support_bind_codes WHERE code_hash = $1 AND used_at IS NULL
			AND expires_at > $2`, ids.Hash(strings.TrimSpace(in.Payload)), now).Scan(&codeID, &types)
		if db.IsNotFound(err) {
			reply = "❌ The bind code is invalid, used or expired. Create a new one in the console."
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: bind code: %w", err)
		}
		var isForum bool
		var status string
		var rights json.RawMessage
		err = tx.QueryRow(ctx, `SELECT is_forum, bot_status, rights FROM chat_bindings WHERE bot_id = $1 AND chat_id = $2`,
			in.BotID, in.ChatID).Scan(&isForum, &status, &rights)
		if err != nil && !db.IsNotFound(err) {
			return fmt.Errorf("store: binding: %w", err)
		}
		if miss := missingRights(isForum, status, rights); len(miss) > 0 {
			lines := make([]string, 0, len(miss))
			for _, m := range miss {
				lines = append(lines, "• "+missingText[m]+" ("+m+")")
			}
			reply = "⚠️ This group cannot be the support group yet:\n" + strings.Join(lines, "\n") + "\nFix it and send the same /bind again."
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE support_bind_codes SET used_at = $2, used_chat_id = $3 WHERE id = $1 AND used_at IS NULL`,
			codeID, now, in.ChatID)
		if err != nil {
			return fmt.Errorf("store: use bind code: %w", err)
		}
		if tag.RowsAffected() == 0 {
			reply = "❌ The bind code is invalid, used or expired. Create a new one in the console."
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE chat_bindings SET purpose = $3, updated_at = $4 WHERE bot_id = $1 AND chat_id = $2`,
			in.BotID, in.ChatID, PurposeStaff, now); err != nil {
			return fmt.Errorf("store: bind group: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO support_group_routes (tenant_id, bot_id, chat_id, request_types, updated_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, bot_id, chat_id)
			DO UPDATE SET request_types = EXCLUDED.request_types, updated_at = EXCLUDED.updated_at`,
			in.TenantID, in.BotID, in.ChatID, types, now); err != nil {
			return fmt.Errorf("store: group routes: %w", err)
		}
		reply = "✅ This group is now the support group: every person who writes to the bot gets a topic here."
		return nil
	})
	if err != nil {
		return fmt.Errorf("support: bind: %w", err)
	}
	return in.Reply(ctx, reply, nil)
}

// StaffGroup is a bound staff group with what the bot lacks there.
type StaffGroup struct {
	BotID   int64    `json:"bot_id"`
	ChatID  int64    `json:"chat_id"`
	Title   string   `json:"title"`
	Status  string   `json:"status"` // ok or missing_rights
	Missing []string `json:"missing"`
	// RequestTypes the group takes (empty: every type).
	RequestTypes []string `json:"request_types"`
	// Open counts the group's unresolved tickets (its load); Backlog those
	// nobody answered yet (status new).
	Open    int `json:"open"`
	Backlog int `json:"backlog"`
}

// StaffGroups lists the tenant's staff groups.
func (s *Service) StaffGroups(ctx context.Context, tenantID uuid.UUID) ([]StaffGroup, error) {
	out := []StaffGroup{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT b.bot_id, b.chat_id, b.title, b.is_forum, b.bot_status, b.rights,
			COALESCE(r.request_types, '{}'),
			(SELECT count(*) FROM support_tickets t JOIN support_topics tp ON tp.id = t.topic_id
				WHERE tp.bot_id = b.bot_id AND tp.staff_chat_id = b.chat_id AND t.status <> 'resolved'),
			(SELECT count(*) FROM support_tickets t JOIN support_topics tp ON tp.id = t.topic_id
				WHERE tp.bot_id = b.bot_id AND tp.staff_chat_id = b.chat_id AND t.status = 'new')
			FROM chat_bindings b LEFT JOIN support_group_routes r ON r.bot_id = b.bot_id AND r.chat_id = b.chat_id
			WHERE b.purpose = $1 ORDER BY b.created_at`, PurposeStaff)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var g StaffGroup
			var isForum bool
			var status string
			var rights json.RawMessage
			if err := rows.Scan(&g.BotID, &g.ChatID, &g.Title, &isForum, &status, &rights, &g.RequestTypes, &g.Open, &g.Backlog); err != nil {
				return err
			}
			g.Missing = missingRights(isForum, status, rights)
			g.Status = "ok"
			if len(g.Missing) > 0 {
				g.Status = "missing_rights"
			} else {
				g.Missing = []string{}
			}
			out = append(out, g)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("support: staff groups: %w", err)
	}
	return out, nil
}
