package support

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Every query here runs in db.InTenant: RLS scopes it to one tenant, and
// tenant_id is written explicitly on insert.

type topicRow struct {
	ID          uuid.UUID
	BotID       int64
	ContactID   uuid.UUID
	UserChatID  int64
	StaffChatID int64
	ThreadID    *int
	State       string
	Generation  int
	UpdatedAt   time.Time
	// Icon is the wanted status icon, IconApplied the one shown, IconDue
	// whether an icon edit is scheduled; BlockedNoted whether the topic was
	// told the person blocked the bot (as read; the row is locked).
	Icon, IconApplied     string
	IconDue, BlockedNoted bool
}

const topicCols = `id, bot_id, contact_id, user_chat_id, staff_chat_id, thread_id, state, generation, updated_at,
	icon, icon_applied, icon_due_at IS NOT NULL, blocked_noted_at IS NOT NULL`

func scanTopic(r pgx.Row) (*topicRow, error) {
	var t topicRow
	err := r.Scan(&t.ID, &t.BotID, &t.ContactID, &t.UserChatID, &t.StaffChatID, &t.ThreadID, &t.State, &t.Generation, &t.UpdatedAt,
		&t.Icon, &t.IconApplied, &t.IconDue, &t.BlockedNoted)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: topic: %w", err)
	}
	return &t, nil
}

// lockTopic returns the contact's topic locked for the transaction (nil if none).
// The topic look-ups lock the row and note it in a collecting transaction,
// which keeps the topic's outbox calls in commit order (txout.go).

func lockTopic(ctx context.Context, tx pgx.Tx, botID int64, contactID uuid.UUID) (*topicRow, error) {
	return noteTopic(tx)(scanTopic(tx.QueryRow(ctx, sqlLockTopic, botID, contactID)))
}

const sqlLockTopic = `SELECT ` + topicCols + ` FROM support_topics WHERE bot_id = $1 AND contact_id = $2 FOR UPDATE`

// messageState is what a person's message is handled against, read in one
// round trip: the ban (locked), the staff group, the contact, the open
// ticket and the topic (locked and noted, as lockTopic does).
type messageState struct {
	banned, tell bool
	anyStaff     int64
	card         contactCard
	ticket       *ticketRow
	topic        *topicRow
}

