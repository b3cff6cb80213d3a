package loadtest

import (
	"context"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/survey"
)

// countingWriter counts the bytes of an export.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// BenchmarkSurveyExport streams the answers of one survey run with
// LOADTEST_EXPORT_ROWS contacts (default 50,000; four 1–5 questions and a
// text) as CSV and as XLSX, and prints rows per second and the peak Go heap
// growth while exporting: streaming keeps the heap flat in the row count
// (the XLSX StreamWriter spills rows to a temporary file).
func BenchmarkSurveyExport(b *testing.B) {
	st := newStores(b)
	ctx := context.Background()
	rows := 50_000
	if v, err := strconv.Atoi(os.Getenv("LOADTEST_EXPORT_ROWS")); err == nil && v > 0 {
		rows = v
	}
	tenant := ids.New()
	if _, err := st.DB.Owner.Exec(ctx, `INSERT INTO tenants (id, name, timezone) VALUES ($1, 'Export', 'Europe/Moscow')`, tenant); err != nil {
		b.Fatal(err)
	}
	svc := survey.NewService(st.DB.DB, nil, nil, survey.Options{})
	sv, err := svc.CreateSurvey(ctx, tenant, survey.Def{Title: "NPS", Questions: []survey.Question{
		{Kind: survey.KindScale, Prompt: "Events", ScaleMin: 1, ScaleMax: 5},
		{Kind: survey.KindScale, Prompt: "Chats", ScaleMin: 1, ScaleMax: 5},
		{Kind: survey.KindScale, Prompt: "Random Coffee", ScaleMin: 1, ScaleMax: 5},
		{Kind: survey.KindScale, Prompt: "Overall", ScaleMin: 1, ScaleMax: 5},
		{Kind: survey.KindText, Prompt: "Why?", Optional: true},
	}})
	if err != nil {
		b.Fatal(err)
	}
	run, err := svc.StartRun(ctx, tenant, sv.ID, survey.RunSpec{Source: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	// The rows are generated in SQL: contacts, asks, and an answer to every
	// question.
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO contacts (id, tenant_id, tg_user_id, first_name, last_name, username, phone)
		 SELECT gen_random_uuid(), $1, g, 'Имя' || g, 'Фамилия', 'user' || g, '+7999' || lpad(g::text, 7, '0')
		 FROM generate_series(1, $2::int) g`, []any{tenant, rows}},
		{`INSERT INTO survey_asks (tenant_id, run_id, contact_id, bot_id, chat_id, asked_at, completed_at)
		 SELECT $1, $2, c.id, 1, c.tg_user_id, now() - interval '1 hour', now() FROM contacts c WHERE c.tenant_id = $1`, []any{tenant, run}},
		{`INSERT INTO survey_answers (tenant_id, run_id, question_id, contact_id, value, text, answered_at, updated_at)
		 SELECT $1, $3, q.id, k.contact_id,
		        CASE WHEN q.kind = 'scale' THEN 1 + (abs(hashtext(k.contact_id::text || q.position)) % 5) END,
		        CASE WHEN q.kind = 'text' THEN 'Всё хорошо, спасибо за клуб' ELSE '' END, now(), now()
		 FROM survey_asks k JOIN survey_questions q ON q.survey_id = $2 WHERE k.run_id = $3`, []any{tenant, sv.ID, run}},
	} {
		if _, err := st.DB.Owner.Exec(ctx, q.sql, q.args...); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.DB.Owner.Exec(ctx, `ANALYZE contacts, survey_asks, survey_answers`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for _, format := range []string{survey.FormatCSV, survey.FormatXLSX} {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
		}()
		w := &countingWriter{}
		start := time.Now()
		if err := svc.Export(ctx, tenant, sv.ID, &run, format, io.Writer(w)); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		close(done)
		growth := float64(0)
		if p := peak.Load(); p > base.HeapInuse {
			growth = float64(p-base.HeapInuse) / (1 << 20)
		}
		say("survey export %s: %d rows, %.1f MB in %s", format, rows, float64(w.n.Load())/(1<<20), took.Round(time.Millisecond))
		bench(b, "survey_export_"+format+"_rows_per_s", float64(rows)/took.Seconds(), "rows/s", "")
		bench(b, "survey_export_"+format+"_heap_growth_mb", growth, "MB", "")
	}
}
