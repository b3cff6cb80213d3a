package survey

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

// SourceSchedule is the source of the runs a schedule starts (OnAnswer).
const SourceSchedule = "schedule"

// ErrNoQueue: the engine was built without a task queue, so it cannot run
// schedules.
var ErrNoQueue = errors.New("survey: no task queue configured")

// ScheduleDef sets a survey's recurring schedule. Kind "monthly": on Day
// (1–31, the last day of shorter months) at Time (HH:MM); kind "cron": a
// five-field Cron spec; both in the tenant's time zone. Each period starts
// one run asking every reachable subscriber of BotID; the run closes when
// the next one starts, or CloseAfterHours after it started if sooner.
type ScheduleDef struct {
	BotID int64 `json:"bot_id"`
	// SegmentID, when set, asks only the bot's subscribers in that saved
	// segment (internal/broadcast/audience) instead of all of them.
	SegmentID       *uuid.UUID `json:"segment_id,omitempty"`
	Kind            string     `json:"kind"`
	Day             int        `json:"day,omitempty"`
	Time            string     `json:"time,omitempty"`
	Cron            string     `json:"cron,omitempty"`
	CloseAfterHours int        `json:"close_after_hours,omitempty"`
	Enabled         *bool      `json:"enabled,omitempty"`
}

// Schedule is a survey's recurring schedule.
type Schedule struct {
	ID        uuid.UUID  `json:"id"`
	SurveyID  uuid.UUID  `json:"survey_id"`
	BotID     int64      `json:"bot_id"`
	SegmentID *uuid.UUID `json:"segment_id,omitempty"`
	// Targeted: the schedule was set for a segment; if that segment is
	// deleted (SegmentID nil), periods are skipped rather than widened to
	// every subscriber.
	Targeted        bool       `json:"targeted"`
	Kind            string     `json:"kind"`
	Day             int        `json:"day,omitempty"`
	Time            string     `json:"time,omitempty"`
	Cron            string     `json:"cron,omitempty"`
	CloseAfterHours int        `json:"close_after_hours,omitempty"`
	Enabled         bool       `json:"enabled"`
	Timezone        string     `json:"timezone"`
	NextAt          *time.Time `json:"next_at"`
	LastPeriod      string     `json:"last_period,omitempty"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

const scheduleCols = `s.id, s.survey_id, s.bot_id, s.segment_id, s.targeted, s.kind, s.day, s.at_time, s.cron, s.close_after_hours, s.enabled,
	t.timezone, s.next_at, s.last_period, s.updated_at`

func scanSchedule(r pgx.Row) (Schedule, error) {
	var sc Schedule
	err := r.Scan(&sc.ID, &sc.SurveyID, &sc.BotID, &sc.SegmentID, &sc.Targeted, &sc.Kind, &sc.Day, &sc.Time, &sc.Cron, &sc.CloseAfterHours, &sc.Enabled,
		&sc.Timezone, &sc.NextAt, &sc.LastPeriod, &sc.UpdatedAt)
	if sc.Kind == RecurCron {
		sc.Day = 0
	}
	return sc, err
}

func (sc *Schedule) recurrence() (*recurrence, error) {
	return newRecurrence(sc.Kind, sc.Day, sc.Time, sc.Cron, sc.Timezone)
}

// SetSchedule creates or replaces a survey's schedule; the next firing is
// computed from now.
func (s *Service) SetSchedule(ctx context.Context, tenantID, surveyID uuid.UUID, d ScheduleDef) (Schedule, error) {
	if s.opts.Queue == nil {
		return Schedule{}, ErrNoQueue
	}
	if d.CloseAfterHours < 0 || d.CloseAfterHours > 24*366 {
		return Schedule{}, &InvalidError{"close_after_hours", "invalid", "0 (until the next period) to 8784 hours"}
	}
	enabled := d.Enabled == nil || *d.Enabled
	now := s.clock.Now()
	var out Schedule
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		sv, err := loadSurvey(ctx, tx, surveyID)
		if err != nil {
			return err
		}
		if sv.ArchivedAt != nil {
			return ErrArchived
		}
		var tz string
		if err := tx.QueryRow(ctx, `SELECT timezone FROM tenants WHERE id = $1`, tenantID).Scan(&tz); err != nil {
			return fmt.Errorf("store: tenant time zone: %w", err)
		}
		rec, err := newRecurrence(d.Kind, d.Day, d.Time, d.Cron, tz)
		if err != nil {
			return err
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM bots WHERE id = $1`, d.BotID).Scan(&one); db.IsNotFound(err) {
			return &InvalidError{"bot_id", "unknown_bot", "not a bot of this tenant"}
		} else if err != nil {
			return fmt.Errorf("store: bot: %w", err)
		}
		if d.SegmentID != nil {
			if err := tx.QueryRow(ctx, `SELECT 1 FROM segments WHERE id = $1`, *d.SegmentID).Scan(&one); db.IsNotFound(err) {
				return &InvalidError{"segment_id", "unknown_segment", "not a segment of this tenant"}
			} else if err != nil {
				return fmt.Errorf("store: segment: %w", err)
			}
		}
		var next *time.Time
		if n := rec.next(now); enabled && !n.IsZero() {
			next = &n
		}
		if d.Kind != RecurMonthly {
			d.Day = 1
		}
		_, err = tx.Exec(ctx, `INSERT INTO survey_schedules (id, tenant_id, survey_id, bot_id, kind, day, at_time, cron,
			close_after_hours, enabled, next_at, created_at, updated_at, segment_id, targeted)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $13::uuid IS NOT NULL)
			ON CONFLICT (survey_id) DO UPDATE SET bot_id = EXCLUDED.bot_id, kind = EXCLUDED.kind, day = EXCLUDED.day,
			at_time = EXCLUDED.at_time, cron = EXCLUDED.cron, close_after_hours = EXCLUDED.close_after_hours,
			enabled = EXCLUDED.enabled, next_at = EXCLUDED.next_at, updated_at = EXCLUDED.updated_at,
			segment_id = EXCLUDED.segment_id, targeted = EXCLUDED.targeted`,
			ids.New(), tenantID, surveyID, d.BotID, d.Kind, d.Day, d.Time, d.Cron, d.CloseAfterHours, enabled, next, now, d.SegmentID)
		if err != nil {
			return fmt.Errorf("store: set schedule: %w", err)
		}
		out, err = loadSchedule(ctx, tx, surveyID)
		return err
	})
	if err != nil {
		return Schedule{}, wrap("set schedule", err)
	}
	return out, nil
}

