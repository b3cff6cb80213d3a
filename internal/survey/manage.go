package survey

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// Summary is a survey in a list.
type Summary struct {
	ID         uuid.UUID  `json:"id"`
	Key        string     `json:"key,omitempty"`
	Title      string     `json:"title"`
	Questions  int        `json:"questions"`
	Runs       int        `json:"runs"`
	LastRunAt  *time.Time `json:"last_run_at,omitempty"`
	Scheduled  bool       `json:"scheduled"`
	CreatedAt  time.Time  `json:"created_at"`
	ArchivedAt *time.Time `json:"archived_at,omitempty"`
}

// ListFilter selects surveys: archived ones only when asked, newest first.
type ListFilter struct {
	Archived bool
	Limit    int
	Offset   int
}

// List returns the tenant's surveys.
func (s *Service) List(ctx context.Context, tenantID uuid.UUID, f ListFilter) ([]Summary, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	out := []Summary{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT s.id, COALESCE(s.key, ''), s.title,
			(SELECT count(*) FROM survey_questions q WHERE q.survey_id = s.id),
			(SELECT count(*) FROM survey_runs r WHERE r.survey_id = s.id),
			(SELECT max(r.created_at) FROM survey_runs r WHERE r.survey_id = s.id),
			EXISTS (SELECT 1 FROM survey_schedules c WHERE c.survey_id = s.id AND c.enabled),
			s.created_at, s.archived_at
			FROM surveys s WHERE (s.archived_at IS NOT NULL) = $1
			ORDER BY s.created_at DESC, s.id LIMIT $2 OFFSET $3`, f.Archived, f.Limit, f.Offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m Summary
			if err := rows.Scan(&m.ID, &m.Key, &m.Title, &m.Questions, &m.Runs, &m.LastRunAt, &m.Scheduled,
				&m.CreatedAt, &m.ArchivedAt); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("survey: list: %w", err)
	}
	return out, nil
}

// Patch changes a survey; nil fields stay. The title and the sticker can
// always change; the questions only while no run has an answer (answers
// refer to questions by position and meaning: a survey with answers is
// copied into a new one instead, so old figures keep their meaning).
type Patch struct {
	Title         *string     `json:"title,omitempty"`
	ThanksSticker *string     `json:"thanks_sticker,omitempty"`
	Questions     *[]Question `json:"questions,omitempty"`
}

// Update applies a patch.
func (s *Service) Update(ctx context.Context, tenantID, id uuid.UUID, p Patch) (Survey, error) {
	if p.Title != nil && (*p.Title == "" || len([]rune(*p.Title)) > 200) {
		return Survey{}, &InvalidError{"title", "invalid", "1 to 200 characters"}
	}
	if p.ThanksSticker != nil {
		if err := validSticker(*p.ThanksSticker); err != nil {
			return Survey{}, err
		}
	}
	if p.Questions != nil {
		if err := validQuestions(*p.Questions); err != nil {
			return Survey{}, err
		}
	}
	var out Survey
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var key *string
		err := tx.QueryRow(ctx, `SELECT key FROM surveys WHERE id = $1 FOR UPDATE`, id).Scan(&key)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: survey: %w", err)
		}
		if p.Questions != nil {
			if key != nil {
				return ErrSystem
			}
			// Locking the questions waits for answers being stored (their
			// foreign key check holds a key-share lock), so the check below
			// sees them; answers after it wait and then fail their foreign
			// key: refused, never filed under a new question.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM survey_questions WHERE survey_id = $1 FOR UPDATE`, id); err != nil {
				return fmt.Errorf("store: lock questions: %w", err)
			}
			var answered bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM survey_answers a JOIN survey_questions q ON q.id = a.question_id
				WHERE q.survey_id = $1)`, id).Scan(&answered); err != nil {
				return fmt.Errorf("store: answered: %w", err)
			}
			if answered {
				return ErrAnswered
			}
			if _, err := tx.Exec(ctx, `DELETE FROM survey_questions WHERE survey_id = $1`, id); err != nil {
				return fmt.Errorf("store: replace questions: %w", err)
			}
			if _, err := insertQuestions(ctx, tx, tenantID, id, *p.Questions); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE surveys SET title = COALESCE($2, title), thanks_sticker = COALESCE($3, thanks_sticker),
			updated_at = $4 WHERE id = $1`, id, p.Title, p.ThanksSticker, s.clock.Now()); err != nil {
			return fmt.Errorf("store: update survey: %w", err)
		}
		out, err = loadSurvey(ctx, tx, id)
		return err
	})
	if err != nil {
		return Survey{}, wrap("update", err)
	}
	return out, nil
}

