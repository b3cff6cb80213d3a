package survey

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// NPS methods.
const (
	// MethodTop2 (1–5 scales, seed 000): the share of 4–5 answers minus the
	// share of 1–2 answers, in percent.
	MethodTop2 = "top2_minus_bottom2"
	// MethodNPS (0–10 and 1–10 scales): promoters (9–10) minus detractors
	// (6 and below), in percent.
	MethodNPS = "nps"
)

// NPSPeriod is one run of a survey as a period of the trend.
type NPSPeriod struct {
	RunID     uuid.UUID `json:"run_id"`
	Period    string    `json:"period"`
	StartedAt time.Time `json:"started_at"`
	Asked     int       `json:"asked"`
	Completed int       `json:"completed"`
}

// NPSFigures are one scale question's figures in one period.
type NPSFigures struct {
	RunID        uuid.UUID      `json:"run_id"`
	Period       string         `json:"period"`
	Answered     int            `json:"answered"`
	Average      *float64       `json:"average"`
	Distribution map[string]int `json:"distribution"`
	// Promoters, Passives, Detractors count the answers in each band
	// (4–5 / 3 / 1–2 on a 1–5 scale; 9–10 / 7–8 / ≤6 on 0–10 and 1–10).
	Promoters  int `json:"promoters"`
	Passives   int `json:"passives"`
	Detractors int `json:"detractors"`
	// Score is (promoters − detractors) / answered × 100; nil without answers.
	Score *float64 `json:"score"`
}

// NPSQuestion is a scale question's trend, oldest period first.
type NPSQuestion struct {
	Position int          `json:"position"`
	Prompt   string       `json:"prompt"`
	ScaleMin int          `json:"scale_min"`
	ScaleMax int          `json:"scale_max"`
	Method   string       `json:"method"`
	Periods  []NPSFigures `json:"periods"`
	// Change is the latest period's score minus the one before (nil unless
	// both have answers).
	Change *float64 `json:"change"`
}

// NPSReport is the trend of a survey's scale questions over its last runs.
type NPSReport struct {
	SurveyID  uuid.UUID     `json:"survey_id"`
	Periods   []NPSPeriod   `json:"periods"`
	Questions []NPSQuestion `json:"questions"`
}

// bands classifies a scale value: +1 promoter, 0 passive, -1 detractor.
func bands(lo, hi, v int) int {
	if lo == 1 && hi == 5 {
		switch {
		case v >= 4:
			return 1
		case v <= 2:
			return -1
		}
		return 0
	}
	switch {
	case v >= 9:
		return 1
	case v <= 6:
		return -1
	}
	return 0
}

// NPS computes, per scale question and per run (the last `periods` runs,
// oldest first), the average, the distribution and the score.
func (s *Service) NPS(ctx context.Context, tenantID, surveyID uuid.UUID, periods int) (NPSReport, error) {
	if periods <= 0 || periods > 120 {
		periods = 12
	}
	out := NPSReport{SurveyID: surveyID, Periods: []NPSPeriod{}, Questions: []NPSQuestion{}}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		sv, err := loadSurvey(ctx, tx, surveyID)
		if err != nil {
			return err
		}
		var tz string
		if err := tx.QueryRow(ctx, `SELECT timezone FROM tenants WHERE id = $1`, tenantID).Scan(&tz); err != nil {
			return fmt.Errorf("store: tenant time zone: %w", err)
		}
		loc, err := time.LoadLocation(tz)
		if err != nil {
			loc = time.UTC
		}
		rows, err := tx.Query(ctx, `SELECT * FROM (SELECT r.id, COALESCE(r.period, ''), r.created_at,
			(SELECT count(*) FROM survey_asks k WHERE k.run_id = r.id),
			(SELECT count(*) FROM survey_asks k WHERE k.run_id = r.id AND k.completed_at IS NOT NULL)
			FROM survey_runs r WHERE r.survey_id = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT $2) x
			ORDER BY 3, 1`, surveyID, periods)
		if err != nil {
			return fmt.Errorf("store: nps runs: %w", err)
		}
		var runIDs []uuid.UUID
		for rows.Next() {
			var p NPSPeriod
			if err := rows.Scan(&p.RunID, &p.Period, &p.StartedAt, &p.Asked, &p.Completed); err != nil {
				rows.Close()
				return err
			}
			if p.Period == "" {
				p.Period = p.StartedAt.In(loc).Format("2006-01-02")
			}
			out.Periods = append(out.Periods, p)
			runIDs = append(runIDs, p.RunID)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, q := range sv.Questions {
			if q.Kind != KindScale {
				continue
			}
			nq, err := npsQuestion(ctx, tx, q, out.Periods, runIDs)
			if err != nil {
				return err
			}
			out.Questions = append(out.Questions, nq)
		}
		return nil
	})
	if err != nil {
		return NPSReport{}, wrap("nps", err)
	}
	return out, nil
}

func npsQuestion(ctx context.Context, tx pgx.Tx, q Question, periods []NPSPeriod, runIDs []uuid.UUID) (NPSQuestion, error) {
	nq := NPSQuestion{Position: q.Position, Prompt: q.Prompt, ScaleMin: q.ScaleMin, ScaleMax: q.ScaleMax,
		Method: MethodNPS, Periods: []NPSFigures{}}
	if nq.Prompt == "" {
		nq.Prompt = q.PromptKey
	}
	if q.ScaleMin == 1 && q.ScaleMax == 5 {
		nq.Method = MethodTop2
	}
	counts := map[uuid.UUID]map[int]int{}
	rows, err := tx.Query(ctx, `SELECT run_id, value, count(*) FROM survey_answers
		WHERE question_id = $1 AND run_id = ANY($2) AND NOT skipped AND value IS NOT NULL GROUP BY 1, 2`, q.ID, runIDs)
	if err != nil {
		return nq, fmt.Errorf("store: nps counts: %w", err)
	}
	for rows.Next() {
		var run uuid.UUID
		var v, n int
		if err := rows.Scan(&run, &v, &n); err != nil {
			rows.Close()
			return nq, err
		}
		if counts[run] == nil {
			counts[run] = map[int]int{}
		}
		counts[run][v] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nq, err
	}
	for _, p := range periods {
		f := NPSFigures{RunID: p.RunID, Period: p.Period, Distribution: map[string]int{}}
		sum := 0
		for v := q.ScaleMin; v <= q.ScaleMax; v++ {
			n := counts[p.RunID][v]
			f.Distribution[strconv.Itoa(v)] = n
			f.Answered += n
			sum += v * n
			switch bands(q.ScaleMin, q.ScaleMax, v) {
			case 1:
				f.Promoters += n
			case -1:
				f.Detractors += n
			default:
				f.Passives += n
			}
		}
		if f.Answered > 0 {
			avg := float64(sum) / float64(f.Answered)
			score := float64(f.Promoters-f.Detractors) * 100 / float64(f.Answered)
			f.Average, f.Score = &avg, &score
		}
		nq.Periods = append(nq.Periods, f)
	}
	if n := len(nq.Periods); n >= 2 && nq.Periods[n-1].Score != nil && nq.Periods[n-2].Score != nil {
		c := *nq.Periods[n-1].Score - *nq.Periods[n-2].Score
		nq.Change = &c
	}
	return nq, nil
}
