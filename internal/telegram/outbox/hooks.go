package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// TaskHook runs the result hooks of one finished message, off the send path.
const TaskHook = "outbox:hook"

// Result hooks are durable: the outcome's UPDATE also stores the Result in
// hook_result, the sender then enqueues an "outbox:hook" task (TaskID from
// the message id, so one task per outcome), and the task clears hook_result
// once every hook of the kind returned nil. A failing hook is retried with
// back-off; a crash between the outcome and the enqueue is covered by the
// sweeper, which re-enqueues rows still pending after HookGrace. Hooks may
// therefore run more than once for one outcome and must be idempotent.

// NewHookTask builds the task that runs r's hooks.
func NewHookTask(r Result) (*asynq.Task, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("outbox: hook task: %w", err)
	}
	return asynq.NewTask(TaskHook, b), nil
}

var errHooksBusy = errors.New("outbox: hooks busy")

func hookTaskID(id uuid.UUID) string { return "outbox-hook:" + id.String() }

// hasHooks reports whether results of kind have a hook to run.
func (o *Outbox) hasHooks(kind string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return len(o.hooks[kind]) > 0 || (kind != "" && len(o.hooks[""]) > 0)
}

// resultOf builds what the hooks are told about a finished call.
func resultOf(c claimed, out outcome, result json.RawMessage, migrate int64) Result {
	ids, topic := resultIDs(result)
	if out.MessageIDs != nil {
		ids = out.MessageIDs
	}
	return Result{
		ID: c.ID, TenantID: c.TenantID, BotID: c.BotID, ChatID: c.ChatID, ThreadID: c.ThreadID,
		Method: c.Method, Kind: c.Kind, Ref: c.Ref, Priority: c.Priority, Status: out.Status,
		MessageIDs: ids, TopicID: topic, Response: result, ErrorCode: out.Code, Description: out.Description,
		MigrateToChatID: migrate, Attempts: c.Attempts, MaybeDuplicate: c.MaybeDup,
	}
}

// pendingHook is the hook_result value an outcome's UPDATE stores: the
// Result as JSON text when the kind has hooks, else nil (NULL).
func (o *Outbox) pendingHook(r Result) (any, error) {
	if !o.hasHooks(r.Kind) {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// enqueueHook hands r to its hooks: at once in this process when a hook
// slot is free (no queue hop: the task's enqueue, dequeue and completion
// were a fifth of what a relayed message cost Redis, and the hop's wait
// delayed a new topic's first messages), else as an "outbox:hook" task. A
// failed inline run goes to the task, which counts attempts and backs off.
// A failure to enqueue is only logged: the row keeps hook_result and the
// sweeper enqueues it after HookGrace (also if the process dies mid-run).
func (o *Outbox) enqueueHook(ctx context.Context, r Result) {
	if o.hookEnqueueHook != nil {
		if err := o.hookEnqueueHook(r); err != nil {
			o.log.Warn("outbox: hand over result hook; the sweeper retries", "tenant_id", r.TenantID, "bot_id", r.BotID,
				"message_id", r.ID, "kind", r.Kind, "error", err)
			return
		}
	}
	slots := o.slotsFor(r)
	select {
	case slots <- struct{}{}:
		o.inlineMu.Lock()
		closing := o.closing
		if !closing {
			o.inline.Add(1)
		}
		o.inlineMu.Unlock()
		if !closing {
			go func() {
				defer o.inline.Done()
				o.runHooksInline(r, slots)
			}()
			return
		}
		<-slots
	default:
	}
	if err := o.enqueueHookTask(ctx, r); err != nil {
		o.log.Warn("outbox: enqueue result hook; the sweeper retries", "tenant_id", r.TenantID, "bot_id", r.BotID,
			"message_id", r.ID, "kind", r.Kind, "error", err)
	}
}

// runHooksInline runs r's hooks under a slot already taken (released
// here), then clears the pending hook, or hands a failure to the task.
func (o *Outbox) runHooksInline(r Result, slots chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), o.opts.HookTimeout)
	defer cancel()
	var hookErr error
	func() {
		defer func() { <-slots }()
		for _, h := range o.hooksFor(r.Kind) {
			if err := h(ctx, r); err != nil {
				hookErr = errors.Join(hookErr, err)
			}
		}
	}()
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	if hookErr == nil {
		if err := o.clearHook(bctx, r); err != nil {
			o.log.Warn("outbox: clear result hook; the sweeper runs it again", "tenant_id", r.TenantID, "message_id", r.ID, "error", err)
		}
		return
	}
	// As in the task: the attempt is counted on the row and the next run
	// comes from the queue after the back-off.
	n, err := o.hookFailed(bctx, r)
	switch {
	case err != nil:
		n = 1
	case n == 0:
		return // another run of this outcome already succeeded
	case n >= o.opts.HookMaxAttempts:
		o.log.Error("outbox: result hook given up", "tenant_id", r.TenantID, "message_id", r.ID, "attempts", n, "error", hookErr)
		if err := o.clearHook(bctx, r); err != nil {
			o.log.Warn("outbox: clear result hook", "tenant_id", r.TenantID, "message_id", r.ID, "error", err)
		}
		return
	}
	o.log.Warn("outbox: result hook failed; retrying", "tenant_id", r.TenantID, "bot_id", r.BotID,
		"message_id", r.ID, "kind", r.Kind, "attempts", n, "error", hookErr)
	if err := o.enqueueHookTask(bctx, r, asynq.ProcessIn(hookBackoff(n))); err != nil {
		o.log.Warn("outbox: enqueue result hook; the sweeper retries", "tenant_id", r.TenantID, "message_id", r.ID, "error", err)
	}
}

