package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// TaskSweep re-queues write-backs whose task was lost.
const TaskSweep = "dispatch:sweep"

// Register installs the task handlers.
func (s *Service) Register(srv *queue.Server) {
	srv.Handle(TaskWriteback, s.handleWriteback)
	srv.Handle(TaskSweep, s.handleSweep)
}

// Sweeper is the periodic safety net for write-backs.
func (s *Service) Sweeper() queue.Periodic {
	return queue.Periodic{Name: TaskSweep, Every: time.Minute, Task: func() *asynq.Task { return asynq.NewTask(TaskSweep, nil) }}
}

func (s *Service) handleWriteback(ctx context.Context, t *asynq.Task) error {
	var p writebackPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID == uuid.Nil {
		return fmt.Errorf("dispatch: write-back payload: %v: %w", err, asynq.SkipRetry)
	}
	err := s.Writeback(ctx, p.TenantID, p.JobID, p.Generation)
	if err != nil && !crm.Retryable(err) && !errors.Is(err, crm.ErrUnauthorized) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

func (s *Service) handleSweep(ctx context.Context, _ *asynq.Task) error {
	type stalled struct {
		tenant, job uuid.UUID
		gen         int
	}
	var list []stalled
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, job_id, generation FROM dispatch_stalled_writebacks($1)`, s.clock.Now().Add(-5*time.Minute))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st stalled
			if err := rows.Scan(&st.tenant, &st.job, &st.gen); err != nil {
				return err
			}
			list = append(list, st)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("dispatch: sweep: %w", err)
	}
	for _, st := range list {
		// The TaskID keeps a write-back that is still queued or retrying
		// from being queued twice.
		if err := s.enqueueWriteback(ctx, st.tenant, st.job, st.gen, 0); err != nil {
			return err
		}
	}
	return nil
}

// Writeback makes the deal's CRM record show the take of generation gen:
// the executor as responsible user (their CRM user link) or, without a
// link, "Name @username" in the configured custom field; the next stage
// when configured; and a note. Progress is recorded after each call
// (pending -> updated -> done), so a retry repeats only what did not
// happen; an error is stored on the job (visible in the jobs list) and
// returned for the task to retry. A withdrawn or re-taken job is skipped.
func (s *Service) Writeback(ctx context.Context, tenantID, jobID uuid.UUID, gen int) error {
	var j *job
	var link string
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if j, err = jobByID(ctx, tx, jobID, false); err != nil || j == nil || j.TakenBy == nil {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT crm_user_id FROM crm_user_links WHERE tg_user_id = $1`, *j.TakenBy).Scan(&link)
		if db.IsNotFound(err) {
			err = nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("dispatch: write-back: %w", err)
	}
	if j == nil || j.Status != "taken" || j.Generation != gen || j.TakenBy == nil {
		return nil // withdrawn or taken again since: the newer take writes back
	}
	label := j.TakenName
	if j.TakenUsername != "" {
		label += " @" + j.TakenUsername
	}
	if j.Writeback == "pending" {
		u := crm.DealUpdate{DealID: j.DealID}
		if link != "" {
			u.ResponsibleUserID = &link
		} else if j.Options.ResponsibleField != "" {
			u.Fields = map[string]any{j.Options.ResponsibleField: label}
		}
		if j.Options.TakenStageID != "" {
			st := j.Options.TakenStageID
			u.StageID = &st
		}
		if u.ResponsibleUserID != nil || u.Fields != nil || u.StageID != nil {
			if err := s.crm.UpdateDeal(ctx, tenantID, j.ConnectorID, writebackKey(j, "update"), u); err != nil {
				return s.writebackFailed(ctx, tenantID, j, err)
			}
		}
		if err := s.setWriteback(ctx, tenantID, j, "pending", "updated", ""); err != nil {
			return err
		}
		j.Writeback = "updated"
	}
	if j.Writeback == "updated" {
		note := fmt.Sprintf("Executor: %s (Telegram id %d) took the order via the Telegram executors' chat (assignment #%d).",
			label, *j.TakenBy, j.Generation)
		if err := s.crm.AddNote(ctx, tenantID, j.ConnectorID, writebackKey(j, "note"), crm.Note{DealID: j.DealID, Text: note}); err != nil {
			return s.writebackFailed(ctx, tenantID, j, err)
		}
		if err := s.setWriteback(ctx, tenantID, j, "updated", "done", ""); err != nil {
			return err
		}
	}
	return nil
}

// writebackKey is the CRM call's idempotency key: one per take (job and
// generation), so a retried write-back is one call and a re-take of the
// same job is a new one even when its content is byte-identical.
func writebackKey(j *job, what string) string {
	return fmt.Sprintf("dispatch:%s:%d:%s", j.ID, j.Generation, what)
}

func (s *Service) setWriteback(ctx context.Context, tenantID uuid.UUID, j *job, from, to, errText string) error {
	return s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE dispatch_jobs SET writeback = $4, writeback_error = $5, updated_at = $6
			WHERE id = $1 AND generation = $2 AND writeback = $3`, j.ID, j.Generation, from, to, errText, s.clock.Now())
		if err != nil {
			return fmt.Errorf("dispatch: write-back state: %w", err)
		}
		return nil
	})
}

// writebackFailed records the CRM's error on the job and returns it; an
// error that retrying cannot fix marks the write-back failed.
func (s *Service) writebackFailed(ctx context.Context, tenantID uuid.UUID, j *job, cause error) error {
	final := !crm.Retryable(cause) && !errors.Is(cause, crm.ErrUnauthorized)
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE dispatch_jobs SET writeback_attempts = writeback_attempts + 1, writeback_error = $3,
			writeback = CASE WHEN $4 THEN 'failed' ELSE writeback END, updated_at = $5
			WHERE id = $1 AND generation = $2`, j.ID, j.Generation, cause.Error(), final, s.clock.Now())
		return err
	})
	if err != nil {
		s.log.Warn("dispatch: record write-back error", "tenant_id", tenantID, "job_id", j.ID, "error", err)
	}
	s.log.Warn("dispatch: write-back failed", "tenant_id", tenantID, "job_id", j.ID, "final", final, "error", cause)
	return fmt.Errorf("dispatch: write-back: %w", cause)
}
