package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// Call operations.
const (
	OpUpdateDeal = "update_deal"
	OpAddNote    = "add_note"
	// OpUpdateContact is a write-back to a CRM contact.
	OpUpdateContact = "update_contact"
)

// rateLimited retries a task after a wait that does not count as a failed
// attempt (queue.RateLimitedError); the wait is at least MinRetry.
func (s *Service) rateLimited(after time.Duration, cause error) error {
	if after < s.opts.MinRetry {
		after = s.opts.MinRetry
	}
	return &queue.RateLimitedError{After: after, Cause: cause}
}

// UpdateDeal queues a deal update. key makes it idempotent per connector
// (the same key twice is one call); empty means always a new call.
func (s *Service) UpdateDeal(ctx context.Context, tenantID, connectorID uuid.UUID, key string, u DealUpdate) (uuid.UUID, error) {
	if strings.TrimSpace(u.DealID) == "" {
		return uuid.Nil, invalid("deal_id", "required", "the deal to update")
	}
	return s.enqueueCall(ctx, tenantID, connectorID, key, OpUpdateDeal, u)
}

// AddNote queues a note on a deal.
func (s *Service) AddNote(ctx context.Context, tenantID, connectorID uuid.UUID, key string, n Note) (uuid.UUID, error) {
	if strings.TrimSpace(n.DealID) == "" {
		return uuid.Nil, invalid("deal_id", "required", "the deal to note")
	}
	if strings.TrimSpace(n.Text) == "" {
		return uuid.Nil, invalid("text", "required", "the note's text")
	}
	return s.enqueueCall(ctx, tenantID, connectorID, key, OpAddNote, n)
}

// UpdateContact queues a write to a CRM contact (phones to add, fields to
// set), made through crm:call like UpdateDeal: retried while the CRM is
// down, visible in the connector's calls and health.
func (s *Service) UpdateContact(ctx context.Context, tenantID, connectorID uuid.UUID, key string, u ContactUpdate) (uuid.UUID, error) {
	if strings.TrimSpace(u.ContactID) == "" || len(u.ContactID) > 64 {
		return uuid.Nil, invalid("contact_id", "required", "the CRM contact to update")
	}
	if len(u.Phones) == 0 && len(u.Fields) == 0 {
		return uuid.Nil, invalid("phones", "required", "phones to add or fields to set")
	}
	return s.enqueueCall(ctx, tenantID, connectorID, key, OpUpdateContact, u)
}

// enqueueCall records the call, then queues its task. A lost enqueue is
// found by the sweeper: the row is the truth.
func (s *Service) enqueueCall(ctx context.Context, tenantID, connectorID uuid.UUID, key, op string, payload any) (uuid.UUID, error) {
	if key == "" {
		key = ids.New().String()
	}
	if len(key) > 200 {
		return uuid.Nil, invalid("key", "too_long", "at most 200 characters")
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return uuid.Nil, fmt.Errorf("crm: call payload: %w", err)
	}
	var id uuid.UUID
	var status string
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		// Explicit: a foreign key check would accept another tenant's connector.
		if _, err := getConnector(ctx, tx, connectorID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO crm_calls (id, tenant_id, connector_id, key, op, payload, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
			ON CONFLICT (connector_id, key) DO UPDATE SET key = EXCLUDED.key
			RETURNING id, status`, ids.New(), tenantID, connectorID, key, op, raw, s.clock.Now()).Scan(&id, &status)
	})
	if err != nil {
		return uuid.Nil, err
	}
	if status == "pending" {
		t, opts := NewCallTask(tenantID, id)
		if err := s.q.Enqueue(ctx, t, opts...); err != nil {
			s.log.Warn("crm: enqueue call; the sweeper will retry", "tenant_id", tenantID, "call_id", id, "error", err)
		}
	}
	return id, nil
}

type callRow struct {
	ID          uuid.UUID
	ConnectorID uuid.UUID
	Op          string
	Payload     []byte
	Status      string
	Attempts    int
}

func (s *Service) handleCall(ctx context.Context, t *asynq.Task) error {
	var p callPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	var c callRow
	var conn connectorRow
	err := s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id, connector_id, op, payload, status, attempts FROM crm_calls WHERE id = $1`, p.CallID).
			Scan(&c.ID, &c.ConnectorID, &c.Op, &c.Payload, &c.Status, &c.Attempts)
		if err != nil {
			return err
		}
		conn, err = getConnector(ctx, tx, c.ConnectorID)
		return err
	})
	if db.IsNotFound(err) || errors.Is(err, ErrConnectorNotFound) {
		return nil // deleted with its connector
	}
	if err != nil {
		return err
	}
	if c.Status != "pending" {
		return nil
	}
	callErr := s.perform(ctx, p.TenantID, conn, c)
	attempts := c.Attempts + 1
	var rl *RateLimitedError
	switch {
	case callErr == nil:
		return s.finishCall(ctx, p.TenantID, c, attempts, "done", nil)
	case errors.As(callErr, &rl):
		// Not a failure: wait as long as the CRM asked.
		if err := s.updateCall(ctx, p.TenantID, c.ID, attempts, callErr); err != nil {
			return err
		}
		return s.rateLimited(rl.RetryAfter, callErr)
	case errors.Is(callErr, ErrUnavailable) && attempts < s.opts.MaxAttempts:
		if err := s.updateCall(ctx, p.TenantID, c.ID, attempts, callErr); err != nil {
			return err
		}
		s.noteOutcome(ctx, p.TenantID, c.ConnectorID, callErr)
		return s.rateLimited(s.opts.Backoff(attempts), callErr)
	default:
		s.log.Warn("crm: call failed", "tenant_id", p.TenantID, "connector_id", c.ConnectorID, "call_id", c.ID,
			"op", c.Op, "attempts", attempts, "error", callErr)
		return s.finishCall(ctx, p.TenantID, c, attempts, "failed", callErr)
	}
}