// hookQueue: results of Topic-priority calls (a topic's creation, whose hook
// posts the topic's first messages; close, reopen) are on the live path and
// go to the outbound queue; the rest (recording a copy's id, say) to default.
func hookQueue(r Result) string {
	if r.Priority == Topic {
		return queue.Outbound
	}
	return queue.Default
}

// slotsFor is the semaphore a result's hooks run under: Topic-priority
// results have their own, so they never wait behind a flood of other hooks.
func (o *Outbox) slotsFor(r Result) chan struct{} {
	if r.Priority == Topic {
		return o.topicHookSlots
	}
	return o.hookSlots
}

func (o *Outbox) enqueueHookTask(ctx context.Context, r Result, more ...asynq.Option) error {
	o.hookTasks.Add(1)
	t, err := NewHookTask(r)
	if err != nil {
		return err
	}
	opts := append([]asynq.Option{asynq.Queue(hookQueue(r)), asynq.TaskID(hookTaskID(r.ID)),
		asynq.Timeout(o.opts.HookTimeout), asynq.MaxRetry(20)}, more...)
	return o.q.Enqueue(ctx, t, opts...)
}

// handleHook runs the hooks of one result. On success the row's pending
// hook is cleared; on failure the attempt is counted and the task retried
// after a back-off (1 s doubling up to 5 min) until HookMaxAttempts, when it
// is given up (logged as an error, the row's outcome stays as it is).
func (o *Outbox) handleHook(ctx context.Context, t *asynq.Task) error {
	var r Result
	if err := json.Unmarshal(t.Payload(), &r); err != nil || r.ID == uuid.Nil || r.TenantID == uuid.Nil {
		return fmt.Errorf("outbox: hook: bad payload: %w", asynq.SkipRetry)
	}
	log := o.log.With("tenant_id", r.TenantID, "bot_id", r.BotID, "message_id", r.ID, "kind", r.Kind)
	// Wait briefly for a slot; when hooks are busy, come back later rather
	// than hold a worker that a pump may need.
	slots := o.slotsFor(r)
	wait := time.NewTimer(200 * time.Millisecond)
	select {
	case slots <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		return &queue.RateLimitedError{After: 100 * time.Millisecond, Cause: errHooksBusy}
	case <-ctx.Done():
		wait.Stop()
		return ctx.Err()
	}
	var hookErr error
	func() {
		defer func() { <-slots }()
		for _, h := range o.hooksFor(r.Kind) {
			if err := h(ctx, r); err != nil {
				hookErr = errors.Join(hookErr, err)
			}
		}
	}()
	// Book-keeping outlives the run's deadline.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if hookErr == nil {
		if err := o.clearHook(bctx, r); err != nil {
			return fmt.Errorf("outbox: hook %s: clear: %w", r.ID, err)
		}
		return nil
	}
	n, err := o.hookFailed(bctx, r)
	switch {
	case err != nil:
		log.Warn("outbox: result hook failed", "error", hookErr)
		return fmt.Errorf("outbox: hook %s: count failure: %w (hook: %w)", r.ID, err, hookErr)
	case n == 0:
		return nil // another run of this outcome already succeeded
	case n >= o.opts.HookMaxAttempts:
		log.Error("outbox: result hook given up", "attempts", n, "error", hookErr)
		if err := o.clearHook(bctx, r); err != nil {
			return fmt.Errorf("outbox: hook %s: clear: %w", r.ID, err)
		}
		return nil
	}
	after := hookBackoff(n)
	log.Warn("outbox: result hook failed; retrying", "attempts", n, "retry_in", after, "error", hookErr)
	// Not an asynq failure: the attempts are counted on the row, and the
	// retry comes after exactly our back-off.
	return &queue.RateLimitedError{After: after, Cause: fmt.Errorf("outbox: hook %s: %w", r.ID, hookErr)}
}

