package support

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// outTx is a tenant transaction that collects the outbox messages recorded
// in it. A call enqueued inside a transaction must not be made, and its
// result hook must not run, before the rows the hook updates are committed
// (a relay's result records the copy's id on a support_messages row written
// in the same transaction); a rolled-back transaction must send nothing.
// So messages are recorded with EnqueueTx and queued with AfterCommit once
// the transaction has committed.
type outTx struct {
	pgx.Tx
	ids []uuid.UUID
}

// inTenant is db.InTenant whose transaction collects outbox messages
// (enqueueTx) and queues them after a successful commit.
func (s *Service) inTenant(ctx context.Context, tenantID uuid.UUID, fn func(tx pgx.Tx) error) error {
	var otx *outTx
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		otx = &outTx{Tx: tx}
		return fn(otx)
	})
	if err != nil || otx == nil || len(otx.ids) == 0 {
		return err
	}
	if err := s.ob.AfterCommit(ctx, otx.ids...); err != nil {
		// Not fatal: the outbox's sweeper queues committed rows after its
		// CommitGrace.
		s.log.Warn("support: outbox after commit", "tenant_id", tenantID, "error", err)
	}
	return nil
}

// enqueueTx records m in the collecting transaction tx (from inTenant); it
// is queued after the commit.
func (s *Service) enqueueTx(ctx context.Context, tx pgx.Tx, m outbox.Message) (uuid.UUID, error) {
	otx, ok := tx.(*outTx)
	if !ok {
		return uuid.Nil, fmt.Errorf("support: enqueue %s: not in a collecting transaction", m.Kind)
	}
	id, err := s.ob.EnqueueTx(ctx, otx.Tx, m)
	if err != nil {
		return uuid.Nil, err
	}
	otx.ids = append(otx.ids, id)
	return id, nil
}
