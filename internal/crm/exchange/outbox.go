package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Event types other features publish (payload schemas in
// docs/connectors/http-json.md, "Our events").
const (
	EventFeedbackCreated   = "feedback.created"
	EventCallbackRequested = "callback.requested"
	EventOrderTaken        = "order.taken"
	EventSurveyAnswered    = "survey.answered"
)

var eventTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// Publish records an event for the tenant's system inside the caller's
// transaction, which must be the tenant's (db.InTenant): the event exists
// exactly when the caller's change commits. typ is dotted lower case
// ("feedback.created"); payload is marshalled to a JSON object.
func Publish(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, typ string, payload any) (uuid.UUID, error) {
	if !eventTypeRe.MatchString(typ) || len(typ) > 100 {
		return uuid.Nil, fmt.Errorf("exchange: publish: bad event type %q", typ)
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return uuid.Nil, fmt.Errorf("exchange: publish %s: %w", typ, err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return uuid.Nil, fmt.Errorf("exchange: publish %s: payload must be a JSON object", typ)
	}
	id := ids.New()
	if _, err := tx.Exec(ctx, `INSERT INTO exchange_outbox (id, tenant_id, type, payload) VALUES ($1, $2, $3, $4)`,
		id, tenantID, typ, raw); err != nil {
		return uuid.Nil, fmt.Errorf("exchange: publish %s: %w", typ, err)
	}
	return id, nil
}

// Cursor is a position in a tenant's outbox: the publishing transaction's
// id and the row's sequence. Its text form ("<txid>-<seq>") is opaque to
// the tenant.
type Cursor struct {
	TxID uint64
	Seq  int64
}

func (c Cursor) String() string {
	return strconv.FormatUint(c.TxID, 10) + "-" + strconv.FormatInt(c.Seq, 10)
}

// ParseCursor reads a cursor; "" is the start.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	tx, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || seq < 0 {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{TxID: tx, Seq: seq}, nil
}

// OutEvent is one event as the tenant pulls it.
type OutEvent struct {
	ID        uuid.UUID       `json:"id"`
	Cursor    string          `json:"cursor"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

// Page is one pull.
type Page struct {
	Events []OutEvent `json:"events"`
	// NextCursor is the cursor of the last event returned (or the one
	// asked with, when there were none): pass it as after= to go on.
	NextCursor string `json:"next_cursor"`
}

// Limits of a pull.
const (
	DefaultPullLimit = 100
	MaxPullLimit     = 1000
)

// Pull returns up to limit unacknowledged events after the cursor, oldest
// first. Only events of transactions older than every transaction still
// running are served: a transaction that published earlier but commits
// later than another cannot put its event behind a cursor already given
// out (a sequence alone would: seq 10 committing after seq 11 was read).
// The price is that a long transaction anywhere in the database holds
// back delivery until it ends.
func (s *Service) Pull(ctx context.Context, tenantID uuid.UUID, after Cursor, limit int) (Page, error) {
	if limit <= 0 {
		limit = DefaultPullLimit
	}
	limit = min(limit, MaxPullLimit)
	page := Page{Events: []OutEvent{}, NextCursor: after.String()}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, txid::text, seq, type, payload, created_at FROM exchange_outbox
			WHERE tenant_id = $1 AND acked_at IS NULL
			  AND (txid, seq) > ($2::text::xid8, $3::bigint)
			  AND txid < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY txid, seq LIMIT $4`, tenantID, strconv.FormatUint(after.TxID, 10), after.Seq, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e OutEvent
			var txid string
			var c Cursor
			if err := rows.Scan(&e.ID, &txid, &c.Seq, &e.Type, &e.Payload, &e.CreatedAt); err != nil {
				return err
			}
			if c.TxID, err = strconv.ParseUint(txid, 10, 64); err != nil {
				return err
			}
			e.Cursor = c.String()
			page.Events = append(page.Events, e)
			page.NextCursor = e.Cursor
		}
		return rows.Err()
	})
	if err != nil {
		return Page{}, fmt.Errorf("exchange: pull: %w", err)
	}
	return page, nil
}

// Ack acknowledges events: every served event up to and including upTo
// (when given) and the events named by id. Acknowledged events are not
// served again; acknowledging twice is harmless. It returns how many
// events this call acknowledged.
func (s *Service) Ack(ctx context.Context, tenantID uuid.UUID, upTo *Cursor, eventIDs []uuid.UUID) (int64, error) {
	var n int64
	now := s.clock.Now().UTC()
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if upTo != nil {
			// Bounded by the same horizon as Pull: a cursor cannot
			// acknowledge what could not have been served yet.
			tag, err := tx.Exec(ctx, `UPDATE exchange_outbox SET acked_at = $4
				WHERE tenant_id = $1 AND acked_at IS NULL AND (txid, seq) <= ($2::text::xid8, $3::bigint)
				  AND txid < pg_snapshot_xmin(pg_current_snapshot())`,
				tenantID, strconv.FormatUint(upTo.TxID, 10), upTo.Seq, now)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		if len(eventIDs) > 0 {
			tag, err := tx.Exec(ctx, `UPDATE exchange_outbox SET acked_at = $3
				WHERE tenant_id = $1 AND id = ANY($2) AND acked_at IS NULL`, tenantID, eventIDs, now)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("exchange: ack: %w", err)
	}
	return n, nil
}
