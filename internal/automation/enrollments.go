package automation

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// Enrollment is one contact's way through a sequence, with its steps.
type Enrollment struct {
	ID           uuid.UUID        `json:"id"`
	ContactID    uuid.UUID        `json:"contact_id"`
	DealID       string           `json:"deal_id,omitempty"`
	Status       string           `json:"status"`
	CancelReason string           `json:"cancel_reason,omitempty"`
	StartedAt    time.Time        `json:"started_at"`
	EndedAt      *time.Time       `json:"ended_at,omitempty"`
	Steps        []EnrollmentStep `json:"steps"`
}

// EnrollmentStep is one step for one recipient: scheduled, sent, skipped,
// cancelled or failed, with why.
type EnrollmentStep struct {
	Idx       int        `json:"idx"`
	Recipient string     `json:"recipient"`
	DueAt     time.Time  `json:"due_at"`
	State     string     `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
}

// Enrollments lists a sequence's latest enrollments (status "" = any),
// newest first, with their steps: who is in the sequence, what was sent
// and what is due.
func (s *Service) Enrollments(ctx context.Context, tenantID, sequenceID uuid.UUID, status string, limit int) ([]Enrollment, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	switch status {
	case "", "active", "done", "cancelled":
	default:
		return nil, &InvalidError{Field: "status", Code: "invalid", Message: "active, done or cancelled"}
	}
	out := []Enrollment{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM sequences WHERE id = $1`, sequenceID).Scan(&one); db.IsNotFound(err) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT e.id, e.contact_id, e.deal_id, e.status, e.cancel_reason, e.started_at, e.ended_at,
				st.idx, st.recipient, st.due_at, st.state, st.reason, st.done_at
			FROM (SELECT * FROM sequence_enrollments WHERE sequence_id = $1 AND ($2 = '' OR status = $2)
				ORDER BY started_at DESC, id LIMIT $3) e
			LEFT JOIN sequence_steps st ON st.enrollment_id = e.id
			ORDER BY e.started_at DESC, e.id, st.idx, st.recipient`, sequenceID, status, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e Enrollment
			var idx *int
			var recipient, state, reason *string
			var due, done *time.Time
			if err := rows.Scan(&e.ID, &e.ContactID, &e.DealID, &e.Status, &e.CancelReason, &e.StartedAt, &e.EndedAt,
				&idx, &recipient, &due, &state, &reason, &done); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].ID != e.ID {
				e.Steps = []EnrollmentStep{}
				out = append(out, e)
			}
			if idx != nil {
				last := &out[len(out)-1]
				last.Steps = append(last.Steps, EnrollmentStep{Idx: *idx, Recipient: *recipient, DueAt: *due, State: *state,
					Reason: *reason, DoneAt: done})
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("automation: enrollments: %w", err)
	}
	return out, nil
}
