package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/robfig/cron/v3"

	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// TaskTick is the engine's periodic job: due sequence steps, schedule
// rules and new bot events. The leader-elected scheduler queues one per
// period, so two workers do not tick twice.
const TaskTick = "automation:tick"

// Ticker is the periodic job for the scheduler.
func (s *Service) Ticker() queue.Periodic {
	return queue.Periodic{Name: TaskTick, Every: s.opts.TickEvery, Task: func() *asynq.Task { return asynq.NewTask(TaskTick, nil) }}
}

func (s *Service) handleTick(ctx context.Context, _ *asynq.Task) error {
	return s.Tick(ctx)
}

// Tick runs one period: sequence steps due, schedule rules due, bot events.
func (s *Service) Tick(ctx context.Context) error {
	_, err1 := s.RunDue(ctx)
	err2 := s.pollTenants(ctx)
	return errors.Join(err1, err2)
}

func (s *Service) pollTenants(ctx context.Context) error {
	var tenants []uuid.UUID
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT automation_polled_tenants()`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				return err
			}
			tenants = append(tenants, id)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("automation: polled tenants: %w", err)
	}
	var errs []error
	for _, t := range tenants {
		if err := s.runSchedules(ctx, t); err != nil {
			errs = append(errs, err)
		}
		if err := s.pollBotEvents(ctx, t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runSchedules fires schedule rules whose next time (cron in the tenant's
// zone, after the last firing) has come. The last firing moves by one
// conditional UPDATE, so of two ticks only one fires a minute; missed
// minutes (a stopped scheduler) fire once, not once each.
func (s *Service) runSchedules(ctx context.Context, tenantID uuid.UUID) error {
	rules, err := s.rulesFor(ctx, tenantID, TriggerSchedule)
	if err != nil || len(rules) == 0 {
		return err
	}
	tz := "UTC"
	if s.settings != nil {
		if st, err := s.settings.Settings(ctx, tenantID); err == nil && st.Timezone != "" {
			tz = st.Timezone
		}
	}
	now := s.clock.Now()
	var errs []error
	for _, r := range rules {
		sched, err := cron.ParseStandard("CRON_TZ=" + tz + " " + r.Trigger.Cron)
		if err != nil {
			continue
		}
		var last *time.Time
		err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT COALESCE(last_fired_at, updated_at) FROM automation_rules WHERE id = $1`, r.ID).Scan(&last)
		})
		if err != nil || last == nil {
			errs = append(errs, err)
			continue
		}
		next := sched.Next(*last)
		if next.After(now) {
			continue
		}
		fired := false
		err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE automation_rules SET last_fired_at = $2 WHERE id = $1
				AND COALESCE(last_fired_at, updated_at) = $3`, r.ID, now, *last)
			fired = err == nil && tag.RowsAffected() == 1
			return err
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fired {
			ev := Event{Key: "cron:" + next.UTC().Format(time.RFC3339), Source: "schedule", At: next}
			if ok, _, err := s.matches(ctx, tenantID, r, ev); err != nil {
				errs = append(errs, err)
			} else if ok {
				errs = append(errs, s.startRun(ctx, tenantID, r, ev))
			}
		}
	}
	return errors.Join(errs...)
}

// pollBotEvents feeds new rows of the events table (started, shared
// phone, unsubscribed) to bot-event rules, after the tenant's cursor.
func (s *Service) pollBotEvents(ctx context.Context, tenantID uuid.UUID) error {
	type row struct {
		id      int64
		contact uuid.UUID
		bot     int64
		typ     string
		payload map[string]any
	}
	var list []row
	var cursor int64
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM automation_rules WHERE enabled AND trigger_type = 'bot.event' LIMIT 1`).Scan(&one); err != nil {
			return nil // no bot-event rules: nothing to feed
		}
		if err := tx.QueryRow(ctx, `INSERT INTO automation_event_cursors (tenant_id, last_event_id)
			VALUES ($1, (SELECT COALESCE(max(id), 0) FROM events)) ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
			RETURNING last_event_id`, tenantID).Scan(&cursor); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, contact_id, COALESCE(bot_id, 0), type, payload FROM events
			WHERE id > $1 AND contact_id IS NOT NULL AND type IN ('started', 'contact_shared', 'unsubscribed') ORDER BY id LIMIT 500`, cursor)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			var raw []byte
			if err := rows.Scan(&r.id, &r.contact, &r.bot, &r.typ, &raw); err != nil {
				return err
			}
			_ = json.Unmarshal(raw, &r.payload)
			list = append(list, r)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("automation: bot events: %w", err)
	}
	for _, r := range list {
		if err := s.HandleBotEvent(ctx, tenantID, fmt.Sprintf("event:%d", r.id), BotEvent{Type: r.typ, ContactID: r.contact,
			BotID: r.bot, Payload: r.payload}); err != nil {
			return err // the cursor stays: the event is fed again (runs dedupe)
		}
		if err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE automation_event_cursors SET last_event_id = $1 WHERE last_event_id < $1`, r.id)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}
