package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/dispatch"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// TaskAction runs one action of a rule run.
const TaskAction = "automation:action"

type actionPayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	RunID    uuid.UUID `json:"run_id"`
	Idx      int       `json:"idx"`
}

// NewActionTask builds the task of one action of a run.
func NewActionTask(tenantID, runID uuid.UUID, idx int) *asynq.Task {
	return asynq.NewTask(TaskAction, marshal(actionPayload{TenantID: tenantID, RunID: runID, Idx: idx}))
}

func (s *Service) enqueueAction(ctx context.Context, tenantID, runID uuid.UUID, idx int) error {
	return s.q.Enqueue(ctx, NewActionTask(tenantID, runID, idx), asynq.Queue(queue.Default),
		asynq.MaxRetry(s.opts.MaxAttempts), asynq.Retention(time.Hour),
		asynq.TaskID("auto:"+runID.String()+":"+strconv.Itoa(idx)))
}

// Register installs the task handlers.
func (s *Service) Register(srv *queue.Server) {
	srv.Handle(TaskAction, s.handleAction)
	srv.Handle(TaskTick, s.handleTick)
}

func (s *Service) rulesFor(ctx context.Context, tenantID uuid.UUID, trigger string) ([]Rule, error) {
	if trigger == "" {
		return nil, nil
	}
	var out []Rule
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		out, err = loadRules(ctx, tx, trigger)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("automation: rules: %w", err)
	}
	return out, nil
}

