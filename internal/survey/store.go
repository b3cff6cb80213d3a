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

// Every query runs in db.InTenant (RLS scopes it to one tenant); tenant_id
// is written explicitly on insert.

// errExists: a system survey with the key exists already.
var errExists = errors.New("survey: key exists")

func insertSurvey(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, d Def, now time.Time) (Survey, error) {
	out := Survey{ID: ids.New(), Key: d.Key, Title: d.Title, ThanksSticker: d.ThanksSticker, CreatedAt: now}
	var key *string
	if d.Key != "" {
		key = &d.Key
	}
	tag, err := tx.Exec(ctx, `INSERT INTO surveys (id, tenant_id, key, title, thanks_sticker, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, key) DO NOTHING`, out.ID, tenantID, key, d.Title, d.ThanksSticker, now)
	if err != nil {
		return Survey{}, fmt.Errorf("store: insert survey: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return Survey{}, errExists
	}
	out.Questions, err = insertQuestions(ctx, tx, tenantID, out.ID, d.Questions)
	return out, err
}

func insertQuestions(ctx context.Context, tx pgx.Tx, tenantID, surveyID uuid.UUID, qs []Question) ([]Question, error) {
	out := make([]Question, 0, len(qs))
	for _, q := range qs {
		q.ID = ids.New()
		opts, _ := json.Marshal(q.Options)
		var lo, hi *int
		if q.Kind == KindScale {
			lo, hi = &q.ScaleMin, &q.ScaleMax
		}
		if _, err := tx.Exec(ctx, `INSERT INTO survey_questions (id, tenant_id, survey_id, position, kind, prompt,
			prompt_key, options, scale_min, scale_max, optional) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			q.ID, tenantID, surveyID, q.Position, q.Kind, q.Prompt, q.PromptKey, string(opts), lo, hi, q.Optional); err != nil {
			return nil, fmt.Errorf("store: insert question: %w", err)
		}
		out = append(out, q)
	}
	return out, nil
}

func loadSurvey(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Survey, error) {
	var out Survey
	var key *string
	err := tx.QueryRow(ctx, `SELECT id, key, title, thanks_sticker, created_at, archived_at FROM surveys WHERE id = $1`, id).
		Scan(&out.ID, &key, &out.Title, &out.ThanksSticker, &out.CreatedAt, &out.ArchivedAt)
	if db.IsNotFound(err) {
		return Survey{}, ErrNotFound
	}
	if err != nil {
		return Survey{}, fmt.Errorf("store: survey: %w", err)
	}
	if key != nil {
		out.Key = *key
	}
	out.Questions, err = questionsOf(ctx, tx, id)
	return out, err
}

const questionCols = `id, position, kind, prompt, prompt_key, options, COALESCE(scale_min, 0), COALESCE(scale_max, 0), optional`

func scanQuestion(r pgx.Row) (Question, error) {
	var q Question
	var opts []byte
	err := r.Scan(&q.ID, &q.Position, &q.Kind, &q.Prompt, &q.PromptKey, &opts, &q.ScaleMin, &q.ScaleMax, &q.Optional)
	if err != nil {
		return q, err
	}
	if err := json.Unmarshal(opts, &q.Options); err != nil || q.Options == nil {
		q.Options = []string{}
	}
	return q, nil
}

func questionsOf(ctx context.Context, tx pgx.Tx, surveyID uuid.UUID) ([]Question, error) {
	rows, err := tx.Query(ctx, `SELECT `+questionCols+` FROM survey_questions WHERE survey_id = $1 ORDER BY position`, surveyID)
	if err != nil {
		return nil, fmt.Errorf("store: questions: %w", err)
	}
	qs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Question, error) { return scanQuestion(r) })
	if err != nil {
		return nil, fmt.Errorf("store: questions: %w", err)
	}
	return qs, nil
}

// questionAt is the survey's question at position (nil past the last).
func questionAt(ctx context.Context, tx pgx.Tx, surveyID uuid.UUID, pos int) (*Question, error) {
	q, err := scanQuestion(tx.QueryRow(ctx, `SELECT `+questionCols+` FROM survey_questions
		WHERE survey_id = $1 AND position = $2`, surveyID, pos))
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: question: %w", err)
	}
	return &q, nil
}

type runRow struct {
	ID       uuid.UUID
	SurveyID uuid.UUID
	Source   string
	Ref      string
	ClosesAt *time.Time
	ClosedAt *time.Time
	// Sticker is the survey's thank-you sticker.
	Sticker string
}

func (r *runRow) closed(now time.Time) bool {
	return r.ClosedAt != nil || (r.ClosesAt != nil && !now.Before(*r.ClosesAt))
}

func loadRun(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*runRow, error) {
	var r runRow
	err := tx.QueryRow(ctx, `SELECT r.id, r.survey_id, r.source, r.ref, r.closes_at, r.closed_at, s.thanks_sticker
		FROM survey_runs r JOIN surveys s ON s.id = r.survey_id WHERE r.id = $1`, id).
		Scan(&r.ID, &r.SurveyID, &r.Source, &r.Ref, &r.ClosesAt, &r.ClosedAt, &r.Sticker)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: run: %w", err)
	}
	return &r, nil
}

type askRow struct {
	BotID, ChatID int64
	Lang          string
	Position      int
	CompletedAt   *time.Time
}

func loadAsk(ctx context.Context, tx pgx.Tx, runID, contactID uuid.UUID) (*askRow, error) {
	var a askRow
	err := tx.QueryRow(ctx, `SELECT bot_id, chat_id, lang, position, completed_at FROM survey_asks WHERE run_id = $1 AND contact_id = $2
		FOR UPDATE`, runID, contactID).Scan(&a.BotID, &a.ChatID, &a.Lang, &a.Position, &a.CompletedAt)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: ask: %w", err)
	}
	return &a, nil
}

// loadValue is the contact's stored answer to a question (nil if none).
func loadValue(ctx context.Context, tx pgx.Tx, runID, questionID, contactID uuid.UUID) (*Value, error) {
	var v Value
	var choices []int32
	err := tx.QueryRow(ctx, `SELECT choices, value, text, skipped FROM survey_answers WHERE run_id = $1
		AND question_id = $2 AND contact_id = $3`, runID, questionID, contactID).Scan(&choices, &v.Value, &v.Text, &v.Skipped)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: answer: %w", err)
	}
	for _, c := range choices {
		v.Choices = append(v.Choices, int(c))
	}
	return &v, nil
}

// saveValue stores the contact's answer, replacing an earlier one; it
// reports whether there was one.
func saveValue(ctx context.Context, tx pgx.Tx, tenantID, runID, questionID, contactID uuid.UUID, v Value, now time.Time) (bool, error) {
	choices := make([]int32, 0, len(v.Choices))
	for _, c := range v.Choices {
		choices = append(choices, int32(c))
	}
	var inserted bool
	err := tx.QueryRow(ctx, `INSERT INTO survey_answers (tenant_id, run_id, question_id, contact_id, choices, value, text,
		skipped, answered_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
		ON CONFLICT (tenant_id, run_id, question_id, contact_id) DO UPDATE SET choices = EXCLUDED.choices,
		value = EXCLUDED.value, text = EXCLUDED.text, skipped = EXCLUDED.skipped, updated_at = EXCLUDED.updated_at
		RETURNING xmax = 0`, tenantID, runID, questionID, contactID, choices, v.Value, v.Text, v.Skipped, now).Scan(&inserted)
	if err != nil {
		return false, fmt.Errorf("store: save answer: %w", err)
	}
	return !inserted, nil
}

// allValues are the contact's answers in a run by question position.
func allValues(ctx context.Context, tx pgx.Tx, runID, contactID uuid.UUID) (map[int]Value, error) {
	rows, err := tx.Query(ctx, `SELECT q.position, a.choices, a.value, a.text, a.skipped FROM survey_answers a
		JOIN survey_questions q ON q.id = a.question_id WHERE a.run_id = $1 AND a.contact_id = $2`, runID, contactID)
	if err != nil {
		return nil, fmt.Errorf("store: answers: %w", err)
	}
	defer rows.Close()
	out := map[int]Value{}
	for rows.Next() {
		var pos int
		var v Value
		var choices []int32
		if err := rows.Scan(&pos, &choices, &v.Value, &v.Text, &v.Skipped); err != nil {
			return nil, fmt.Errorf("store: answers: %w", err)
		}
		for _, c := range choices {
			v.Choices = append(v.Choices, int(c))
		}
		out[pos] = v
	}
	return out, rows.Err()
}
