package survey

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/xuri/excelize/v2"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/spreadsheet"
)

// Export formats.
const (
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// ExportColumns are the fixed columns of an export, before one column per
// question ("1. <prompt>", ...).
var ExportColumns = []string{"run_id", "period", "contact_id", "name", "username", "phone", "asked_at", "completed_at", "answered_at"}

// timeLayout: export times are in the tenant's time zone.
const timeLayout = "2006-01-02 15:04:05"

// CheckExport reports whether an export can be made (the survey exists and
// the run, if given, is one of its runs), before a response is committed to
// streaming.
func (s *Service) CheckExport(ctx context.Context, tenantID, surveyID uuid.UUID, runID *uuid.UUID) error {
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		q := `SELECT 1 FROM surveys WHERE id = $1`
		args := []any{surveyID}
		if runID != nil {
			q = `SELECT 1 FROM survey_runs WHERE survey_id = $1 AND id = $2`
			args = append(args, *runID)
		}
		var one int
		if err := tx.QueryRow(ctx, q, args...).Scan(&one); db.IsNotFound(err) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return nil
	})
	return wrap("export", err)
}

// rowSink is where export rows go (CSV or an XLSX stream).
type rowSink interface {
	Row(cells []any) error
	Close() error
}

// Export writes the answers of a survey's runs (or one run) to w: one row
// per asked contact and run with a column per question and the times, in
// a stable order. Rows are read from PostgreSQL as they stream (one
// transaction, no buffering of the result); CSV is written as it goes, an
// XLSX through excelize's StreamWriter (rows spill to a temporary file past
// its memory threshold; the zip is written at the end).
func (s *Service) Export(ctx context.Context, tenantID, surveyID uuid.UUID, runID *uuid.UUID, format string, w io.Writer) error {
	var sink rowSink
	switch format {
	case FormatCSV:
		sink = newCSVSink(w)
	case FormatXLSX:
		x, err := newXLSXSink(w)
		if err != nil {
			return fmt.Errorf("survey: export: %w", err)
		}
		sink = x
	default:
		return &InvalidError{"format", "invalid", "csv or xlsx"}
	}
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
		header := make([]any, 0, len(ExportColumns)+len(sv.Questions))
		for _, c := range ExportColumns {
			header = append(header, c)
		}
		for _, q := range sv.Questions {
			p := q.Prompt
			if p == "" {
				p = q.PromptKey
			}
			header = append(header, strconv.Itoa(q.Position)+". "+p)
		}
		if err := sink.Row(header); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT k.run_id, COALESCE(r.period, ''), k.contact_id,
			trim(c.first_name || ' ' || c.last_name), c.username, c.phone, k.asked_at, k.completed_at,
			(SELECT max(a.updated_at) FROM survey_answers a WHERE a.run_id = k.run_id AND a.contact_id = k.contact_id),
			(SELECT jsonb_object_agg(q.position::text, jsonb_build_object('choices', a.choices, 'value', a.value,
				'text', a.text, 'skipped', a.skipped))
			 FROM survey_answers a JOIN survey_questions q ON q.id = a.question_id
			 WHERE a.run_id = k.run_id AND a.contact_id = k.contact_id)
			FROM survey_asks k JOIN survey_runs r ON r.id = k.run_id JOIN contacts c ON c.id = k.contact_id
			WHERE r.survey_id = $1 AND ($2::uuid IS NULL OR r.id = $2)
			ORDER BY r.created_at, r.id, k.asked_at, k.contact_id`, surveyID, runID)
		if err != nil {
			return fmt.Errorf("store: export: %w", err)
		}
		defer rows.Close()
		stamp := func(t *time.Time) any {
			if t == nil {
				return ""
			}
			return t.In(loc).Format(timeLayout)
		}
		for rows.Next() {
			var run, contact uuid.UUID
			var period, name, username, phone string
			var askedAt time.Time
			var completedAt, answeredAt *time.Time
			var raw []byte
			if err := rows.Scan(&run, &period, &contact, &name, &username, &phone, &askedAt, &completedAt, &answeredAt, &raw); err != nil {
				return fmt.Errorf("store: export row: %w", err)
			}
			answers := map[string]Value{}
			if raw != nil {
				if err := json.Unmarshal(raw, &answers); err != nil {
					return fmt.Errorf("store: export answers: %w", err)
				}
			}
			cells := []any{run.String(), period, contact.String(), name, username, phone, stamp(&askedAt), stamp(completedAt), stamp(answeredAt)}
			for _, q := range sv.Questions {
				v, ok := answers[strconv.Itoa(q.Position)]
				cells = append(cells, cell(q, v, ok))
			}
			if err := sink.Row(cells); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		if x, ok := sink.(*xlsxSink); ok {
			_ = x.f.Close() // drops its temporary files
		}
		return wrap("export", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("survey: export: %w", err)
	}
	return nil
}

// cell is an answer as a spreadsheet cell: the option's label (labels
// joined with "; " for multiple choice), the scale value as a number, the
// text; "" for no answer or a skipped question.
func cell(q Question, v Value, ok bool) any {
	if !ok || v.Skipped {
		return ""
	}
	switch q.Kind {
	case KindSingle, KindMulti:
		labels := make([]string, 0, len(v.Choices))
		for _, c := range v.Choices {
			if c >= 0 && c < len(q.Options) {
				labels = append(labels, q.Options[c])
			}
		}
		return strings.Join(labels, "; ")
	case KindScale:
		if v.Value != nil {
			return *v.Value
		}
		return ""
	}
	return v.Text
}

type csvSink struct {
	w *csv.Writer
	n int
}

// newCSVSink writes UTF-8 with a byte-order mark, which spreadsheet
// programs need to read non-Latin text (the tenants write Russian).
func newCSVSink(w io.Writer) *csvSink {
	_, _ = io.WriteString(w, "\uFEFF")
	return &csvSink{w: csv.NewWriter(w)}
}

func (c *csvSink) Row(cells []any) error {
	rec := make([]string, len(cells))
	for i, v := range cells {
		switch x := v.(type) {
		case string:
			rec[i] = spreadsheet.SafeCell(x)
		default:
			rec[i] = fmt.Sprint(x)
		}
	}
	if err := c.w.Write(rec); err != nil {
		return err
	}
	if c.n++; c.n%256 == 0 {
		c.w.Flush()
		return c.w.Error()
	}
	return nil
}

func (c *csvSink) Close() error {
	c.w.Flush()
	return c.w.Error()
}

type xlsxSink struct {
	out io.Writer
	f   *excelize.File
	sw  *excelize.StreamWriter
	row int
}

func newXLSXSink(w io.Writer) (*xlsxSink, error) {
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", "Answers"); err != nil {
		return nil, err
	}
	sw, err := f.NewStreamWriter("Answers")
	if err != nil {
		return nil, err
	}
	return &xlsxSink{out: w, f: f, sw: sw}, nil
}

func (x *xlsxSink) Row(cells []any) error {
	x.row++
	ref, err := excelize.CoordinatesToCellName(1, x.row)
	if err != nil {
		return err
	}
	return x.sw.SetRow(ref, cells)
}

func (x *xlsxSink) Close() error {
	defer x.f.Close()
	if err := x.sw.Flush(); err != nil {
		return err
	}
	return x.f.Write(x.out)
}
