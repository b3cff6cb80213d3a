package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

const ruleCols = `id, name, enabled, trigger, conditions, actions, created_at, updated_at`

func scanRule(r pgx.Row) (Rule, error) {
	var out Rule
	var trig, conds, acts []byte
	if err := r.Scan(&out.ID, &out.Name, &out.Enabled, &trig, &conds, &acts, &out.CreatedAt, &out.UpdatedAt); err != nil {
		return Rule{}, err
	}
	_ = json.Unmarshal(trig, &out.Trigger)
	_ = json.Unmarshal(conds, &out.Conditions)
	_ = json.Unmarshal(acts, &out.Actions)
	if out.Conditions == nil {
		out.Conditions = []Condition{}
	}
	return out, nil
}

func audit(ctx context.Context, tx pgx.Tx, tenantID, actor uuid.UUID, action, target string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, at) VALUES ($1, $2, $3, $4, $5)`,
		tenantID, actor.String(), action, target, now)
	return err
}

// CreateRule stores a new rule (audited).
func (s *Service) CreateRule(ctx context.Context, tenantID, actor uuid.UUID, d RuleDef) (Rule, error) {
	if err := d.validate(); err != nil {
		return Rule{}, err
	}
	enabled := d.Enabled == nil || *d.Enabled
	now := s.clock.Now()
	var out Rule
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = scanRule(tx.QueryRow(ctx, `INSERT INTO automation_rules (id, tenant_id, name, enabled, trigger_type, trigger, conditions,
			actions, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING `+ruleCols,
			ids.New(), tenantID, d.Name, enabled, d.Trigger.Type, marshal(d.Trigger), marshal(d.Conditions), marshal(d.Actions), now))
		if err != nil {
			return err
		}
		if d.Trigger.Type == TriggerBotEvent {
			// Bot events from now on: the cursor starts at the newest event.
			if _, err := tx.Exec(ctx, `INSERT INTO automation_event_cursors (tenant_id, last_event_id)
				VALUES ($1, (SELECT COALESCE(max(id), 0) FROM events)) ON CONFLICT DO NOTHING`, tenantID); err != nil {
				return err
			}
		}
		return audit(ctx, tx, tenantID, actor, "automation.rule_created", out.ID.String(), now)
	})
	if err != nil {
		return Rule{}, fmt.Errorf("automation: create rule: %w", err)
	}
	return out, nil
}

// UpdateRule replaces a rule's definition (audited).
func (s *Service) UpdateRule(ctx context.Context, tenantID, actor, id uuid.UUID, d RuleDef) (Rule, error) {
	if err := d.validate(); err != nil {
		return Rule{}, err
	}
	enabled := d.Enabled == nil || *d.Enabled
	now := s.clock.Now()
	var out Rule
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = scanRule(tx.QueryRow(ctx, `UPDATE automation_rules SET name = $2, enabled = $3, trigger_type = $4, trigger = $5,
			conditions = $6, actions = $7, updated_at = $8 WHERE id = $1 RETURNING `+ruleCols,
			id, d.Name, enabled, d.Trigger.Type, marshal(d.Trigger), marshal(d.Conditions), marshal(d.Actions), now))
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if d.Trigger.Type == TriggerBotEvent {
			if _, err := tx.Exec(ctx, `INSERT INTO automation_event_cursors (tenant_id, last_event_id)
				VALUES ($1, (SELECT COALESCE(max(id), 0) FROM events)) ON CONFLICT DO NOTHING`, tenantID); err != nil {
				return err
			}
		}
		return audit(ctx, tx, tenantID, actor, "automation.rule_updated", id.String(), now)
	})
	if errors.Is(err, ErrNotFound) {
		return Rule{}, err
	}
	if err != nil {
		return Rule{}, fmt.Errorf("automation: update rule: %w", err)
	}
	return out, nil
}

// DeleteRule deletes a rule and its runs (audited).
func (s *Service) DeleteRule(ctx context.Context, tenantID, actor, id uuid.UUID) error {
	return s.deleteAudited(ctx, tenantID, actor, id, "automation_rules", "automation.rule_deleted")
}

// GetRule returns one rule.
func (s *Service) GetRule(ctx context.Context, tenantID, id uuid.UUID) (Rule, error) {
	var out Rule
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		out, err = scanRule(tx.QueryRow(ctx, `SELECT `+ruleCols+` FROM automation_rules WHERE id = $1`, id))
		return err
	})
	if db.IsNotFound(err) {
		return Rule{}, ErrNotFound
	}
	if err != nil {
		return Rule{}, fmt.Errorf("automation: rule: %w", err)
	}
	return out, nil
}

// Rules lists the tenant's rules.
func (s *Service) Rules(ctx context.Context, tenantID uuid.UUID) ([]Rule, error) {
	out := []Rule{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+ruleCols+` FROM automation_rules ORDER BY created_at`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRule(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("automation: rules: %w", err)
	}
	return out, nil
}

// ActionRun is one action's outcome in a run.
type ActionRun struct {
	Idx       int       `json:"idx"`
	Type      string    `json:"type"`
	Status    string    `json:"status"` // pending, ok, failed
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error"`
	Result    string    `json:"result"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Run is one rule run with its actions.
type Run struct {
	ID        uuid.UUID   `json:"id"`
	EventKey  string      `json:"event_key"`
	Event     Event       `json:"event"`
	Outcome   string      `json:"outcome"` // pending, ok, failed
	CreatedAt time.Time   `json:"created_at"`
	Actions   []ActionRun `json:"actions"`
}

// Runs lists a rule's latest runs (newest first).
func (s *Service) Runs(ctx context.Context, tenantID, ruleID uuid.UUID, limit int) ([]Run, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	out := []Run{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM automation_rules WHERE id = $1`, ruleID).Scan(&one); db.IsNotFound(err) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT r.id, r.event_key, r.event, r.created_at, a.idx, a.type, a.status, a.attempts, a.error, a.result, a.updated_at
			FROM (SELECT * FROM automation_runs WHERE rule_id = $1 ORDER BY created_at DESC LIMIT $2) r
			JOIN automation_action_runs a ON a.run_id = r.id ORDER BY r.created_at DESC, r.id, a.idx`, ruleID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var run Run
			var raw []byte
			var a ActionRun
			if err := rows.Scan(&run.ID, &run.EventKey, &raw, &run.CreatedAt, &a.Idx, &a.Type, &a.Status, &a.Attempts, &a.Error, &a.Result, &a.UpdatedAt); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].ID != run.ID {
				_ = json.Unmarshal(raw, &run.Event)
				run.Actions = []ActionRun{}
				out = append(out, run)
			}
			last := &out[len(out)-1]
			last.Actions = append(last.Actions, a)
		}
		return rows.Err()
	})
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("automation: runs: %w", err)
	}
	for i := range out {
		out[i].Outcome = "ok"
		for _, a := range out[i].Actions {
			switch {
			case a.Status == "failed":
				out[i].Outcome = "failed"
			case a.Status == "pending" && out[i].Outcome != "failed":
				out[i].Outcome = "pending"
			}
		}
	}
	return out, nil
}

// DryRun is what an event would do to a rule, without doing it.
type DryRun struct {
	Matched    bool              `json:"matched"`
	Reason     string            `json:"reason,omitempty"`
	Conditions []ConditionResult `json:"conditions"`
	Duplicate  bool              `json:"duplicate"`
	Actions    []Action          `json:"actions"`
	ContactID  *uuid.UUID        `json:"contact_id"`
}

// DryRunRule evaluates a rule on ev: trigger, each condition with the
// value it saw, whether the event key already ran, and the actions that
// would be queued. Nothing is written and nothing is sent.
func (s *Service) DryRunRule(ctx context.Context, tenantID, ruleID uuid.UUID, ev Event) (DryRun, error) {
	r, err := s.GetRule(ctx, tenantID, ruleID)
	if err != nil {
		return DryRun{}, err
	}
	out := DryRun{Conditions: []ConditionResult{}, Actions: []Action{}}
	ok, why := triggerMatches(r.Trigger, ev)
	if !ok {
		out.Reason = why
		return out, nil
	}
	f, err := s.facts(ctx, tenantID, ev)
	if err != nil {
		return DryRun{}, err
	}
	if id, ok := f["contact.id"].(string); ok {
		cid, _ := uuid.Parse(id)
		out.ContactID = &cid
	}
	out.Matched = true
	for _, c := range r.Conditions {
		actual, present := f[c.Field]
		res := ConditionResult{Condition: c, Actual: actual, OK: evaluate(c, actual, present)}
		out.Conditions = append(out.Conditions, res)
		if !res.OK {
			out.Matched = false
			out.Reason = "condition on " + c.Field + " is false"
		}
	}
	if ev.Key != "" {
		_ = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM automation_runs WHERE rule_id = $1 AND event_key = $2)`, ruleID, ev.Key).Scan(&out.Duplicate)
		})
	}
	if out.Matched && !out.Duplicate {
		out.Actions = r.Actions
	}
	return out, nil
}

