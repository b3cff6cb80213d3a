package outbox

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// One round trip per book-keeping step.
//
// db.InTenant costs four round trips for one statement (BEGIN, set_config,
// the statement, COMMIT) and holds a pool connection for all of them. The
// claim and the outcome of an ordinary call are each one statement, so they
// go as a pipeline instead: set_config(..., true) and the statement are sent
// together with one Sync, which PostgreSQL runs as one implicit transaction
// (the tenant setting lasts until it ends, so row-level security applies to
// the statement exactly as in InTenant). One round trip, the connection held
// for that long only. Anything unusual (a row not 'queued' at claim, a
// 'blocked' outcome with its bot_chats and events writes) takes the
// transactional path.

// inTenantPipeline sends set_config and the queued statements of b as one
// implicit transaction and hands their results to read.
func (o *Outbox) inTenantPipeline(ctx context.Context, tenantID uuid.UUID, b *pgx.Batch, read func(br pgx.BatchResults) error) error {
	if tenantID == uuid.Nil {
		return fmt.Errorf("outbox: tenant pipeline without a tenant")
	}
	full := &pgx.Batch{}
	full.Queue("SELECT set_config('app.tenant_id', $1, true)", tenantID.String())
	full.QueuedQueries = append(full.QueuedQueries, b.QueuedQueries...)
	br := o.db.Pool.SendBatch(ctx, full)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("set tenant: %w", err)
	}
	rerr := read(br)
	cerr := br.Close()
	if rerr != nil {
		return rerr
	}
	return cerr
}

// claimQueued is claim's common case in one round trip: a 'queued' row
// becomes 'sending'. ok is false when the row is not 'queued' (gone,
// finished, or left 'sending' by an interrupted call): claim then decides.
func (o *Outbox) claimQueued(ctx context.Context, tenantID, id uuid.UUID) (claimed, bool, error) {
	c := claimed{ID: id, TenantID: tenantID}
	var prio int
	found := false
	b := &pgx.Batch{}
	b.Queue(`
		UPDATE outbox_messages SET status = 'sending', attempts = attempts + 1, sending_at = now()
		WHERE tenant_id = $1 AND id = $2 AND status = 'queued'
		RETURNING bot_id, chat_id, thread_id, method, params, priority, kind, ref, attempts, throttled, maybe_duplicate`, tenantID, id)
	err := o.inTenantPipeline(ctx, tenantID, b, func(br pgx.BatchResults) error {
		err := br.QueryRow().Scan(&c.BotID, &c.ChatID, &c.ThreadID, &c.Method, &c.Params, &prio, &c.Kind, &c.Ref, &c.Attempts, &c.Throttled, &c.MaybeDup)
		if db.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return nil
	})
	if err != nil {
		return c, false, fmt.Errorf("outbox: claim %s: %w", id, err)
	}
	c.Priority = Priority(prio)
	return c, found, nil
}

// finishPlain records an outcome other than 'blocked' in one round trip
// (see finish).
func (o *Outbox) finishPlain(ctx context.Context, c claimed, status string, throttled int, code *int, desc *string, ids []int64, latencyMS int, hook any) error {
	b := &pgx.Batch{}
	b.Queue(`
		UPDATE outbox_messages SET status = $3, throttled = throttled + $4, error_code = $5,
		       error_description = $6, message_ids = $7, latency_ms = $8,
		       finished_at = CASE WHEN $3 = 'queued' THEN NULL ELSE now() END,
		       hook_result = $10::jsonb
		WHERE tenant_id = $1 AND id = $2 AND status = 'sending' AND attempts = $9`,
		c.TenantID, c.ID, status, throttled, code, desc, ids, latencyMS, c.Attempts, hook)
	err := o.inTenantPipeline(ctx, c.TenantID, b, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errSuperseded
		}
		return nil
	})
	return err
}
