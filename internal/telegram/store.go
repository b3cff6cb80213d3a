package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Every query here runs in db.InTenant: RLS scopes it to the update's
// tenant, and tenant_id is written explicitly on insert.

// Binding is a group the bot is in (DESIGN.md 4a).
type Binding struct {
	ID        uuid.UUID
	ChatID    int64
	ChatType  string
	Title     string
	IsForum   bool
	Purpose   string
	BotStatus string
}

type recorded struct {
	contactID uuid.UUID
	lang      string
	binding   *Binding
}

// markProcessed claims the update for recording; false means an earlier
// attempt already recorded it (at-least-once drains).
func markProcessed(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, botID, updateID int64, now time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO processed_updates (tenant_id, bot_id, update_id, processed_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, tenantID, botID, updateID, now)
	if err != nil {
		return false, fmt.Errorf("store: mark processed: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// markProcessedWithContact is markProcessed and upsertContact in one
// round trip.
func markProcessedWithContact(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, botID, updateID int64, u *User, now time.Time) (fresh bool, id uuid.UUID, lang string, err error) {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO processed_updates (tenant_id, bot_id, update_id, processed_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, tenantID, botID, updateID, now)
	b.Queue(`INSERT INTO contacts (id, tenant_id, tg_user_id, first_name, last_name, username, language, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (tenant_id, tg_user_id) DO UPDATE SET
			first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, username = EXCLUDED.username,
			language = CASE WHEN EXCLUDED.language <> '' THEN EXCLUDED.language ELSE contacts.language END,
			updated_at = EXCLUDED.updated_at
		RETURNING id, language`,
		ids.New(), tenantID, u.ID, u.FirstName, u.LastName, u.Username, lang2(u.LanguageCode), now)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	tag, err := br.Exec()
	if err != nil {
		return false, uuid.Nil, "", fmt.Errorf("store: mark processed: %w", err)
	}
	if err := br.QueryRow().Scan(&id, &lang); err != nil {
		return false, uuid.Nil, "", fmt.Errorf("store: upsert contact: %w", err)
	}
	return tag.RowsAffected() == 1, id, lang, nil
}

// queuedTx queues the Execs of write-only code into one batch, sent by
// flush (one round trip for all of them); everything else goes to Tx.
// Errors surface at flush, which fails the transaction.
type queuedTx struct {
	pgx.Tx
	b *pgx.Batch
}

func (q *queuedTx) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (q *queuedTx) flush(ctx context.Context) error {
	if q.b.Len() == 0 {
		return nil
	}
	if err := q.Tx.SendBatch(ctx, q.b).Close(); err != nil {
		return fmt.Errorf("store: record update: %w", err)
	}
	return nil
}

func upsertBotChat(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, botID, chatID int64, contactID uuid.UUID, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO bot_chats (id, tenant_id, bot_id, contact_id, chat_id, first_seen_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (bot_id, chat_id) DO UPDATE SET contact_id = EXCLUDED.contact_id,
			last_seen_at = GREATEST(bot_chats.last_seen_at, EXCLUDED.last_seen_at)`,
		ids.New(), tenantID, botID, contactID, chatID, now)
	if err != nil {
		return fmt.Errorf("store: upsert bot chat: %w", err)
	}
	return nil
}

// setReachable records a block (kicked) or unblock of the bot by a person.
func setReachable(ctx context.Context, tx pgx.Tx, botID, chatID int64, reachable bool, now time.Time) error {
	var blockedAt *time.Time
	if !reachable {
		blockedAt = &now
	}
	_, err := tx.Exec(ctx, `UPDATE bot_chats SET reachable = $3, blocked_at = $4 WHERE bot_id = $1 AND chat_id = $2`,
		botID, chatID, reachable, blockedAt)
	if err != nil {
		return fmt.Errorf("store: set reachable: %w", err)
	}
	return nil
}

// SetUnsubscribed records /stop (and its undo).
func setUnsubscribed(ctx context.Context, tx pgx.Tx, botID, chatID int64, unsubscribed bool) error {
	_, err := tx.Exec(ctx, `UPDATE bot_chats SET unsubscribed = $3 WHERE bot_id = $1 AND chat_id = $2`, botID, chatID, unsubscribed)
	if err != nil {
		return fmt.Errorf("store: set unsubscribed: %w", err)
	}
	return nil
}

func setPhone(ctx context.Context, tx pgx.Tx, contactID uuid.UUID, phone string, now time.Time) error {
	phone = strings.TrimSpace(phone)
	if phone != "" && !strings.HasPrefix(phone, "+") {
		phone = "+" + phone
	}
	_, err := tx.Exec(ctx, "UPDATE contacts SET phone = $2, updated_at = $3 WHERE id = $1", contactID, phone, now)
	if err != nil {
		return fmt.Errorf("store: set phone: %w", err)
	}
	return nil
}

func addEvent(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, contactID uuid.UUID, botID int64, typ string, payload map[string]any, at time.Time) error {
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("store: event payload: %w", err)
	}
	var contact *uuid.UUID
	if contactID != uuid.Nil {
		contact = &contactID
	}
	_, err = tx.Exec(ctx, `INSERT INTO events (tenant_id, contact_id, bot_id, type, payload, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, tenantID, contact, botID, typ, raw, at)
	if err != nil {
		return fmt.Errorf("store: add event %s: %w", typ, err)
	}
	return nil
}

// upsertBinding creates or refreshes the binding of a group; status and
// rights are written only when known (from my_chat_member).
func upsertBinding(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, botID int64, c Chat, status string, rights json.RawMessage, now time.Time) error {
	if rights == nil {
		rights = json.RawMessage(`{}`)
	}
	_, err := tx.Exec(ctx, `INSERT INTO chat_bindings (id, tenant_id, bot_id, chat_id, chat_type, title, is_forum, bot_status, rights, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE(NULLIF($8, ''), 'member'), $9, $10, $10)
		ON CONFLICT (bot_id, chat_id) DO UPDATE SET chat_type = EXCLUDED.chat_type, title = EXCLUDED.title,
			is_forum = EXCLUDED.is_forum,
			bot_status = CASE WHEN $8 <> '' THEN EXCLUDED.bot_status ELSE chat_bindings.bot_status END,
			rights = CASE WHEN $8 <> '' THEN EXCLUDED.rights ELSE chat_bindings.rights END,
			updated_at = EXCLUDED.updated_at`,
		ids.New(), tenantID, botID, c.ID, c.Type, c.Title, c.IsForum, status, rights, now)
	if err != nil {
		return fmt.Errorf("store: upsert binding: %w", err)
	}
	return nil
}

// migrateBinding follows a group that became a supergroup: the binding
// moves to the new chat id and keeps its purpose. If the new chat already
// has a binding (its my_chat_member came first), the purpose is carried
// over and the old binding goes. Running it twice changes nothing.
func migrateBinding(ctx context.Context, tx pgx.Tx, botID, oldID, newID int64, now time.Time) error {
	// The second statement uses no timestamp: each gets exactly its own
	// parameters ($4 unused would be an error).
	if _, err := tx.Exec(ctx, `UPDATE chat_bindings n SET purpose = o.purpose, updated_at = $4 FROM chat_bindings o
		WHERE n.bot_id = $1 AND n.chat_id = $3 AND o.bot_id = $1 AND o.chat_id = $2 AND n.purpose = 'none'`,
		botID, oldID, newID, now); err != nil {
		return fmt.Errorf("store: migrate binding: carry purpose: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM chat_bindings WHERE bot_id = $1 AND chat_id = $2
		AND EXISTS (SELECT 1 FROM chat_bindings WHERE bot_id = $1 AND chat_id = $3)`, botID, oldID, newID); err != nil {
		return fmt.Errorf("store: migrate binding: drop old: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE chat_bindings SET chat_id = $3, chat_type = 'supergroup', updated_at = $4
		WHERE bot_id = $1 AND chat_id = $2`, botID, oldID, newID, now); err != nil {
		return fmt.Errorf("store: migrate binding: move: %w", err)
	}
	return nil
}

func findBinding(ctx context.Context, tx pgx.Tx, botID, chatID int64) (*Binding, error) {
	var b Binding
	err := tx.QueryRow(ctx, `SELECT id, chat_id, chat_type, title, is_forum, purpose, bot_status FROM chat_bindings
		WHERE bot_id = $1 AND chat_id = $2`, botID, chatID).
		Scan(&b.ID, &b.ChatID, &b.ChatType, &b.Title, &b.IsForum, &b.Purpose, &b.BotStatus)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: find binding: %w", err)
	}
	return &b, nil
}

// memberRights is the member object without the user: status and rights.
func memberRights(m ChatMember) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(m.Raw, &obj) != nil {
		return json.RawMessage(`{}`)
	}
	delete(obj, "user")
	raw, _ := json.Marshal(obj)
	return raw
}