// Delete removes a survey that never ran; a survey with runs is archived
// instead (its runs and answers stay for stats and exports, its schedule
// stops, its open runs close). It reports whether the survey was deleted.
// A feature's system survey (csat) is refused with ErrSystem.
func (s *Service) Delete(ctx context.Context, tenantID, id uuid.UUID) (deleted bool, err error) {
	now := s.clock.Now()
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var key *string
		var runs bool
		err := tx.QueryRow(ctx, `SELECT key, EXISTS (SELECT 1 FROM survey_runs r WHERE r.survey_id = s.id)
			FROM surveys s WHERE id = $1 FOR UPDATE`, id).Scan(&key, &runs)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: survey: %w", err)
		}
		if key != nil {
			return ErrSystem
		}
		if !runs {
			deleted = true
			_, err := tx.Exec(ctx, `DELETE FROM surveys WHERE id = $1`, id)
			return err
		}
		deleted = false
		if _, err := tx.Exec(ctx, `UPDATE surveys SET archived_at = COALESCE(archived_at, $2), updated_at = $2 WHERE id = $1`, id, now); err != nil {
			return fmt.Errorf("store: archive: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE survey_schedules SET enabled = false, next_at = NULL, updated_at = $2 WHERE survey_id = $1`, id, now); err != nil {
			return fmt.Errorf("store: stop schedule: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE survey_runs SET closed_at = $2 WHERE survey_id = $1 AND closed_at IS NULL
			AND (closes_at IS NULL OR closes_at > $2)`, id, now)
		return err
	})
	return deleted, wrap("delete", err)
}

// Run is a survey run with its figures: asked contacts, questions
// delivered (the outbox sent the first question), contacts who answered at
// least one question, and who completed the survey.
type Run struct {
	ID        uuid.UUID  `json:"id"`
	SurveyID  uuid.UUID  `json:"survey_id"`
	Source    string     `json:"source"`
	Ref       string     `json:"ref,omitempty"`
	Period    string     `json:"period,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ClosesAt  *time.Time `json:"closes_at,omitempty"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	Closed    bool       `json:"closed"`
	// AskState: none (its caller asks), asking (batches under way), done.
	AskState  string `json:"ask_state"`
	Asked     int    `json:"asked"`
	Delivered int    `json:"delivered"`
	Answered  int    `json:"answered"`
	Completed int    `json:"completed"`
}

const runCols = `r.id, r.survey_id, r.source, r.ref, COALESCE(r.period, ''), r.created_at, r.closes_at, r.closed_at, r.ask_state,
	(SELECT count(*) FROM survey_asks k WHERE k.run_id = r.id),
	(SELECT count(*) FROM outbox_messages m WHERE m.tenant_id = r.tenant_id AND m.kind = 'survey.question'
		AND m.ref = r.id::text AND m.status = 'sent'),
	(SELECT count(DISTINCT a.contact_id) FROM survey_answers a WHERE a.run_id = r.id),
	(SELECT count(*) FROM survey_asks k WHERE k.run_id = r.id AND k.completed_at IS NOT NULL)`

func (s *Service) scanRun(r pgx.Row) (Run, error) {
	var out Run
	err := r.Scan(&out.ID, &out.SurveyID, &out.Source, &out.Ref, &out.Period, &out.CreatedAt, &out.ClosesAt, &out.ClosedAt,
		&out.AskState, &out.Asked, &out.Delivered, &out.Answered, &out.Completed)
	rr := runRow{ClosesAt: out.ClosesAt, ClosedAt: out.ClosedAt}
	out.Closed = rr.closed(s.clock.Now())
	return out, err
}

// Runs lists a survey's runs, newest first, with their figures.
func (s *Service) Runs(ctx context.Context, tenantID, surveyID uuid.UUID, limit int) ([]Run, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	out := []Run{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM surveys WHERE id = $1`, surveyID).Scan(&one); db.IsNotFound(err) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+runCols+` FROM survey_runs r WHERE r.survey_id = $1
			ORDER BY r.created_at DESC, r.id LIMIT $2`, surveyID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			run, err := s.scanRun(rows)
			if err != nil {
				return err
			}
			out = append(out, run)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("runs", err)
	}
	return out, nil
}

// GetRun returns one run with its figures.
func (s *Service) GetRun(ctx context.Context, tenantID, runID uuid.UUID) (Run, error) {
	var out Run
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = s.scanRun(tx.QueryRow(ctx, `SELECT `+runCols+` FROM survey_runs r WHERE r.id = $1`, runID))
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return Run{}, wrap("run", err)
	}
	return out, nil
}
