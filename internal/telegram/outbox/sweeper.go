package outbox

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// NewSweepTask builds the periodic safety-net task.
func NewSweepTask() *asynq.Task { return asynq.NewTask(TaskSweep, nil) }

// Sweeper is the periodic job the lead registers on the scheduler.
func (o *Outbox) Sweeper() queue.Periodic {
	return queue.Periodic{Name: "outbox-sweep", Every: o.opts.SweepEvery, Task: NewSweepTask, Queue: queue.Default}
}

func (o *Outbox) handleSweep(ctx context.Context, _ *asynq.Task) error {
	return o.Sweep(ctx)
}

// Sweep re-kicks bots with queued work and no pump (a killed worker), queues
// EnqueueTx messages whose AfterCommit never came, puts open rows Redis may
// have lost back into their queues, enqueues result hooks still pending
// after HookGrace, and prunes old finished rows.
// Interrupted calls are resolved by the pump it kicks, which takes over what
// the dead pump left in flight (bulk: 'unknown'; live: sent again).
func (o *Outbox) Sweep(ctx context.Context) error {
	active, err := o.rdb.HGetAll(ctx, o.keys.active()).Result()
	if err != nil {
		return fmt.Errorf("outbox: sweep: %w", err)
	}
	now := o.clock.Now()
	for botStr, tenantStr := range active {
		botID, err1 := strconv.ParseInt(botStr, 10, 64)
		tenantID, err2 := uuid.Parse(tenantStr)
		if err1 != nil || err2 != nil {
			continue
		}
		n, err := o.rdb.Exists(ctx, o.keys.lock(botID), o.keys.kick(botID)).Result()
		if err != nil {
			return fmt.Errorf("outbox: sweep: %w", err)
		}
		if n == 0 {
			if err := o.kick(ctx, tenantID, botID, now); err != nil {
				return fmt.Errorf("outbox: sweep: kick bot %d: %w", botID, err)
			}
		}
	}
	if err := o.sweepPending(ctx); err != nil {
		return fmt.Errorf("outbox: sweep: pending: %w", err)
	}
	if err := o.reindexStale(ctx); err != nil {
		return err
	}
	if err := o.sweepHooks(ctx); err != nil {
		return err
	}
	err = o.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT outbox_prune($1)`, now.Add(-o.opts.Retention))
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox: sweep: prune: %w", err)
	}
	return nil
}

// reindexStale pushes open rows older than StaleAfter into Redis again;
// pushes are idempotent, so rows still queued are untouched.
func (o *Outbox) reindexStale(ctx context.Context) error {
	type stale struct {
		id, tenant     uuid.UUID
		bot, chat      int64
		thread         int
		method         string
		prio, chatCost int16
		seq            int64
	}
	var rows []stale
	err := o.db.InTx(ctx, func(tx pgx.Tx) error {
		r, err := tx.Query(ctx, `SELECT id, tenant_id, bot_id, chat_id, thread_id, method, priority, seq, cost FROM outbox_open_before($1, 500)`,
			o.clock.Now().Add(-o.opts.StaleAfter))
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var s stale
			if err := r.Scan(&s.id, &s.tenant, &s.bot, &s.chat, &s.thread, &s.method, &s.prio, &s.seq, &s.chatCost); err != nil {
				return err
			}
			rows = append(rows, s)
		}
		return r.Err()
	})
	if err != nil {
		return fmt.Errorf("outbox: sweep: open rows: %w", err)
	}
	kicked := map[int64]bool{}
	for _, s := range rows {
		e := entry{ID: s.id, Cost: cost{chat: int(s.chatCost), bot: methods[s.method].bot}, Priority: Priority(s.prio), Seq: s.seq,
			Own: methods[s.method].own}
		if err := o.push(ctx, s.tenant, s.bot, s.chat, s.thread, e); err != nil {
			return fmt.Errorf("outbox: sweep: reindex: %w", err)
		}
		if !kicked[s.bot] {
			kicked[s.bot] = true
			if err := o.kick(ctx, s.tenant, s.bot, o.clock.Now()); err != nil {
				return fmt.Errorf("outbox: sweep: kick: %w", err)
			}
		}
	}
	return nil
}