func hookBackoff(failures int) time.Duration {
	d := time.Second << min(failures-1, 9)
	return min(d, 5*time.Minute)
}

// clearHook marks r's hooks done; concurrent clears of a tenant go as one
// statement (coalesce.go).
func (o *Outbox) clearHook(_ context.Context, r Result) error {
	_, err := o.clears.do(r.TenantID, r.ID)
	return err
}

func (o *Outbox) clearBatch(ctx context.Context, tenantID uuid.UUID, idList []uuid.UUID) ([]struct{}, error) {
	b := &pgx.Batch{}
	b.Queue(`UPDATE outbox_messages SET hook_result = NULL WHERE tenant_id = $1 AND id = ANY($2) AND hook_result IS NOT NULL`,
		tenantID, idList)
	err := o.db.InTenantPipeline(ctx, tenantID, b, func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return err
	})
	if err != nil {
		return nil, err
	}
	return make([]struct{}, len(idList)), nil
}

// hookFailed counts a failed run; 0 means the hook is no longer pending.
func (o *Outbox) hookFailed(ctx context.Context, r Result) (int, error) {
	var n int
	err := o.db.InTenant(ctx, r.TenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE outbox_messages SET hook_attempts = hook_attempts + 1
			WHERE tenant_id = $1 AND id = $2 AND hook_result IS NOT NULL RETURNING hook_attempts`,
			r.TenantID, r.ID).Scan(&n)
		if db.IsNotFound(err) {
			return nil
		}
		return err
	})
	return n, err
}

// sweepHooks enqueues the hook tasks of rows whose hooks are still pending
// HookGrace after their outcome (the process died before enqueueing, or
// the enqueue failed). A task still queued or retrying keeps its TaskID,
// so this adds nothing for it.
func (o *Outbox) sweepHooks(ctx context.Context) error {
	var rs []Result
	err := o.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, tenant_id, hook_result FROM outbox_hooks_pending($1, 500)`,
			o.opts.HookGrace.Seconds())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, tenant uuid.UUID
			var raw []byte
			if err := rows.Scan(&id, &tenant, &raw); err != nil {
				return err
			}
			var r Result
			if err := json.Unmarshal(raw, &r); err != nil || r.ID != id || r.TenantID != tenant {
				o.log.Error("outbox: sweep: malformed pending hook", "tenant_id", tenant, "message_id", id)
				continue
			}
			rs = append(rs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("outbox: sweep: pending hooks: %w", err)
	}
	for _, r := range rs {
		if err := o.enqueueHookTask(ctx, r); err != nil {
			return fmt.Errorf("outbox: sweep: hooks: %w", err)
		}
	}
	return nil
}