func readMessageState(ctx context.Context, tx pgx.Tx, botID int64, contactID uuid.UUID, now time.Time) (messageState, error) {
	var st messageState
	var told *time.Time
	b := &pgx.Batch{}
	// The ban is read without a lock (a staff /unban locks the topic, then
	// the ban: locking them here in the other order could deadlock); the
	// person is told by whoever sets told_at first.
	b.Queue(`SELECT told_at FROM support_bans WHERE bot_id = $1 AND contact_id = $2`, botID, contactID).
		QueryRow(func(r pgx.Row) error {
			err := r.Scan(&told)
			if db.IsNotFound(err) {
				return nil
			}
			st.banned, st.tell = err == nil, err == nil && told == nil
			return err
		})
	b.Queue(sqlStaffGroup, botID).QueryRow(func(r pgx.Row) (err error) {
		st.anyStaff, err = scanStaffGroup(r)
		return err
	})
	b.Queue(sqlContactCard, contactID).QueryRow(func(r pgx.Row) (err error) {
		st.card, err = scanContactCard(r)
		return err
	})
	b.Queue(sqlOpenTicket, botID, contactID).QueryRow(func(r pgx.Row) (err error) {
		st.ticket, err = scanOpenTicket(r)
		return err
	})
	b.Queue(sqlLockTopic, botID, contactID).QueryRow(func(r pgx.Row) (err error) {
		st.topic, err = noteTopic(tx)(scanTopic(r))
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return st, fmt.Errorf("store: message state: %w", err)
	}
	if st.tell {
		tag, err := tx.Exec(ctx, `UPDATE support_bans SET told_at = $3 WHERE bot_id = $1 AND contact_id = $2 AND told_at IS NULL`,
			botID, contactID, now)
		if err != nil {
			return st, fmt.Errorf("store: ban told: %w", err)
		}
		st.tell = tag.RowsAffected() == 1
	}
	return st, nil
}

func lockTopicByID(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*topicRow, error) {
	return noteTopic(tx)(scanTopic(tx.QueryRow(ctx, `SELECT `+topicCols+` FROM support_topics WHERE id = $1 FOR UPDATE`, id)))
}

func topicByThread(ctx context.Context, tx pgx.Tx, botID, staffChatID int64, threadID int) (*topicRow, error) {
	return noteTopic(tx)(scanTopic(tx.QueryRow(ctx, `SELECT `+topicCols+` FROM support_topics
		WHERE bot_id = $1 AND staff_chat_id = $2 AND thread_id = $3 FOR UPDATE`, botID, staffChatID, threadID)))
}

// insertTopic creates the contact's topic row in state 'creating'. Concurrent
// inserts for one contact are impossible (one chat's updates are handled in
// order), but ON CONFLICT keeps a retried update harmless.
func insertTopic(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, botID int64, contactID uuid.UUID, userChatID, staffChatID int64, now time.Time) (*topicRow, error) {
	return scanTopic(tx.QueryRow(ctx, `INSERT INTO support_topics
		(id, tenant_id, bot_id, contact_id, user_chat_id, staff_chat_id, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'creating', $7, $7)
		ON CONFLICT (tenant_id, bot_id, contact_id) DO UPDATE SET updated_at = support_topics.updated_at
		RETURNING `+topicCols, ids.New(), tenantID, botID, contactID, userChatID, staffChatID, now))
}

type ticketRow struct {
	ID           uuid.UUID
	No           int64
	Status       string
	ContactID    uuid.UUID
	BotID        int64
	TopicID      *uuid.UUID
	RequestType  string
	RoutePending bool
	OpenedAt     time.Time
}

func openTicket(ctx context.Context, tx pgx.Tx, botID int64, contactID uuid.UUID) (*ticketRow, error) {
	return scanOpenTicket(tx.QueryRow(ctx, sqlOpenTicket, botID, contactID))
}

const sqlOpenTicket = `SELECT id, no, status, contact_id, bot_id, topic_id, request_type, route_pending, opened_at
	FROM support_tickets WHERE bot_id = $1 AND contact_id = $2 AND status <> 'resolved'`

func scanOpenTicket(r pgx.Row) (*ticketRow, error) {
	var t ticketRow
	err := r.Scan(&t.ID, &t.No, &t.Status, &t.ContactID, &t.BotID, &t.TopicID, &t.RequestType, &t.RoutePending, &t.OpenedAt)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: open ticket: %w", err)
	}
	return &t, nil
}

// latestTicket is the topic's newest ticket (resolved or not).
func latestTicket(ctx context.Context, tx pgx.Tx, topicID uuid.UUID) (*ticketRow, error) {
	var t ticketRow
	err := tx.QueryRow(ctx, `SELECT id, no, status, contact_id, bot_id, topic_id FROM support_tickets
		WHERE topic_id = $1 ORDER BY opened_at DESC, no DESC LIMIT 1`, topicID).
		Scan(&t.ID, &t.No, &t.Status, &t.ContactID, &t.BotID, &t.TopicID)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: latest ticket: %w", err)
	}
	return &t, nil
}

func insertTicket(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, botID int64, contactID uuid.UUID, topicID *uuid.UUID, now time.Time) (*ticketRow, error) {
	t := ticketRow{ID: ids.New(), Status: "new", ContactID: contactID, BotID: botID, TopicID: topicID, OpenedAt: now}
	err := tx.QueryRow(ctx, `INSERT INTO support_tickets (id, tenant_id, bot_id, contact_id, topic_id, opened_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING no`, t.ID, tenantID, botID, contactID, topicID, now).Scan(&t.No)
	if err != nil {
		return nil, fmt.Errorf("store: insert ticket: %w", err)
	}
	return &t, nil
}

// message is one support_messages row to insert.
type message struct {
	ID              uuid.UUID
	TicketID        uuid.UUID
	Direction       string
	UserChatID      int64
	UserMessageID   *int64
	StaffChatID     *int64
	StaffMessageID  *int64
	AuthorContactID *uuid.UUID
	AuthorTgUserID  *int64
	AuthorUserID    *uuid.UUID
	AuthorName      string
	Kind            string
	Text            string
	Relay           string
	Source          *string
	Raw             []byte // the update, for a person's messages (nothing lost)
}

