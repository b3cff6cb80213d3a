package survey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Task types.
const (
	// TaskScan starts due scheduled runs and resumes stalled ones (periodic).
	TaskScan = "survey:scan"
	// TaskAsk asks the next batch of a run's audience.
	TaskAsk = "survey:ask"
)

// NewScanTask is the periodic scan.
func NewScanTask() *asynq.Task { return asynq.NewTask(TaskScan, nil) }

type askPayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	RunID    uuid.UUID `json:"run_id"`
	Cursor   string    `json:"cursor"`
}

// NewAskTask asks the batch of a run's audience after cursor.
func NewAskTask(tenantID, runID uuid.UUID, cursor string) *asynq.Task {
	raw, _ := json.Marshal(askPayload{TenantID: tenantID, RunID: runID, Cursor: cursor})
	return asynq.NewTask(TaskAsk, raw)
}

// Register adds the survey task handlers to the worker server.
func (s *Service) Register(srv *queue.Server) {
	srv.Handle(TaskScan, func(ctx context.Context, _ *asynq.Task) error { return s.Scan(ctx) })
	srv.Handle(TaskAsk, s.HandleAsk)
}

// Periodic is the scan job for the leader-elected scheduler.
func (s *Service) Periodic() queue.Periodic {
	return queue.Periodic{Name: TaskScan, Every: s.opts.ScanEvery, Task: NewScanTask, Queue: queue.Default}
}

// enqueueAsk queues the batch after cursor; the task id is derived from the
// run and the cursor, so queueing one batch twice is a no-op.
func (s *Service) enqueueAsk(ctx context.Context, tenantID, runID uuid.UUID, cursor, suffix string) error {
	if s.opts.Queue == nil {
		return ErrNoQueue
	}
	sum := sha256.Sum256([]byte(cursor))
	id := "survey:ask:" + runID.String() + ":" + hex.EncodeToString(sum[:8]) + suffix
	err := s.opts.Queue.Enqueue(ctx, NewAskTask(tenantID, runID, cursor), asynq.TaskID(id), asynq.Queue(queue.Broadcast),
		asynq.Retention(time.Hour), asynq.MaxRetry(10))
	if err != nil {
		return fmt.Errorf("survey: enqueue ask: %w", err)
	}
	return nil
}

// HandleAsk asks one batch of a run's audience. The page is read first; then
// one transaction locks the run, checks that its checkpoint is still this
// task's cursor (a duplicate or stale task does nothing), records the asks
// with their first questions in the outbox and moves the checkpoint on. A
// contact is asked at most once per run: the ask row and the outbox's
// idempotency key are both unique per (run, contact).
func (s *Service) HandleAsk(ctx context.Context, t *asynq.Task) error {
	var p askPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("survey: ask payload: %v: %w", err, asynq.SkipRetry)
	}
	var spec AudienceSpec
	var current string
	err := s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		var raw []byte
		var state string
		err := tx.QueryRow(ctx, `SELECT audience, ask_cursor, ask_state FROM survey_runs WHERE id = $1`, p.RunID).
			Scan(&raw, &current, &state)
		if db.IsNotFound(err) || (err == nil && (state != "asking" || raw == nil)) {
			current = "\x00" // nothing to do
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &spec)
	})
	if err != nil {
		return fmt.Errorf("survey: ask batch: %w", err)
	}
	if current != p.Cursor {
		return nil // stale: another task moved the checkpoint, or the run is done
	}
	page, err := s.opts.Audience.Page(ctx, p.TenantID, spec, p.Cursor, s.opts.AskBatch)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	var queued []uuid.UUID
	proceed := false
	err = s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		queued, proceed = nil, false
		var surveyID uuid.UUID
		var cursor, state string
		var closesAt, closedAt *time.Time
		err := tx.QueryRow(ctx, `SELECT survey_id, ask_cursor, ask_state, closes_at, closed_at FROM survey_runs WHERE id = $1 FOR UPDATE`,
			p.RunID).Scan(&surveyID, &cursor, &state, &closesAt, &closedAt)
		if err != nil {
			return fmt.Errorf("store: run: %w", err)
		}
		if state != "asking" || cursor != p.Cursor {
			return nil
		}
		run := runRow{ClosesAt: closesAt, ClosedAt: closedAt}
		if run.closed(now) {
			_, err := tx.Exec(ctx, `UPDATE survey_runs SET ask_state = 'done', ask_touched_at = $2 WHERE id = $1`, p.RunID, now)
			return err
		}
		if queued, err = s.askTx(ctx, tx, p.TenantID, surveyID, p.RunID, page.Recipients, outbox.Bulk, now); err != nil {
			return err
		}
		state = "asking"
		if page.Done {
			state = "done"
		}
		if _, err := tx.Exec(ctx, `UPDATE survey_runs SET ask_cursor = $2, ask_state = $3, ask_touched_at = $4 WHERE id = $1`,
			p.RunID, page.Next, state, now); err != nil {
			return fmt.Errorf("store: ask checkpoint: %w", err)
		}
		proceed = !page.Done
		return nil
	})
	if err != nil {
		return fmt.Errorf("survey: ask batch: %w", err)
	}
	s.afterCommit(ctx, p.TenantID, queued)
	if proceed {
		return s.enqueueAsk(ctx, p.TenantID, p.RunID, page.Next, "")
	}
	return nil
}
