package survey_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// npsDef is the alumni club's monthly NPS (seed 000): four questions scored
// 1–5, with a thank-you sticker.
func npsDef() survey.Def {
	return survey.Def{Title: "Monthly NPS", ThanksSticker: "https://example.com/thanks.webp", Questions: []survey.Question{
		{Kind: survey.KindScale, Prompt: "Events this month?", ScaleMin: 1, ScaleMax: 5},
		{Kind: survey.KindScale, Prompt: "Chats and community?", ScaleMin: 1, ScaleMax: 5},
		{Kind: survey.KindScale, Prompt: "Random Coffee?", ScaleMin: 1, ScaleMax: 5},
		{Kind: survey.KindScale, Prompt: "The club overall?", ScaleMin: 1, ScaleMax: 5},
	}}
}

// A monthly schedule (day 1, 12:00 Moscow time) fires once per period even
// with two schedulers ticking and two scans racing; each period's run asks
// every reachable subscriber once (in batches of one through the task
// queue) and nobody who switched surveys off, stopped the bot or blocked it;
// the run closes when the next period starts, so a late answer is refused;
// completing the survey sends the thanks text, then the sticker.
func TestScheduleFiresOncePerPeriod(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC))
	r := newRigWith(t, func(o *survey.Options) {
		o.Clock = clk
		o.AskBatch = 1
	})
	ctx := context.Background()
	if _, err := env.Owner.Exec(ctx, `UPDATE tenants SET timezone = 'Europe/Moscow' WHERE id = $1`, r.tenant); err != nil {
		t.Fatal(err)
	}
	sv, err := r.svc.CreateSurvey(ctx, r.tenant, npsDef())
	if err != nil {
		t.Fatal(err)
	}
	anna, boris, cyril, dasha, egor := r.person("Anna"), r.person("Boris"), r.person("Cyril"), r.person("Dasha"), r.person("Egor")
	for q, p := range map[string]person{
		`UPDATE bot_chats SET subscriptions = '{"surveys": false}' WHERE contact_id = $1`:  cyril,
		`UPDATE bot_chats SET unsubscribed = true WHERE contact_id = $1`:                   dasha,
		`UPDATE bot_chats SET reachable = false, blocked_at = now() WHERE contact_id = $1`: egor,
	} {
		if _, err := env.Owner.Exec(ctx, q, p.contactID); err != nil {
			t.Fatal(err)
		}
	}

	sc, err := r.svc.SetSchedule(ctx, r.tenant, sv.ID, survey.ScheduleDef{BotID: r.bot.ID, Kind: "monthly", Day: 1, Time: "12:00"})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC); sc.NextAt == nil || !sc.NextAt.Equal(want) || sc.Timezone != "Europe/Moscow" {
		t.Fatalf("next_at %v in %s, want %v (12:00 Moscow)", sc.NextAt, sc.Timezone, want)
	}
	if err := r.svc.Scan(ctx); err != nil { // not due yet
		t.Fatal(err)
	}
	if n := countRuns(t, sv.ID); n != 0 {
		t.Fatalf("%d runs before the first period", n)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var scheds []*queue.Scheduler
	for range 2 {
		s := queue.NewScheduler(r.qc, env.Redis.Client, clk, 50*time.Millisecond, log)
		s.Register(r.svc.Periodic())
		scheds = append(scheds, s)
	}
	// Both schedulers tick and, as if both believed they led, two scans run
	// directly too.
	fire := func() {
		var wg sync.WaitGroup
		for _, s := range scheds {
			wg.Go(func() { s.Tick(ctx) })
		}
		for range 2 {
			wg.Go(func() {
				if err := r.svc.Scan(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}

	clk.Set(time.Date(2026, 12, 1, 9, 0, 30, 0, time.UTC))
	fire()
	dec := waitRunAsked(t, sv.ID, "2026-12")
	fire() // again within the period: nothing new
	q1 := r.botMessage(anna.user.ID, "Events this month?")
	r.botMessage(boris.user.ID, "Events this month?")
	if n := countRuns(t, sv.ID); n != 1 {
		t.Fatalf("%d runs for one period, want 1", n)
	}
	for _, p := range []person{cyril, dasha, egor} {
		if n := countBot(r, p.user.ID, "Events this month?"); n != 0 {
			t.Fatalf("%s was asked %d times; they opted out or are unreachable", p.user.FirstName, n)
		}
	}
	run, err := r.svc.GetRun(ctx, r.tenant, dec)
	if err != nil {
		t.Fatal(err)
	}
	if run.Asked != 2 || run.Source != survey.SourceSchedule || run.ClosesAt == nil ||
		!run.ClosesAt.Equal(time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("December run %+v: want 2 asked, closing at the January firing", run)
	}
	eventually(t, "two delivered", func() bool {
		run, _ = r.svc.GetRun(ctx, r.tenant, dec)
		return run.Delivered == 2
	})

	// January: a new period, a new run; December's closed.
	clk.Set(time.Date(2027, 1, 1, 9, 1, 0, 0, time.UTC))
	fire()
	jan := waitRunAsked(t, sv.ID, "2027-01")
	fire()
	if n := countRuns(t, sv.ID); n != 2 {
		t.Fatalf("%d runs after two periods, want 2", n)
	}
	for _, p := range []person{anna, boris} {
		eventually(t, "the January question", func() bool { return countBot(r, p.user.ID, "Events this month?") >= 2 })
		if n := countBot(r, p.user.ID, "Events this month?"); n != 2 {
			t.Fatalf("%s got the first question %d times over two periods, want 2", p.user.FirstName, n)
		}
	}

	// A late answer to December is refused politely and stores nothing.
	qid, err := r.sb.PressButton(anna.user.ID, r.bot.ID, q1.MessageID, buttons(q1)["4"])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the closed answer", func() bool {
		a, ok := r.sb.CallbackAnswer(qid)
		return ok && a.Answered && a.Text == "This survey is closed."
	})
	if st, _ := r.svc.Stats(ctx, r.tenant, sv.ID, &dec); st.Questions[0].Answered != 0 {
		t.Fatalf("a late answer was stored: %+v", st.Questions[0])
	}

	// Anna answers January's four questions: thanks, then the sticker.
	var jq1 = latestBot(t, r, anna.user.ID, "Events this month?")
	press(t, r, anna, jq1, "5")
	for _, prompt := range []string{"Chats and community?", "Random Coffee?", "The club overall?"} {
		press(t, r, anna, r.botMessage(anna.user.ID, prompt), "4")
	}
	r.botMessage(anna.user.ID, "Thank you for your answers")
	eventually(t, "the sticker after the thanks", func() bool {
		tr := r.sb.PrivateTranscript(r.bot.ID, anna.user.ID)
		n := len(tr)
		return n >= 2 && strings.Contains(tr[n-2].Text, "Thank you for your answers") && strings.Contains(string(tr[n-1].Message), `"sticker"`)
	})
	rep, err := r.svc.NPS(ctx, r.tenant, sv.ID, 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Periods) != 2 || rep.Periods[0].Period != "2026-12" || rep.Periods[1].Period != "2027-01" || len(rep.Questions) != 4 {
		t.Fatalf("NPS report periods %+v", rep.Periods)
	}
	if f := rep.Questions[0].Periods[1]; f.Answered != 1 || *f.Score != 100 || f.Distribution["5"] != 1 {
		t.Fatalf("January question 1 figures %+v", f)
	}
	if f := rep.Questions[0].Periods[0]; f.Answered != 0 || f.Score != nil {
		t.Fatalf("December question 1 figures %+v, want no answers", f)
	}
	if run, _ := r.svc.GetRun(ctx, r.tenant, jan); run.Answered != 1 || run.Completed != 1 {
		t.Fatalf("January run %+v: want 1 answered, 1 completed", run)
	}

	// An archived survey's schedule stops.
	if deleted, err := r.svc.Delete(ctx, r.tenant, sv.ID); err != nil || deleted {
		t.Fatalf("delete a survey with runs: deleted=%v %v, want archived", deleted, err)
	}
	clk.Set(time.Date(2027, 2, 1, 9, 1, 0, 0, time.UTC))
	fire()
	if n := countRuns(t, sv.ID); n != 2 {
		t.Fatalf("an archived survey started a run: %d runs", n)
	}
	if _, err := r.svc.SetSchedule(ctx, r.tenant, sv.ID, survey.ScheduleDef{BotID: r.bot.ID, Kind: "monthly", Day: 1, Time: "12:00"}); !errors.Is(err, survey.ErrArchived) {
		t.Fatalf("schedule an archived survey: %v", err)
	}
}

// flakyQueue drops enqueues while drop is set (a crash between a batch's
// commit and queueing the next batch).
type flakyQueue struct {
	q    survey.Enqueuer
	drop atomic.Bool
}

func (f *flakyQueue) Enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error {
	if f.drop.Load() {
		return nil
	}
	return f.q.Enqueue(ctx, t, opts...)
}

// A run whose next batch task was lost is resumed by the scan once stale,
// a duplicate batch task does nothing, and nobody is asked twice.
func TestStalledRunResumes(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 31, 22, 0, 0, 0, time.UTC))
	var fq *flakyQueue
	r := newRigWith(t, func(o *survey.Options) {
		o.Clock = clk
		o.AskBatch = 1
		fq = &flakyQueue{q: o.Queue}
		o.Queue = fq
	})
	ctx := context.Background()
	sv, err := r.svc.CreateSurvey(ctx, r.tenant, npsDef())
	if err != nil {
		t.Fatal(err)
	}
	people := []person{r.person("Alla"), r.person("Bella"), r.person("Vera")}
	// A run asking the bot's audience, as a schedule starts it.
	run := uuid.New()
	aud, _ := json.Marshal(survey.AudienceSpec{BotID: r.bot.ID})
	if _, err := env.Owner.Exec(ctx, `INSERT INTO survey_runs (id, tenant_id, survey_id, source, created_at, period, audience,
		ask_state, ask_touched_at) VALUES ($1, $2, $3, 'schedule', $4, '2026-06', $5, 'asking', $4)`,
		run, r.tenant, sv.ID, clk.Now(), aud); err != nil {
		t.Fatal(err)
	}
	// The first batch runs twice (a duplicate task) and its next batch is lost.
	fq.drop.Store(true)
	for range 2 {
		if err := r.svc.HandleAsk(ctx, survey.NewAskTask(r.tenant, run, "")); err != nil {
			t.Fatal(err)
		}
	}
	fq.drop.Store(false)
	if n := countAsks(t, run); n != 1 {
		t.Fatalf("%d asks after the first batch ran twice, want 1", n)
	}
	if err := r.svc.Scan(ctx); err != nil { // not stale yet
		t.Fatal(err)
	}
	clk.Advance(3 * time.Minute)
	if err := r.svc.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the run resumed to the end", func() bool { return countAsks(t, run) == 3 && askState(t, run) == "done" })
	for _, p := range people {
		eventually(t, "the question", func() bool { return countBot(r, p.user.ID, "Events this month?") == 1 })
	}
	// A late duplicate of the first batch still asks nobody again.
	if err := r.svc.HandleAsk(ctx, survey.NewAskTask(r.tenant, run, "")); err != nil {
		t.Fatal(err)
	}
	if n := countAsks(t, run); n != 3 {
		t.Fatalf("%d asks, want 3", n)
	}
}

