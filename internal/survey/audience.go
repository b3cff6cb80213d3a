package survey

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// AudienceSpec says whom a run that asks by itself (a scheduled run) asks.
// It is stored with the schedule and the run as JSON, so an audience that
// knows more (segments) can add fields without a migration.
type AudienceSpec struct {
	// BotID is the bot the questions are sent from.
	BotID int64 `json:"bot_id"`
	// SegmentID narrows the bot's subscribers to a saved segment; it needs
	// an Audience that knows segments (the app wires internal/broadcast/audience).
	SegmentID uuid.UUID `json:"segment_id,omitempty"`
}

// ErrSegmentAudience: the default audience was asked for a segment; it
// refuses rather than ask every subscriber.
var ErrSegmentAudience = errors.New("survey: a segment audience needs the audience service")

// Page is one batch of an audience.
type Page struct {
	Recipients []Recipient
	// Next is the cursor of the following page; Done: there is none.
	Next string
	Done bool
}

// Audience pages over the recipients of a spec in a stable order: the page
// after cursor ("" for the first), at most limit recipients. The engine
// stores the cursor as the run's checkpoint, so a page must not depend on
// anything but (spec, cursor, limit) and the data.
type Audience interface {
	Page(ctx context.Context, tenantID uuid.UUID, spec AudienceSpec, cursor string, limit int) (Page, error)
}

// BotAudience is the default audience: every reachable subscriber of the
// bot — a private chat not blocked, not unsubscribed (/stop), with the
// "surveys" subscription not switched off, of a contact not erased.
type BotAudience struct{ db *db.DB }

// NewBotAudience returns the default audience over bot_chats.
func NewBotAudience(d *db.DB) *BotAudience { return &BotAudience{db: d} }

// Page pages by bot chat id.
func (a *BotAudience) Page(ctx context.Context, tenantID uuid.UUID, spec AudienceSpec, cursor string, limit int) (Page, error) {
	if spec.SegmentID != uuid.Nil {
		return Page{}, ErrSegmentAudience
	}
	after := uuid.Nil
	if cursor != "" {
		var err error
		if after, err = uuid.Parse(cursor); err != nil {
			return Page{}, fmt.Errorf("survey: audience cursor %q: %w", cursor, err)
		}
	}
	var out Page
	err := a.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		out = Page{}
		rows, err := tx.Query(ctx, `SELECT b.id, b.bot_id, b.chat_id, b.contact_id, c.language
			FROM bot_chats b JOIN contacts c ON c.id = b.contact_id
			WHERE b.bot_id = $1 AND b.id > $2 AND b.chat_id > 0 AND b.reachable AND NOT b.unsubscribed
			  AND (b.subscriptions->>'surveys') IS DISTINCT FROM 'false' AND c.erased_at IS NULL
			ORDER BY b.id LIMIT $3`, spec.BotID, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		var last uuid.UUID
		for rows.Next() {
			var r Recipient
			if err := rows.Scan(&last, &r.BotID, &r.ChatID, &r.ContactID, &r.Lang); err != nil {
				return err
			}
			out.Recipients = append(out.Recipients, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		out.Done = len(out.Recipients) < limit
		out.Next = cursor
		if last != uuid.Nil {
			out.Next = last.String()
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("survey: audience page: %w", err)
	}
	return out, nil
}
