package survey

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// OptionCount is how many chose an option.
type OptionCount struct {
	Option string `json:"option"`
	Count  int    `json:"count"`
}

// QuestionStats sums up the answers to one question.
type QuestionStats struct {
	Position int    `json:"position"`
	Kind     string `json:"kind"`
	Prompt   string `json:"prompt"`
	Answered int    `json:"answered"`
	Skipped  int    `json:"skipped"`
	// Options: single and multiple choice (a multiple-choice answer counts
	// once per chosen option).
	Options []OptionCount `json:"options,omitempty"`
	// Average and Distribution (value -> count, every value of the scale):
	// scale questions.
	Average      *float64       `json:"average,omitempty"`
	Distribution map[string]int `json:"distribution,omitempty"`
	// Texts: the latest free-text answers (at most 20).
	Texts []string `json:"texts,omitempty"`
}

// Stats sums up a survey, over all its runs or one.
type Stats struct {
	SurveyID  uuid.UUID       `json:"survey_id"`
	RunID     *uuid.UUID      `json:"run_id,omitempty"`
	Asked     int             `json:"asked"`
	Completed int             `json:"completed"`
	Questions []QuestionStats `json:"questions"`
}

// Stats computes per-question figures in SQL.
func (s *Service) Stats(ctx context.Context, tenantID, surveyID uuid.UUID, runID *uuid.UUID) (Stats, error) {
	out := Stats{SurveyID: surveyID, RunID: runID, Questions: []QuestionStats{}}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		sv, err := loadSurvey(ctx, tx, surveyID)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*), count(k.completed_at) FROM survey_asks k JOIN survey_runs r ON r.id = k.run_id
			WHERE r.survey_id = $1 AND ($2::uuid IS NULL OR r.id = $2)`, surveyID, runID).Scan(&out.Asked, &out.Completed); err != nil {
			return fmt.Errorf("store: asked: %w", err)
		}
		for _, q := range sv.Questions {
			qs, err := questionStats(ctx, tx, q, surveyID, runID)
			if err != nil {
				return err
			}
			out.Questions = append(out.Questions, qs)
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Stats{}, err
	}
	if err != nil {
		return Stats{}, fmt.Errorf("survey: stats: %w", err)
	}
	return out, nil
}

// answersOf selects a question's answers over the survey's runs (or one).
const answersOf = `FROM survey_answers a JOIN survey_runs r ON r.id = a.run_id
	WHERE a.question_id = $1 AND r.survey_id = $2 AND ($3::uuid IS NULL OR r.id = $3)`

func questionStats(ctx context.Context, tx pgx.Tx, q Question, surveyID uuid.UUID, runID *uuid.UUID) (QuestionStats, error) {
	qs := QuestionStats{Position: q.Position, Kind: q.Kind, Prompt: q.Prompt}
	if qs.Prompt == "" {
		qs.Prompt = q.PromptKey
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT a.skipped), count(*) FILTER (WHERE a.skipped),
		avg(a.value) FILTER (WHERE NOT a.skipped)::float8 `+answersOf, q.ID, surveyID, runID).
		Scan(&qs.Answered, &qs.Skipped, &qs.Average); err != nil {
		return qs, fmt.Errorf("store: question stats: %w", err)
	}
	switch q.Kind {
	case KindSingle, KindMulti:
		counts := make([]int, len(q.Options))
		rows, err := tx.Query(ctx, `SELECT c, count(*) FROM (SELECT unnest(a.choices) AS c `+answersOf+`) x GROUP BY c`, q.ID, surveyID, runID)
		if err != nil {
			return qs, fmt.Errorf("store: option counts: %w", err)
		}
		for rows.Next() {
			var c, n int
			if err := rows.Scan(&c, &n); err != nil {
				rows.Close()
				return qs, err
			}
			if c >= 0 && c < len(counts) {
				counts[c] = n
			}
		}
		rows.Close()
		for i, o := range q.Options {
			qs.Options = append(qs.Options, OptionCount{Option: o, Count: counts[i]})
		}
		qs.Average = nil
	case KindScale:
		qs.Distribution = map[string]int{}
		for v := q.ScaleMin; v <= q.ScaleMax; v++ {
			qs.Distribution[strconv.Itoa(v)] = 0
		}
		rows, err := tx.Query(ctx, `SELECT a.value, count(*) `+answersOf+` AND a.value IS NOT NULL GROUP BY a.value`, q.ID, surveyID, runID)
		if err != nil {
			return qs, fmt.Errorf("store: distribution: %w", err)
		}
		for rows.Next() {
			var v, n int
			if err := rows.Scan(&v, &n); err != nil {
				rows.Close()
				return qs, err
			}
			qs.Distribution[strconv.Itoa(v)] = n
		}
		rows.Close()
	case KindText:
		qs.Average = nil
		rows, err := tx.Query(ctx, `SELECT a.text `+answersOf+` AND a.text <> '' ORDER BY a.updated_at DESC LIMIT 20`, q.ID, surveyID, runID)
		if err != nil {
			return qs, fmt.Errorf("store: texts: %w", err)
		}
		qs.Texts, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return qs, fmt.Errorf("store: texts: %w", err)
		}
	}
	return qs, nil
}