// loadRules reads the enabled rules of a trigger type.
func loadRules(ctx context.Context, tx pgx.Tx, trigger string) ([]Rule, error) {
	if trigger == "" {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+ruleCols+` FROM automation_rules WHERE enabled AND trigger_type = $1 ORDER BY created_at`, trigger)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// startRun records the run (once per rule and event key) with a row per
// action and queues each action. A repeated event finds the run and only
// re-queues actions still pending (the task ids keep queued ones single),
// which also recovers from a crash between the commit and the enqueue.
func (s *Service) startRun(ctx context.Context, tenantID uuid.UUID, r Rule, ev Event) error {
	now := s.clock.Now()
	var runID uuid.UUID
	var pending []int
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		pending = nil
		runID = ids.New()
		tag, err := tx.Exec(ctx, `INSERT INTO automation_runs (id, tenant_id, rule_id, event_key, event, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, rule_id, event_key) DO NOTHING`,
			runID, tenantID, r.ID, ev.Key, marshal(ev), now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if err := tx.QueryRow(ctx, `SELECT id FROM automation_runs WHERE rule_id = $1 AND event_key = $2`, r.ID, ev.Key).Scan(&runID); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT idx FROM automation_action_runs WHERE run_id = $1 AND status = 'pending'
				AND updated_at < $2`, runID, now.Add(-time.Minute))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var i int
				if err := rows.Scan(&i); err != nil {
					return err
				}
				pending = append(pending, i)
			}
			return rows.Err()
		}
		for i, a := range r.Actions {
			if _, err := tx.Exec(ctx, `INSERT INTO automation_action_runs (tenant_id, run_id, idx, type, params, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, tenantID, runID, i, a.Type, orEmpty(a.Params), now); err != nil {
				return err
			}
			pending = append(pending, i)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("automation: start run: %w", err)
	}
	for _, i := range pending {
		if err := s.enqueueAction(ctx, tenantID, runID, i); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) handleAction(ctx context.Context, t *asynq.Task) error {
	var p actionPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID == uuid.Nil {
		return fmt.Errorf("automation: action payload: %v: %w", err, asynq.SkipRetry)
	}
	err := s.RunAction(ctx, p.TenantID, p.RunID, p.Idx)
	if errors.Is(err, errPermanent) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

// RunAction runs one action of a run and records its outcome: ok, or the
// error with the attempt count — pending while it will be retried, failed
// when retrying cannot help or the attempts are used up. An action that
// already succeeded is not run again.
func (s *Service) RunAction(ctx context.Context, tenantID, runID uuid.UUID, idx int) error {
	var ev Event
	var a Action
	var status string
	var attempts int
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var raw, params []byte
		err := tx.QueryRow(ctx, `SELECT r.event, a.type, a.params, a.status, a.attempts FROM automation_action_runs a
			JOIN automation_runs r ON r.id = a.run_id WHERE a.run_id = $1 AND a.idx = $2`, runID, idx).
			Scan(&raw, &a.Type, &params, &status, &attempts)
		if err != nil {
			return err
		}
		a.Params = params
		return json.Unmarshal(raw, &ev)
	})
	if db.IsNotFound(err) {
		return nil // the rule (and its runs) was deleted
	}
	if err != nil {
		return fmt.Errorf("automation: load action: %w", err)
	}
	if status != "pending" {
		return nil
	}
	result, runErr := s.execute(ctx, tenantID, runID, idx, ev, a)
	final := runErr == nil || errors.Is(runErr, errPermanent) || attempts+1 >= s.opts.MaxAttempts
	newStatus, errText := "ok", ""
	if runErr != nil {
		newStatus, errText = "pending", runErr.Error()
		if final {
			newStatus = "failed"
		}
	}
	err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE automation_action_runs SET status = $3, attempts = attempts + 1, error = $4, result = $5,
			updated_at = $6 WHERE run_id = $1 AND idx = $2 AND status = 'pending'`, runID, idx, newStatus, errText, result, s.clock.Now())
		return err
	})
	if err != nil {
		return fmt.Errorf("automation: record action: %w", err)
	}
	if runErr != nil {
		s.log.Warn("automation: action failed", "tenant_id", tenantID, "run_id", runID, "action", a.Type, "final", final, "error", runErr)
		if final {
			return fmt.Errorf("automation: %s: %w", a.Type, errors.Join(runErr, errPermanent))
		}
		return fmt.Errorf("automation: %s: %w", a.Type, runErr)
	}
	return nil
}

// permanent marks errors retrying cannot fix.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	if crm.Retryable(err) || errors.Is(err, crm.ErrUnauthorized) {
		return err
	}
	switch {
	case errors.Is(err, crm.ErrNotFound), errors.Is(err, crm.ErrInvalid), errors.Is(err, dispatch.ErrNoChat),
		errors.Is(err, ErrNotFound), errors.Is(err, errNoContact), errors.Is(err, errNoChat):
		return fmt.Errorf("%w (%w)", err, errPermanent)
	}
	return err
}

var (
	errNoContact = errors.New("the event has no contact with Telegram")
	errNoChat    = errors.New("no reachable chat")
)

// execute does one action; the result string says what it did.
func (s *Service) execute(ctx context.Context, tenantID, runID uuid.UUID, idx int, ev Event, a Action) (string, error) {
	dealID, connectorID := "", ev.ConnectorID
	if ev.CRM != nil {
		dealID = ev.CRM.DealID
	}
	switch a.Type {
	case ActionDispatchPost:
		if s.dispatch == nil || dealID == "" {
			return "", fmt.Errorf("dispatch needs a deal event: %w", errPermanent)
		}
		var over dispatch.Config
		if err := json.Unmarshal(orEmpty(a.Params), &over); err != nil {
			return "", fmt.Errorf("params: %v: %w", err, errPermanent)
		}
		return "job posted for deal " + dealID, permanent(s.dispatch.PostJob(ctx, tenantID, connectorID, dealID, fmt.Sprintf("auto:%s:%d", runID, idx), over))
	case ActionCRMUpdate:
		if dealID == "" || s.crm == nil {
			return "", fmt.Errorf("crm.update needs a deal event: %w", errPermanent)
		}
		var p crmParams
		_ = json.Unmarshal(orEmpty(a.Params), &p)
		if p.StageID != "" || len(p.Fields) > 0 {
			u := crm.DealUpdate{DealID: dealID, Fields: p.Fields}
			if p.StageID != "" {
				u.StageID = &p.StageID
			}
			if err := s.crm.UpdateDeal(ctx, tenantID, connectorID, fmt.Sprintf("auto:%s:%d:update", runID, idx), u); err != nil {
				return "", permanent(err)
			}
		}
		if p.Note != "" {
			if err := s.crm.AddNote(ctx, tenantID, connectorID, fmt.Sprintf("auto:%s:%d:note", runID, idx), crm.Note{DealID: dealID, Text: p.Note}); err != nil {
				return "", permanent(err)
			}
		}
		return "deal " + dealID + " updated", nil
	case ActionStaffNotify:
		var p textParams
		_ = json.Unmarshal(orEmpty(a.Params), &p)
		return s.notifyStaff(ctx, tenantID, p, ev, fmt.Sprintf("auto:%s:%d", runID, idx))
	}
	c, err := s.contactFor(ctx, tenantID, ev)
	if err != nil {
		return "", permanent(err)
	}
	if c == nil {
		return "", fmt.Errorf("%s: %w", a.Type, permanent(errNoContact))
	}
	switch a.Type {
	case ActionSequenceStart:
		var p sequenceParams
		_ = json.Unmarshal(orEmpty(a.Params), &p)
		target := s.targetOf(ctx, tenantID, c.ID, ev)
		target.SourceRunID, target.SourceIdx = runID, idx
		started, err := s.StartSequence(ctx, tenantID, p.SequenceID, target)
		if err != nil {
			return "", permanent(err)
		}
		if !started {
			return "already enrolled", nil
		}
		return "sequence started", nil
	case ActionSequenceStop:
		var p sequenceParams
		_ = json.Unmarshal(orEmpty(a.Params), &p)
		n, err := s.StopSequences(ctx, tenantID, c.ID, p.SequenceID, "rule")
		return fmt.Sprintf("%d enrollments stopped", n), err
	case ActionTagAdd, ActionTagRemove:
		var p tagParams
		_ = json.Unmarshal(orEmpty(a.Params), &p)
		return "tag " + p.Tag, s.setTag(ctx, tenantID, c.ID, strings.TrimSpace(p.Tag), a.Type == ActionTagAdd)
	case ActionMessageSend:
		var p textParams
		_ = json.Unmarshal(orEmpty(a.Params), &p)
		return s.sendToContact(ctx, tenantID, c, strings.ReplaceAll(p.Text, "{deal_id}", dealID), fmt.Sprintf("auto:%s:%d", runID, idx))
	case ActionSurveySend:
		var p surveyParams
		_ = json.Unmarshal(orEmpty(a.Params), &p)
		return s.sendSurvey(ctx, tenantID, c, p.SurveyID, runID)
	}
	return "", fmt.Errorf("unknown action %s: %w", a.Type, errPermanent)
}