func (s *Service) perform(ctx context.Context, tenantID uuid.UUID, row connectorRow, c callRow) error {
	conn, err := s.build(tenantID, row)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch c.Op {
	case OpUpdateDeal:
		var u DealUpdate
		if err := json.Unmarshal(c.Payload, &u); err != nil {
			return fmt.Errorf("%w: payload: %v", ErrInvalid, err)
		}
		return conn.UpdateDeal(ctx, u)
	case OpAddNote:
		var n Note
		if err := json.Unmarshal(c.Payload, &n); err != nil {
			return fmt.Errorf("%w: payload: %v", ErrInvalid, err)
		}
		return conn.AddNote(ctx, n)
	case OpUpdateContact:
		var u ContactUpdate
		if err := json.Unmarshal(c.Payload, &u); err != nil {
			return fmt.Errorf("%w: payload: %v", ErrInvalid, err)
		}
		return conn.UpdateContact(ctx, u)
	}
	return fmt.Errorf("%w: unknown op %q", ErrInvalid, c.Op)
}

func (s *Service) updateCall(ctx context.Context, tenantID, id uuid.UUID, attempts int, callErr error) error {
	return s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE crm_calls SET attempts = $2, last_error = left($3, 500), updated_at = $4 WHERE id = $1`,
			id, attempts, callErr.Error(), s.clock.Now())
		return err
	})
}

func (s *Service) finishCall(ctx context.Context, tenantID uuid.UUID, c callRow, attempts int, status string, callErr error) error {
	msg := ""
	if callErr != nil {
		msg = callErr.Error()
	}
	now := s.clock.Now()
	return s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE crm_calls SET status = $2, attempts = $3, last_error = left($4, 500),
			updated_at = $5, done_at = $5 WHERE id = $1`, c.ID, status, attempts, msg, now); err != nil {
			return fmt.Errorf("store: finish call: %w", err)
		}
		if errors.Is(callErr, ErrUnauthorized) {
			if err := setStatus(ctx, tx, c.ConnectorID, "auth_error", msg, now); err != nil {
				return err
			}
		}
		return recordOutcome(ctx, tx, c.ConnectorID, callErr, now)
	})
}

// Calls lists a connector's most recent calls.
func (s *Service) Calls(ctx context.Context, tenantID, connectorID uuid.UUID, limit int) ([]CallView, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	out := []CallView{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := getConnector(ctx, tx, connectorID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, op, status, attempts, last_error, updated_at FROM crm_calls
			WHERE connector_id = $1 ORDER BY created_at DESC LIMIT $2`, connectorID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c CallView
			if err := rows.Scan(&c.ID, &c.Op, &c.Status, &c.Attempts, &c.LastError, &c.UpdatedAt); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// Sweep re-queues pending calls untouched for two minutes (their task was
// lost, or never queued; TaskIDs make it a no-op for calls still queued)
// and prunes finished calls and spent link codes after 30 days.
func (s *Service) Sweep(ctx context.Context) error {
	type stale struct{ tenant, call uuid.UUID }
	var list []stale
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, call_id FROM crm_stale_calls($1, 500)`, s.clock.Now().Add(-2*time.Minute))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st stale
			if err := rows.Scan(&st.tenant, &st.call); err != nil {
				return err
			}
			list = append(list, st)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("crm: sweep: %w", err)
	}
	for _, st := range list {
		t, opts := NewCallTask(st.tenant, st.call)
		if err := s.q.Enqueue(ctx, t, opts...); err != nil {
			return fmt.Errorf("crm: sweep: %w", err)
		}
	}
	// Finished calls stay visible for 30 days.
	var pruned int64
	if err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT prune_crm($1)`, s.clock.Now().Add(-30*24*time.Hour)).Scan(&pruned)
	}); err != nil {
		return fmt.Errorf("crm: prune: %w", err)
	}
	if pruned > 0 {
		s.log.Info("crm: pruned old calls and link codes", "rows", pruned)
	}
	return nil
}