func countRuns(t *testing.T, surveyID uuid.UUID) int {
	t.Helper()
	var n int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM survey_runs WHERE survey_id = $1`, surveyID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func countAsks(t *testing.T, runID uuid.UUID) int {
	t.Helper()
	var n int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM survey_asks WHERE run_id = $1`, runID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func askState(t *testing.T, runID uuid.UUID) string {
	t.Helper()
	var s string
	if err := env.Owner.QueryRow(context.Background(), `SELECT ask_state FROM survey_runs WHERE id = $1`, runID).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitRunAsked waits for the run of a period to have asked its audience.
func waitRunAsked(t *testing.T, surveyID uuid.UUID, period string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	eventually(t, "the run of "+period, func() bool {
		var state string
		err := env.Owner.QueryRow(context.Background(), `SELECT id, ask_state FROM survey_runs WHERE survey_id = $1 AND period = $2`,
			surveyID, period).Scan(&id, &state)
		return err == nil && state == "done"
	})
	return id
}

// latestBot is the bot's latest message to the user with exactly text.
func latestBot(t *testing.T, r *rig, userID int64, text string) (out tgsandbox.Entry) {
	t.Helper()
	eventually(t, text, func() bool {
		for _, e := range r.sb.PrivateTranscript(r.bot.ID, userID) {
			if e.SenderKind == "bot" && e.Text == text {
				out = e
			}
		}
		return out.MessageID != 0
	})
	return out
}

func press(t *testing.T, r *rig, p person, q tgsandbox.Entry, label string) {
	t.Helper()
	data, ok := buttons(q)[label]
	if !ok {
		t.Fatalf("no button %q on %q: %v", label, q.Text, buttons(q))
	}
	if _, err := r.sb.PressButton(p.user.ID, r.bot.ID, q.MessageID, data); err != nil {
		t.Fatal(err)
	}
}
