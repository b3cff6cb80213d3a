package broadcast

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// ChatsAudience is the simplest Audience: every reachable, subscribed bot
// chat of the bot, minus those who switched the topic off. It knows no
// segments (internal/broadcast/audience does; the app wires that one when
// it is there) and refuses a segment id.
type ChatsAudience struct{ DB *db.DB }

// ErrNoSegments: ChatsAudience was asked for a segment.
var ErrNoSegments = errors.New("segments are not available")

const chatsWhere = `b.tenant_id = $1 AND b.bot_id = $2 AND b.reachable AND NOT b.unsubscribed
	AND ($3 = '' OR COALESCE(b.subscriptions ->> $3, 'true') <> 'false')`

// Page answers recipients after the bot chat id `after`, in id order.
func (a ChatsAudience) Page(ctx context.Context, tenantID uuid.UUID, botID int64, segmentID uuid.UUID, topic string, after uuid.UUID, limit int) ([]Recipient, error) {
	if segmentID != uuid.Nil {
		return nil, ErrNoSegments
	}
	var out []Recipient
	err := a.DB.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT b.id, b.contact_id, b.chat_id, c.language, c.first_name, c.last_name, c.username
			FROM bot_chats b JOIN contacts c ON c.id = b.contact_id
			WHERE `+chatsWhere+` AND b.id > $4 AND c.erased_at IS NULL ORDER BY b.id LIMIT $5`, tenantID, botID, topic, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Recipient
			if err := rows.Scan(&r.BotChatID, &r.ContactID, &r.ChatID, &r.Lang, &r.FirstName, &r.LastName, &r.Username); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("audience: page: %w", err)
	}
	return out, nil
}

// Count answers the audience size.
func (a ChatsAudience) Count(ctx context.Context, tenantID uuid.UUID, botID int64, segmentID uuid.UUID, topic string) (int, error) {
	if segmentID != uuid.Nil {
		return 0, ErrNoSegments
	}
	var n int
	err := a.DB.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM bot_chats b JOIN contacts c ON c.id = b.contact_id
			WHERE `+chatsWhere+` AND c.erased_at IS NULL`, tenantID, botID, topic).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("audience: count: %w", err)
	}
	return n, nil
}