// insertMessage stores m; false means its source was stored before (an
// update handled again), and nothing was written.
func insertMessage(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, m *message, now time.Time) (bool, error) {
	if m.ID == uuid.Nil {
		m.ID = ids.New()
	}
	tag, err := tx.Exec(ctx, `INSERT INTO support_messages (id, tenant_id, ticket_id, direction, user_chat_id,
		user_message_id, staff_chat_id, staff_message_id, author_contact_id, author_tg_user_id, author_user_id,
		author_name, kind, text, relay, source, created_at, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (tenant_id, source) DO NOTHING`,
		m.ID, tenantID, m.TicketID, m.Direction, m.UserChatID, m.UserMessageID, m.StaffChatID, m.StaffMessageID,
		m.AuthorContactID, m.AuthorTgUserID, m.AuthorUserID, m.AuthorName, m.Kind, m.Text, m.Relay, m.Source, now, rawJSON(m.Raw))
	if err != nil {
		return false, fmt.Errorf("store: insert message: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func setRelay(ctx context.Context, tx pgx.Tx, id uuid.UUID, relay string) error {
	if _, err := tx.Exec(ctx, `UPDATE support_messages SET relay = $2 WHERE id = $1`, id, relay); err != nil {
		return fmt.Errorf("store: set relay: %w", err)
	}
	return nil
}

// rawJSON is a jsonb parameter (NULL when empty).
func rawJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

type pendingMsg struct {
	ID            uuid.UUID
	Kind          string
	UserChatID    int64
	UserMessageID int64
	seq           int64
}

// takePending marks the topic's messages waiting for it as queued and
// answers them in arrival order (the caller enqueues them in the same
// transaction).
func takePending(ctx context.Context, tx pgx.Tx, topicID uuid.UUID) ([]pendingMsg, error) {
	rows, err := tx.Query(ctx, `UPDATE support_messages m SET relay = 'queued'
		FROM support_tickets t
		WHERE t.id = m.ticket_id AND t.topic_id = $1 AND m.relay = 'pending' AND m.direction = 'in' AND m.user_message_id IS NOT NULL
		RETURNING m.id, m.kind, m.user_chat_id, m.user_message_id, m.seq`, topicID)
	if err != nil {
		return nil, fmt.Errorf("store: pending: %w", err)
	}
	pend, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pendingMsg, error) {
		var p pendingMsg
		err := r.Scan(&p.ID, &p.Kind, &p.UserChatID, &p.UserMessageID, &p.seq)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending: %w", err)
	}
	slices.SortFunc(pend, func(a, b pendingMsg) int { return cmp.Compare(a.seq, b.seq) })
	return pend, nil
}

// staffGroupOf is the bot's bound staff group (0 if none).
func staffGroupOf(ctx context.Context, tx pgx.Tx, botID int64) (int64, error) {
	return scanStaffGroup(tx.QueryRow(ctx, sqlStaffGroup, botID))
}

const sqlStaffGroup = `SELECT chat_id FROM chat_bindings WHERE bot_id = $1 AND purpose = 'staff_support'
	AND is_forum AND bot_status = 'administrator' ORDER BY updated_at DESC LIMIT 1`

func scanStaffGroup(r pgx.Row) (int64, error) {
	var chatID int64
	err := r.Scan(&chatID)
	if db.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: staff group: %w", err)
	}
	return chatID, nil
}

type contactCard struct {
	FirstName, LastName, Username, Language, Phone string
	TgUserID                                       int64
}

func contactOf(ctx context.Context, tx pgx.Tx, id uuid.UUID) (contactCard, error) {
	return scanContactCard(tx.QueryRow(ctx, sqlContactCard, id))
}

const sqlContactCard = `SELECT first_name, last_name, username, language, phone, COALESCE(tg_user_id, 0)
	FROM contacts WHERE id = $1`

func scanContactCard(r pgx.Row) (contactCard, error) {
	var c contactCard
	if err := r.Scan(&c.FirstName, &c.LastName, &c.Username, &c.Language, &c.Phone, &c.TgUserID); err != nil {
		return c, fmt.Errorf("store: contact: %w", err)
	}
	return c, nil
}
