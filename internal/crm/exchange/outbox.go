package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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

// Outbox ordering. Sequence numbers are taken when a row is inserted but
// become visible when its transaction commits, so with a bare sequence a
// reader could see 11 while 10 is still uncommitted, move its cursor past
// 10 and never see it. Publishers therefore hold a shared advisory lock of
// their tenant's outbox until they commit, and a reader reads a page only
// while holding that lock exclusively: at that moment no sequence number of
// the tenant is in flight, and every number taken later is larger than any
// the reader can see. Publishers of one tenant never wait for each other.
// A waiting reader makes new publishers of its tenant queue behind it, so
// it waits at most readLockWait (below PostgreSQL's deadlock_timeout of 1 s:
// should a publisher it waits for itself wait for a queued publisher, the
// reader gives up first and no feature transaction is ever the deadlock
// victim); then it tries again, and after pullAttempts answers an empty page.
const lockClass = 0x6578 // "ex"

func lockKey(tenantID uuid.UUID) int32 {
	h := fnv.New32a()
	_, _ = h.Write(tenantID[:])
	return int32(h.Sum32())
}

// Publish records an event for the tenant's system inside the caller's
// transaction, which must be the tenant's (db.InTenant): the event exists
// exactly when the caller's change commits. typ is dotted lower case
// ("feedback.created"); payload is marshalled to a JSON object. Call it
// late in the transaction: from here to the commit, pulls of this tenant's
// outbox wait (briefly, then answer an empty page).
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
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, $2)`, lockClass, lockKey(tenantID)); err != nil {
		return uuid.Nil, fmt.Errorf("exchange: publish %s: lock: %w", typ, err)
	}
	id := ids.New()
	if _, err := tx.Exec(ctx, `INSERT INTO exchange_outbox (id, tenant_id, type, payload) VALUES ($1, $2, $3, $4)`,
		id, tenantID, typ, raw); err != nil {
		return uuid.Nil, fmt.Errorf("exchange: publish %s: %w", typ, err)
	}
	return id, nil
}

// Cursor is a position in a tenant's outbox (the last sequence number
// served). Its text form is opaque to the tenant.
type Cursor struct{ Seq int64 }

func (c Cursor) String() string { return strconv.FormatInt(c.Seq, 10) }

// ParseCursor reads a cursor; "" is the start.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 0 {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{Seq: seq}, nil
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
	readLockWait     = "200ms"
	pullAttempts     = 3
)

// errBusy: the reader's lock wait timed out.
var errBusy = errors.New("exchange: outbox busy")

// Pull returns up to limit unacknowledged events after the cursor, oldest
// first, read while no publishing transaction of the tenant is open (see
// lockClass). When publishers stay busy through every attempt it returns
// an empty page with the cursor unchanged; the tenant pulls again later.
func (s *Service) Pull(ctx context.Context, tenantID uuid.UUID, after Cursor, limit int) (Page, error) {
	if limit <= 0 {
		limit = DefaultPullLimit
	}
	limit = min(limit, MaxPullLimit)
	for attempt := 1; ; attempt++ {
		page, err := s.pull(ctx, tenantID, after, limit)
		if errors.Is(err, errBusy) && attempt < pullAttempts {
			continue
		}
		if errors.Is(err, errBusy) {
			return Page{Events: []OutEvent{}, NextCursor: after.String()}, nil
		}
		return page, err
	}
}

func (s *Service) pull(ctx context.Context, tenantID uuid.UUID, after Cursor, limit int) (Page, error) {
	page := Page{Events: []OutEvent{}, NextCursor: after.String()}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+readLockWait+"'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockClass, lockKey(tenantID)); err != nil {
			var pg *pgconn.PgError
			if errors.As(err, &pg) && pg.Code == "55P03" { // lock_not_available
				return errBusy
			}
			return err
		}
		// A statement after the lock: in READ COMMITTED it sees every
		// transaction that published before.
		rows, err := tx.Query(ctx, `SELECT id, seq, type, payload, created_at FROM exchange_outbox
			WHERE tenant_id = $1 AND acked_at IS NULL AND seq > $2
			ORDER BY seq LIMIT $3`, tenantID, after.Seq, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e OutEvent
			var c Cursor
			if err := rows.Scan(&e.ID, &c.Seq, &e.Type, &e.Payload, &e.CreatedAt); err != nil {
				return err
			}
			e.Cursor = c.String()
			page.Events = append(page.Events, e)
			page.NextCursor = e.Cursor
		}
		return rows.Err()
	})
	if errors.Is(err, errBusy) {
		return page, errBusy
	}
	if err != nil {
		return Page{}, fmt.Errorf("exchange: pull: %w", err)
	}
	return page, nil
}

// Ack acknowledges events: every event up to and including upTo (when
// given) and the events named by id. Acknowledged events are not served
// again; acknowledging twice is harmless. It returns how many events this
// call acknowledged.
func (s *Service) Ack(ctx context.Context, tenantID uuid.UUID, upTo *Cursor, eventIDs []uuid.UUID) (int64, error) {
	var n int64
	now := s.clock.Now().UTC()
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if upTo != nil {
			tag, err := tx.Exec(ctx, `UPDATE exchange_outbox SET acked_at = $3
				WHERE tenant_id = $1 AND acked_at IS NULL AND seq <= $2`, tenantID, upTo.Seq, now)
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