// Sequence storage.

func scanSequence(r pgx.Row) (Sequence, error) {
	var out Sequence
	var steps []byte
	if err := r.Scan(&out.ID, &out.Name, &steps, &out.CreatedAt, &out.UpdatedAt); err != nil {
		return Sequence{}, err
	}
	_ = json.Unmarshal(steps, &out.Steps)
	return out, nil
}

// CreateSequence stores a sequence (audited).
func (s *Service) CreateSequence(ctx context.Context, tenantID, actor uuid.UUID, d SequenceDef) (Sequence, error) {
	if err := d.validate(); err != nil {
		return Sequence{}, err
	}
	now := s.clock.Now()
	var out Sequence
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		out, err = scanSequence(tx.QueryRow(ctx, `INSERT INTO sequences (id, tenant_id, name, steps, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5) RETURNING id, name, steps, created_at, updated_at`, ids.New(), tenantID, d.Name, marshal(d.Steps), now))
		if err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actor, "automation.sequence_created", out.ID.String(), now)
	})
	if err != nil {
		return Sequence{}, fmt.Errorf("automation: create sequence: %w", err)
	}
	return out, nil
}

// UpdateSequence replaces a sequence's steps; running enrollments keep the
// steps they were scheduled with, by position.
func (s *Service) UpdateSequence(ctx context.Context, tenantID, actor, id uuid.UUID, d SequenceDef) (Sequence, error) {
	if err := d.validate(); err != nil {
		return Sequence{}, err
	}
	now := s.clock.Now()
	var out Sequence
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		out, err = scanSequence(tx.QueryRow(ctx, `UPDATE sequences SET name = $2, steps = $3, updated_at = $4 WHERE id = $1
			RETURNING id, name, steps, created_at, updated_at`, id, d.Name, marshal(d.Steps), now))
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actor, "automation.sequence_updated", id.String(), now)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Sequence{}, fmt.Errorf("automation: update sequence: %w", err)
	}
	return out, err
}

