package support

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AgentMetrics are one agent's figures over the tickets opened in a period.
// A console user is counted by user id; a Telegram staff member by their
// support_staff record — under their console user once linked
// (support_staff.user_id; the /link command that sets it is not built yet).
type AgentMetrics struct {
	UserID                     *uuid.UUID `json:"user_id"`
	TgUserID                   *int64     `json:"tg_user_id,omitempty"`
	Name                       string     `json:"name"`
	TicketsHandled             int        `json:"tickets_handled"`
	MedianFirstResponseSeconds *float64   `json:"median_first_response_seconds"`
	MedianResolutionSeconds    *float64   `json:"median_resolution_seconds"`
	CSATAvg                    *float64   `json:"csat_avg"`
	CSATCount                  int        `json:"csat_count"`
}

// Metrics are per-agent figures and the totals over every ticket of the
// period (assigned or not).
type Metrics struct {
	From   time.Time      `json:"from"`
	To     time.Time      `json:"to"`
	Agents []AgentMetrics `json:"agents"`
	Totals AgentMetrics   `json:"totals"`
}

// metricsSQL computes everything in one statement: tickets opened in
// [from, to), each attributed to its assignee (a staff member linked to a
// console user counts as that user), medians with percentile_cont, the CSAT
// rating (question 1 of the ticket's CSAT run). GROUPING SETS adds the
// totals row (grouping = 3).
const metricsSQL = `
WITH t AS (
	SELECT tk.opened_at, tk.first_response_at, tk.resolved_at, tk.csat_run_id,
		COALESCE(tk.assignee_user_id, st.user_id) AS user_id,
		CASE WHEN tk.assignee_user_id IS NULL AND st.user_id IS NULL THEN tk.assignee_tg_user_id END AS tg_user_id,
		COALESCE(NULLIF(u.name, ''), NULLIF(st.name, ''), tk.assignee_name) AS name
	FROM support_tickets tk
	LEFT JOIN support_staff st ON tk.assignee_user_id IS NULL AND st.tg_user_id = tk.assignee_tg_user_id
	LEFT JOIN users u ON u.id = COALESCE(tk.assignee_user_id, st.user_id)
	WHERE tk.opened_at >= $1 AND tk.opened_at < $2
), rating AS (
	SELECT a.run_id, a.value FROM survey_answers a JOIN survey_questions q ON q.id = a.question_id
	WHERE q.position = 1 AND a.value IS NOT NULL AND NOT a.skipped
)
SELECT GROUPING(t.user_id, t.tg_user_id), t.user_id, t.tg_user_id, COALESCE(max(t.name), ''), count(*),
	percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.first_response_at - t.opened_at)::float8)
		FILTER (WHERE t.first_response_at IS NOT NULL),
	percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.resolved_at - t.opened_at)::float8)
		FILTER (WHERE t.resolved_at IS NOT NULL),
	avg(r.value)::float8, count(r.value)
FROM t LEFT JOIN rating r ON r.run_id = t.csat_run_id
GROUP BY GROUPING SETS ((t.user_id, t.tg_user_id), ())
ORDER BY count(*) DESC, 4`

// Metrics computes agent metrics over tickets opened in [from, to).
func (s *Service) Metrics(ctx context.Context, tenantID uuid.UUID, from, to time.Time) (Metrics, error) {
	out := Metrics{From: from, To: to, Agents: []AgentMetrics{}}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, metricsSQL, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var grouping int
			var m AgentMetrics
			if err := rows.Scan(&grouping, &m.UserID, &m.TgUserID, &m.Name, &m.TicketsHandled, &m.MedianFirstResponseSeconds,
				&m.MedianResolutionSeconds, &m.CSATAvg, &m.CSATCount); err != nil {
				return err
			}
			switch {
			case grouping != 0:
				m.Name = ""
				out.Totals = m
			case m.UserID != nil || m.TgUserID != nil:
				out.Agents = append(out.Agents, m)
			}
			// The group with neither id holds unassigned tickets: totals only.
		}
		return rows.Err()
	})
	if err != nil {
		return Metrics{}, fmt.Errorf("support: metrics: %w", err)
	}
	return out, nil
}
