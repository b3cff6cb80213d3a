package survey_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/xuri/excelize/v2"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/survey"
)

// scriptTenant is a tenant with no bot: figures and exports read stored
// answers, so the answers are written straight into the tables.
type scriptTenant struct {
	t      *testing.T
	svc    *survey.Service
	tenant uuid.UUID
}

func newScript(t *testing.T, svc *survey.Service, tz string) *scriptTenant {
	t.Helper()
	s := &scriptTenant{t: t, svc: svc, tenant: ids.New()}
	if _, err := env.Owner.Exec(context.Background(), `INSERT INTO tenants (id, name, timezone) VALUES ($1, 'Figures', $2)`, s.tenant, tz); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *scriptTenant) contact(first, last, username, phone string) uuid.UUID {
	s.t.Helper()
	id := ids.New()
	if _, err := env.Owner.Exec(context.Background(), `INSERT INTO contacts (id, tenant_id, first_name, last_name, username, phone)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, s.tenant, first, last, username, phone); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// answers stores a contact's ask and answers (by question position) in a
// run; completed marks the ask complete at `at`.
func (s *scriptTenant) answers(run, contact uuid.UUID, at time.Time, completed bool, vs map[int]survey.Value) {
	s.t.Helper()
	ctx := context.Background()
	var done *time.Time
	if completed {
		done = &at
	}
	if _, err := env.Owner.Exec(ctx, `INSERT INTO survey_asks (tenant_id, run_id, contact_id, bot_id, chat_id, asked_at, completed_at)
		VALUES ($1, $2, $3, 1, 1, $4, $5)`, s.tenant, run, contact, at.Add(-time.Hour), done); err != nil {
		s.t.Fatal(err)
	}
	for pos, v := range vs {
		choices := v.Choices
		if choices == nil {
			choices = []int{}
		}
		if _, err := env.Owner.Exec(ctx, `INSERT INTO survey_answers (tenant_id, run_id, question_id, contact_id, choices, value, text,
			skipped, answered_at, updated_at) SELECT $1, $2, q.id, $3, $4, $5, $6, $7, $8, $8 FROM survey_questions q
			JOIN survey_runs r ON r.survey_id = q.survey_id WHERE r.id = $2 AND q.position = $9`,
			s.tenant, run, contact, choices, v.Value, v.Text, v.Skipped, at, pos); err != nil {
			s.t.Fatal(err)
		}
	}
}

// bare is an engine without Telegram, and a tenant of its own that owns
// nothing, for the figures and the exports (which read stored answers).
func bare(t *testing.T) *rig {
	r := &rig{t: t, tenant: ids.New(), svc: survey.NewService(env.DB, nil, nil, survey.Options{})}
	if _, err := env.Owner.Exec(context.Background(), `INSERT INTO tenants (id, name) VALUES ($1, 'Other')`, r.tenant); err != nil {
		t.Fatal(err)
	}
	return r
}

func scale(v int) survey.Value { return survey.Value{Value: &v} }

// NPS figures from a scripted set of answers: per question and period the
// average, the distribution, the bands and the score, exactly — the share
// of 4–5 minus the share of 1–2 on a 1–5 scale (seed 000), promoters 9–10
// minus detractors 0–6 on 0–10; skipped answers count for neither; the
// trend is oldest first and the change is the last two scores' difference.
func TestNPSFiguresFromScriptedAnswers(t *testing.T) {
	r := bare(t)
	ctx := context.Background()
	s := newScript(t, r.svc, "Europe/Moscow")
	sv, err := r.svc.CreateSurvey(ctx, s.tenant, survey.Def{Title: "NPS", Questions: []survey.Question{
		{Kind: survey.KindScale, Prompt: "Club overall", ScaleMin: 1, ScaleMax: 5},
		{Kind: survey.KindScale, Prompt: "Recommend us?", ScaleMin: 0, ScaleMax: 10},
		{Kind: survey.KindText, Prompt: "Why?", Optional: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	script := []struct {
		q1, q2 []int
	}{
		{q1: []int{5, 5, 4, 3, 2, 1, 1, 4}, q2: []int{10, 9, 9, 8, 7, 6, 0, 3}},
		{q1: []int{5, 4, 4, 4, 3}, q2: []int{10, 10, 9, 2, 7}},
	}
	base := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	var runs []uuid.UUID
	for i, sc := range script {
		run, err := r.svc.StartRun(ctx, s.tenant, sv.ID, survey.RunSpec{Source: "manual"})
		if err != nil {
			t.Fatal(err)
		}
		at := base.AddDate(0, i, 0)
		if _, err := env.Owner.Exec(ctx, `UPDATE survey_runs SET created_at = $2 WHERE id = $1`, run, at); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
		for j := range sc.q1 {
			c := s.contact("P", "", "", "")
			s.answers(run, c, at.Add(time.Minute), true, map[int]survey.Value{1: scale(sc.q1[j]), 2: scale(sc.q2[j]), 3: {Text: "ok"}})
		}
		// One contact skipped both scale questions: not counted.
		c := s.contact("Skip", "", "", "")
		s.answers(run, c, at.Add(time.Minute), true, map[int]survey.Value{1: {Skipped: true}, 2: {Skipped: true}})
	}
	// An older run beyond periods=2 is left out.
	old, _ := r.svc.StartRun(ctx, s.tenant, sv.ID, survey.RunSpec{Source: "manual"})
	if _, err := env.Owner.Exec(ctx, `UPDATE survey_runs SET created_at = $2 WHERE id = $1`, old, base.AddDate(0, -1, 0)); err != nil {
		t.Fatal(err)
	}
	s.answers(old, s.contact("Old", "", "", ""), base.AddDate(0, -1, 1), true, map[int]survey.Value{1: scale(1), 2: scale(0)})

	rep, err := r.svc.NPS(ctx, s.tenant, sv.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Periods) != 2 || rep.Periods[0].RunID != runs[0] || rep.Periods[1].RunID != runs[1] ||
		rep.Periods[0].Period != "2026-10-01" || rep.Periods[0].Asked != 9 || rep.Periods[0].Completed != 9 {
		t.Fatalf("periods %+v", rep.Periods)
	}
	if len(rep.Questions) != 2 {
		t.Fatalf("%d scale questions, want 2 (the text question has no NPS)", len(rep.Questions))
	}
	type want struct {
		answered, prom, pass, det int
		avg, score                float64
		dist                      map[string]int
	}
	check := func(name string, f survey.NPSFigures, w want) {
		t.Helper()
		if f.Answered != w.answered || f.Promoters != w.prom || f.Passives != w.pass || f.Detractors != w.det ||
			f.Average == nil || *f.Average != w.avg || f.Score == nil || *f.Score != w.score {
			t.Fatalf("%s: %+v (avg %v score %v), want %+v", name, f, deref(f.Average), deref(f.Score), w)
		}
		for k, n := range w.dist {
			if f.Distribution[k] != n {
				t.Fatalf("%s: distribution %v, want %v", name, f.Distribution, w.dist)
			}
		}
	}
	q1, q2 := rep.Questions[0], rep.Questions[1]
	if q1.Method != survey.MethodTop2 || q2.Method != survey.MethodNPS {
		t.Fatalf("methods %s %s", q1.Method, q2.Method)
	}
	// 5,5,4,3,2,1,1,4: 4 of 8 are 4–5, 3 of 8 are 1–2 → 12.5; average 25/8.
	check("Oct club", q1.Periods[0], want{8, 4, 1, 3, 3.125, 12.5, map[string]int{"1": 2, "2": 1, "3": 1, "4": 2, "5": 2}})
	// 5,4,4,4,3: 4 of 5 promote, none detract → 80; average 4.
	check("Nov club", q1.Periods[1], want{5, 4, 1, 0, 4, 80, map[string]int{"3": 1, "4": 3, "5": 1, "1": 0}})
	// 10,9,9,8,7,6,0,3: 3 promoters, 3 detractors of 8 → 0; average 52/8.
	check("Oct NPS", q2.Periods[0], want{8, 3, 2, 3, 6.5, 0, map[string]int{"0": 1, "10": 1, "9": 2, "6": 1}})
	// 10,10,9,2,7: 3 promoters, 1 detractor of 5 → 40; average 38/5.
	check("Nov NPS", q2.Periods[1], want{5, 3, 1, 1, 7.6, 40, map[string]int{"10": 2, "2": 1}})
	if q1.Change == nil || *q1.Change != 67.5 || q2.Change == nil || *q2.Change != 40 {
		t.Fatalf("changes %v %v, want 67.5 and 40", deref(q1.Change), deref(q2.Change))
	}
	// The default window includes the older run, first.
	rep, _ = r.svc.NPS(ctx, s.tenant, sv.ID, 0)
	if len(rep.Periods) != 3 || rep.Periods[0].RunID != old || *rep.Questions[0].Periods[0].Score != -100 {
		t.Fatalf("12 periods: %+v", rep.Periods)
	}
	// Another tenant's survey is not found.
	if _, err := r.svc.NPS(ctx, r.tenant, sv.ID, 12); err != survey.ErrNotFound {
		t.Fatalf("another tenant's NPS: %v", err)
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// Exports: one row per asked contact and run with the fixed columns and a
// column per question (option labels, multiple choices joined, the scale
// value as a number, the text, "" for skipped or unanswered), times in the
// tenant's time zone; CSV with a BOM and formula-safe texts, XLSX opened
// back with excelize; a run filter.
func TestExportCSVAndXLSX(t *testing.T) {
	r := bare(t)
	ctx := context.Background()
	s := newScript(t, r.svc, "Europe/Moscow")
	sv, err := r.svc.CreateSurvey(ctx, s.tenant, fourQuestions())
	if err != nil {
		t.Fatal(err)
	}
	run1, _ := r.svc.StartRun(ctx, s.tenant, sv.ID, survey.RunSpec{Source: "manual"})
	run2, _ := r.svc.StartRun(ctx, s.tenant, sv.ID, survey.RunSpec{Source: "manual"})
	if _, err := env.Owner.Exec(ctx, `UPDATE survey_runs SET created_at = created_at - interval '1 day' WHERE id = $1`, run1); err != nil {
		t.Fatal(err)
	}
	irina := s.contact("Ирина", "Петрова", "irina", "+79990001122")
	oleg := s.contact("Oleg", "", "oleg", "")
	at := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC) // 12:30 in Moscow
	s.answers(run1, irina, at, true, map[int]survey.Value{1: {Choices: []int{0}}, 2: scale(9),
		3: {Choices: []int{0, 2}}, 4: {Text: "=HYPERLINK(\"x\")"}})
	s.answers(run1, oleg, at.Add(time.Hour), false, map[int]survey.Value{1: {Choices: []int{1}}, 2: scale(0)})
	s.answers(run2, irina, at.Add(24*time.Hour), true, map[int]survey.Value{1: {Choices: []int{1}}, 2: scale(10),
		3: {Choices: []int{1}}, 4: {Skipped: true}})

	header := append(append([]string{}, survey.ExportColumns...), "1. Did we solve it?", "2. How likely are you to recommend us?",
		"3. What did you use?", "4. Anything else?")
	wantRows := [][]string{
		{run1.String(), "", irina.String(), "Ирина Петрова", "irina", "+79990001122", "2026-11-20 11:30:00", "2026-11-20 12:30:00",
			"2026-11-20 12:30:00", "Yes", "9", "App; Phone", `'=HYPERLINK("x")`},
		{run1.String(), "", oleg.String(), "Oleg", "oleg", "", "2026-11-20 12:30:00", "", "2026-11-20 13:30:00", "No", "0", "", ""},
		{run2.String(), "", irina.String(), "Ирина Петрова", "irina", "+79990001122", "2026-11-21 11:30:00", "2026-11-21 12:30:00",
			"2026-11-21 12:30:00", "No", "10", "Site", ""},
	}

	var buf bytes.Buffer
	if err := r.svc.Export(ctx, s.tenant, sv.ID, nil, survey.FormatCSV, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "\uFEFF") {
		t.Fatal("the CSV has no byte-order mark")
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	compareRows(t, "csv", recs, header, wantRows)

	buf.Reset()
	if err := r.svc.Export(ctx, s.tenant, sv.ID, nil, survey.FormatXLSX, &buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Answers")
	if err != nil {
		t.Fatal(err)
	}
	// The spreadsheet keeps the person's text as it is (a cell is never a
	// formula unless written as one).
	xlsxRows := [][]string{append([]string{}, wantRows[0]...), wantRows[1], wantRows[2]}
	xlsxRows[0][12] = `=HYPERLINK("x")`
	compareRows(t, "xlsx", padRows(rows, len(header)), header, xlsxRows)
	if typ, _ := f.GetCellType("Answers", "K2"); typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString {
		t.Fatalf("the scale cell K2 has type %v, want a number", typ)
	}
	if formula, _ := f.GetCellFormula("Answers", "M2"); formula != "" {
		t.Fatalf("a text answer became a formula: %q", formula)
	}

	// One run only.
	buf.Reset()
	if err := r.svc.Export(ctx, s.tenant, sv.ID, &run2, survey.FormatCSV, &buf); err != nil {
		t.Fatal(err)
	}
	recs, _ = csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\uFEFF"))).ReadAll()
	compareRows(t, "csv run 2", recs, header, wantRows[2:])

	// Checks before streaming: another survey's run, another tenant's survey.
	other, _ := r.svc.CreateSurvey(ctx, s.tenant, fourQuestions())
	if err := r.svc.CheckExport(ctx, s.tenant, other.ID, &run1); err != survey.ErrNotFound {
		t.Fatalf("export another survey's run: %v", err)
	}
	if err := r.svc.CheckExport(ctx, r.tenant, sv.ID, nil); err != survey.ErrNotFound {
		t.Fatalf("export another tenant's survey: %v", err)
	}
}

func padRows(rows [][]string, n int) [][]string {
	for i := range rows {
		for len(rows[i]) < n {
			rows[i] = append(rows[i], "")
		}
	}
	return rows
}

func compareRows(t *testing.T, name string, got [][]string, header []string, want [][]string) {
	t.Helper()
	if len(got) != len(want)+1 {
		t.Fatalf("%s: %d rows, want %d plus the header:\n%q", name, len(got), len(want), got)
	}
	if strings.Join(got[0], "|") != strings.Join(header, "|") {
		t.Fatalf("%s header:\n%q\nwant\n%q", name, got[0], header)
	}
	for i, w := range want {
		if strings.Join(got[i+1], "|") != strings.Join(w, "|") {
			t.Fatalf("%s row %d:\n%q\nwant\n%q", name, i+1, got[i+1], w)
		}
	}
}
