package support

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// outTx is a tenant transaction that collects the outbox messages recorded
// in it. A call enqueued inside a transaction must not be made, and its
// result hook must not run, before the rows the hook updates are committed
// (a relay's result records the copy's id on a support_messages row written
// in the same transaction); a rolled-back transaction must send nothing.
// So messages are recorded with EnqueueTx and queued with AfterCommit once
// the transaction has committed.
//
// Order (DESIGN.md invariant 3): a topic's transactions are serialised by
// its row lock, but their AfterCommit calls are not — the topic-created
// hook's relays could be queued after those of the person's next message,
// which took the lock the moment the hook committed. So each transaction
// that locked a topic and enqueued something swaps its ids into the
// topic's chain key (Redis, before its commit, still under the lock) and
// gets the previous transaction's ids; after its commit it queues those
// first, then its own. AfterCommit skips ids already queued, so the
// predecessor's own call and ours may race harmlessly.
type outTx struct {
	pgx.Tx
	ids    []uuid.UUID
	topics []uuid.UUID // topic rows locked in this transaction
	prev   []uuid.UUID // ids of the topics' previous transactions
}

// chainTTL bounds how long a transaction's ids stay in its topics' chain
// keys; far longer than a commit plus AfterCommit takes.
const chainTTL = 30 * time.Second

func chainKey(topicID uuid.UUID) string { return "support:chain:" + topicID.String() }

// noteTopic records a locked topic row in a collecting transaction.
func noteTopic(tx pgx.Tx) func(*topicRow, error) (*topicRow, error) {
	return func(t *topicRow, err error) (*topicRow, error) {
		if otx, ok := tx.(*outTx); ok && err == nil && t != nil && !slices.Contains(otx.topics, t.ID) {
			otx.topics = append(otx.topics, t.ID)
		}
		return t, err
	}
}

// chain swaps the transaction's ids into its topics' chain keys and keeps
// the previous ids. A Redis error only loses the ordering help.
func (s *Service) chain(ctx context.Context, otx *outTx) {
	if len(otx.ids) == 0 || len(otx.topics) == 0 {
		return
	}
	parts := make([]string, len(otx.ids))
	for i, id := range otx.ids {
		parts[i] = id.String()
	}
	val := strings.Join(parts, ",")
	for _, topic := range otx.topics {
		old, err := s.rdb.SetArgs(ctx, chainKey(topic), val, redis.SetArgs{Get: true, TTL: chainTTL}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			s.log.Warn("support: topic chain", "topic_id", topic, "error", err)
			continue
		}
		for _, p := range strings.Split(old, ",") {
			if id, err := uuid.Parse(p); err == nil && !slices.Contains(otx.prev, id) {
				otx.prev = append(otx.prev, id)
			}
		}
	}
}

// inTenant is db.InTenant whose transaction collects outbox messages
// (enqueueTx) and queues them after a successful commit.
func (s *Service) inTenant(ctx context.Context, tenantID uuid.UUID, fn func(tx pgx.Tx) error) error {
	var otx *outTx
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		otx = &outTx{Tx: tx}
		if err := fn(otx); err != nil {
			return err
		}
		s.chain(ctx, otx) // still under the topics' row locks
		return nil
	})
	if err != nil || otx == nil || len(otx.ids) == 0 {
		return err
	}
	if err := s.ob.AfterCommit(ctx, append(otx.prev, otx.ids...)...); err != nil {
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
