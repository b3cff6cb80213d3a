package broadcast

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/xuri/excelize/v2"

	"github.com/tgdesk/helpdesk/internal/platform/spreadsheet"
	"github.com/tgdesk/helpdesk/internal/survey"
)

// Stats sum up a campaign.
type Stats struct {
	CampaignID   uuid.UUID `json:"campaign_id"`
	Status       string    `json:"status"`
	AudienceSize int       `json:"audience_size"`
	// Queued: handed to the outbox, outcome not in yet.
	Queued  int `json:"queued"`
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Blocked int `json:"blocked"`
	// Unknown: the call was interrupted; it may or may not have arrived and
	// is never repeated (at most once).
	Unknown int `json:"unknown"`
	// FailedByReason counts failures by Telegram's description.
	FailedByReason map[string]int `json:"failed_by_reason"`
	// Viewed: recipients who pressed "read more".
	Viewed int `json:"viewed"`
	// Clicked: recipients who pressed a tracked URL button; Clicks: presses.
	Clicked int           `json:"clicked"`
	Clicks  int           `json:"clicks"`
	Survey  *survey.Stats `json:"survey,omitempty"`
	// CompletionRate: survey completions per sent message.
	CompletionRate *float64 `json:"completion_rate,omitempty"`
}

// Stats computes a campaign's figures.
func (s *Service) Stats(ctx context.Context, tenantID, id uuid.UUID) (Stats, error) {
	c, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{CampaignID: id, Status: c.Status, FailedByReason: map[string]int{}}
	if c.AudienceSize != nil {
		st.AudienceSize = *c.AudienceSize
	}
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'sent'),
				count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'blocked'),
				count(*) FILTER (WHERE status = 'unknown'), count(viewed_at), count(clicked_at), COALESCE(sum(clicks), 0)
			FROM campaign_deliveries WHERE tenant_id = $1 AND campaign_id = $2`, tenantID, id).
			Scan(&st.Queued, &st.Sent, &st.Failed, &st.Blocked, &st.Unknown, &st.Viewed, &st.Clicked, &st.Clicks); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT COALESCE(reason, ''), count(*) FROM campaign_deliveries
			WHERE tenant_id = $1 AND campaign_id = $2 AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC LIMIT 50`, tenantID, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var reason string
			var n int
			if err := rows.Scan(&reason, &n); err != nil {
				return err
			}
			st.FailedByReason[reason] = n
		}
		return rows.Err()
	})
	if err != nil {
		return Stats{}, fmt.Errorf("broadcast: stats: %w", err)
	}
	if c.SurveyID != nil && c.SurveyRunID != nil && s.surveys != nil {
		ss, err := s.surveys.Stats(ctx, tenantID, *c.SurveyID, c.SurveyRunID)
		if err != nil {
			return Stats{}, fmt.Errorf("broadcast: stats: survey: %w", err)
		}
		st.Survey = &ss
		if st.Sent > 0 {
			r := float64(ss.Completed) / float64(st.Sent)
			st.CompletionRate = &r
		}
	}
	return st, nil
}

// DeliveryRow is one recipient of a campaign as exported.
type DeliveryRow struct {
	ContactID  uuid.UUID
	ChatID     int64
	FirstName  string
	LastName   string
	Username   string
	Phone      string
	Status     string
	MessageID  *int64
	Reason     string
	QueuedAt   time.Time
	FinishedAt *time.Time
	ViewedAt   *time.Time
	Clicks     int
}

var exportHeader = []string{"contact_id", "chat_id", "first_name", "last_name", "username", "phone", "status", "message_id",
	"reason", "queued_at", "finished_at", "viewed_at", "clicks"}

func (r DeliveryRow) cells() []string {
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	mid := ""
	if r.MessageID != nil {
		mid = strconv.FormatInt(*r.MessageID, 10)
	}
	return []string{r.ContactID.String(), strconv.FormatInt(r.ChatID, 10), r.FirstName, r.LastName, r.Username, r.Phone,
		r.Status, mid, r.Reason, r.QueuedAt.UTC().Format(time.RFC3339), ts(r.FinishedAt), ts(r.ViewedAt), strconv.Itoa(r.Clicks)}
}

// Recipients streams a campaign's delivery rows, in bot chat order, to fn
// (one transaction with a cursor, so memory stays flat).
func (s *Service) Recipients(ctx context.Context, tenantID, id uuid.UUID, fn func(DeliveryRow) error) error {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return err
	}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT d.contact_id, d.chat_id, COALESCE(c.first_name, ''), COALESCE(c.last_name, ''),
				COALESCE(c.username, ''), COALESCE(c.phone, ''), d.status, d.message_id, COALESCE(d.reason, ''), d.queued_at,
				d.finished_at, d.viewed_at, d.clicks
			FROM campaign_deliveries d LEFT JOIN contacts c ON c.id = d.contact_id
			WHERE d.tenant_id = $1 AND d.campaign_id = $2 ORDER BY d.bot_chat_id`, tenantID, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r DeliveryRow
			if err := rows.Scan(&r.ContactID, &r.ChatID, &r.FirstName, &r.LastName, &r.Username, &r.Phone, &r.Status, &r.MessageID,
				&r.Reason, &r.QueuedAt, &r.FinishedAt, &r.ViewedAt, &r.Clicks); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return wrap("recipients", err)
}

// ExportCSV writes the recipients as CSV.
func (s *Service) ExportCSV(ctx context.Context, tenantID, id uuid.UUID, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(exportHeader); err != nil {
		return err
	}
	n := 0
	err := s.Recipients(ctx, tenantID, id, func(r DeliveryRow) error {
		n++
		if n%1000 == 0 {
			cw.Flush()
		}
		cells := r.cells()
		for i, c := range cells {
			cells[i] = spreadsheet.SafeCell(c) // names are the subscribers' to choose
		}
		return cw.Write(cells)
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}

// ExportXLSX writes the recipients as a spreadsheet through excelize's
// StreamWriter (rows go to a temporary file, not memory).
func (s *Service) ExportXLSX(ctx context.Context, tenantID, id uuid.UUID, w io.Writer) error {
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	const sheet = "Recipients"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	row := func(n int, cells []string) error {
		vals := make([]any, len(cells))
		for i, c := range cells {
			vals[i] = c
		}
		cell, _ := excelize.CoordinatesToCellName(1, n)
		return sw.SetRow(cell, vals)
	}
	if err := row(1, exportHeader); err != nil {
		return err
	}
	n := 1
	if err := s.Recipients(ctx, tenantID, id, func(r DeliveryRow) error {
		n++
		return row(n, r.cells())
	}); err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}