// GetSchedule returns a survey's schedule (ErrNotFound if it has none).
func (s *Service) GetSchedule(ctx context.Context, tenantID, surveyID uuid.UUID) (Schedule, error) {
	var out Schedule
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = loadSchedule(ctx, tx, surveyID)
		return err
	})
	if err != nil {
		return Schedule{}, wrap("get schedule", err)
	}
	return out, nil
}

// DeleteSchedule removes a survey's schedule; runs it started stay.
func (s *Service) DeleteSchedule(ctx context.Context, tenantID, surveyID uuid.UUID) error {
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM survey_schedules WHERE survey_id = $1`, surveyID)
		if err != nil {
			return fmt.Errorf("store: delete schedule: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return nil
	})
	return wrap("delete schedule", err)
}

func loadSchedule(ctx context.Context, tx pgx.Tx, surveyID uuid.UUID) (Schedule, error) {
	sc, err := scanSchedule(tx.QueryRow(ctx, `SELECT `+scheduleCols+` FROM survey_schedules s JOIN tenants t ON t.id = s.tenant_id
		WHERE s.survey_id = $1`, surveyID))
	if db.IsNotFound(err) {
		return Schedule{}, ErrNotFound
	}
	if err != nil {
		return Schedule{}, fmt.Errorf("store: schedule: %w", err)
	}
	return sc, nil
}

// wrap keeps the domain errors the HTTP edge maps and prefixes the rest.
func wrap(op string, err error) error {
	var inv *InvalidError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrArchived), errors.Is(err, ErrAnswered),
		errors.Is(err, ErrSystem), errors.Is(err, ErrNoQueue), errors.As(err, &inv):
		return err
	}
	return fmt.Errorf("survey: %s: %w", op, err)
}

// Scan starts the runs of every due schedule and resumes runs whose asking
// stalled (a batch task lost between its commit and queueing the next). It
// is the periodic job "survey:scan"; it may run anywhere and at once in two
// processes: a period's run is unique per (survey, period) in PostgreSQL.
func (s *Service) Scan(ctx context.Context) error {
	now := s.clock.Now()
	type due struct{ tenantID, id uuid.UUID }
	type stalled struct {
		tenantID, runID uuid.UUID
		cursor          string
	}
	var dues []due
	var stalls []stalled
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, schedule_id FROM survey_schedules_due($1, 500)`, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.tenantID, &d.id); err != nil {
				rows.Close()
				return err
			}
			dues = append(dues, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT tenant_id, run_id, ask_cursor FROM survey_runs_stalled($1, 500)`, now.Add(-s.opts.StallAfter))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st stalled
			if err := rows.Scan(&st.tenantID, &st.runID, &st.cursor); err != nil {
				return err
			}
			stalls = append(stalls, st)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("survey: scan: %w", err)
	}
	var errs []error
	for _, d := range dues {
		if err := s.fireSchedule(ctx, d.tenantID, d.id, now); err != nil {
			errs = append(errs, err)
		}
	}
	for _, st := range stalls {
		// A fresh task id per scan: a stale duplicate is harmless (the batch
		// checks the run's checkpoint under a row lock).
		if err := s.enqueueAsk(ctx, st.tenantID, st.runID, st.cursor, fmt.Sprintf(":resume:%d", now.Unix())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fireSchedule starts the run of a due schedule's period, at most once per
// period, and moves the schedule on to its next firing.
func (s *Service) fireSchedule(ctx context.Context, tenantID, scheduleID uuid.UUID, now time.Time) error {
	var started uuid.UUID
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		started = uuid.Nil
		sc, err := scanSchedule(tx.QueryRow(ctx, `SELECT `+scheduleCols+` FROM survey_schedules s JOIN tenants t ON t.id = s.tenant_id
			WHERE s.id = $1 FOR UPDATE OF s`, scheduleID))
		if db.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: schedule: %w", err)
		}
		if !sc.Enabled || sc.NextAt == nil || sc.NextAt.After(now) {
			return nil // another scan fired it meanwhile
		}
		rec, err := sc.recurrence()
		if err != nil {
			return err
		}
		fire := rec.latestDue(*sc.NextAt, now)
		next := rec.next(fire)
		period := rec.period(fire)
		var closes *time.Time
		if !next.IsZero() {
			closes = &next
		}
		if sc.CloseAfterHours > 0 {
			if c := fire.Add(time.Duration(sc.CloseAfterHours) * time.Hour); closes == nil || c.Before(*closes) {
				closes = &c
			}
		}
		var nextAt *time.Time
		if !next.IsZero() {
			nextAt = &next
		}
		if _, err := tx.Exec(ctx, `UPDATE survey_schedules SET next_at = $2, last_period = $3 WHERE id = $1`,
			scheduleID, nextAt, period); err != nil {
			return fmt.Errorf("store: advance schedule: %w", err)
		}
		var archived bool
		if err := tx.QueryRow(ctx, `SELECT archived_at IS NOT NULL FROM surveys WHERE id = $1`, sc.SurveyID).Scan(&archived); err != nil {
			return fmt.Errorf("store: survey: %w", err)
		}
		if archived || (closes != nil && !closes.After(now)) {
			return nil
		}
		if sc.Targeted && sc.SegmentID == nil {
			s.log.WarnContext(ctx, "survey: scheduled segment was deleted; period skipped", "tenant_id", tenantID,
				"survey_id", sc.SurveyID, "period", period)
			return nil
		}
		spec := AudienceSpec{BotID: sc.BotID}
		if sc.SegmentID != nil {
			spec.SegmentID = *sc.SegmentID
		}
		aud, _ := json.Marshal(spec)
		id := ids.New()
		err = tx.QueryRow(ctx, `INSERT INTO survey_runs (id, tenant_id, survey_id, source, ref, closes_at, created_at, period,
			audience, ask_state, ask_touched_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'asking', $7)
			ON CONFLICT (tenant_id, survey_id, period) WHERE period IS NOT NULL DO NOTHING RETURNING id`,
			id, tenantID, sc.SurveyID, SourceSchedule, scheduleID.String(), closes, now, period, aud).Scan(&started)
		if db.IsNotFound(err) {
			return nil // this period has its run already
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("survey: fire schedule %s: %w", scheduleID, err)
	}
	if started == uuid.Nil {
		return nil
	}
	s.log.Info("survey: scheduled run started", "tenant_id", tenantID, "run_id", started)
	// If this enqueue is lost, the stall scan resumes the run.
	return s.enqueueAsk(ctx, tenantID, started, "", "")
}