// DeleteSequence deletes a sequence and its enrollments (audited).
func (s *Service) DeleteSequence(ctx context.Context, tenantID, actor, id uuid.UUID) error {
	return s.deleteAudited(ctx, tenantID, actor, id, "sequences", "automation.sequence_deleted")
}

// deleteAudited deletes the tenant's row id of table (a constant of this
// file, never input) and audits it; a missing row is ErrNotFound.
func (s *Service) deleteAudited(ctx context.Context, tenantID, actor, id uuid.UUID, table, action string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, actor, action, id.String(), s.clock.Now())
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("automation: delete from %s: %w", table, err)
	}
	return err
}

// GetSequence returns one sequence.
func (s *Service) GetSequence(ctx context.Context, tenantID, id uuid.UUID) (Sequence, error) {
	var out Sequence
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		out, err = scanSequence(tx.QueryRow(ctx, `SELECT id, name, steps, created_at, updated_at FROM sequences WHERE id = $1`, id))
		return err
	})
	if db.IsNotFound(err) {
		return Sequence{}, ErrNotFound
	}
	if err != nil {
		return Sequence{}, fmt.Errorf("automation: sequence: %w", err)
	}
	return out, nil
}

// Sequences lists the tenant's sequences.
func (s *Service) Sequences(ctx context.Context, tenantID uuid.UUID) ([]Sequence, error) {
	out := []Sequence{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, steps, created_at, updated_at FROM sequences ORDER BY created_at`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			q, err := scanSequence(rows)
			if err != nil {
				return err
			}
			out = append(out, q)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("automation: sequences: %w", err)
	}
	return out, nil
}
