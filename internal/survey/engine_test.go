package survey_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/survey"
)

func fourQuestions() survey.Def {
	return survey.Def{Title: "Service check", Questions: []survey.Question{
		{Kind: survey.KindSingle, Prompt: "Did we solve it?", Options: []string{"Yes", "No"}},
		{Kind: survey.KindScale, Prompt: "How likely are you to recommend us?", ScaleMin: 0, ScaleMax: 10},
		{Kind: survey.KindMulti, Prompt: "What did you use?", Options: []string{"App", "Site", "Phone"}},
		{Kind: survey.KindText, Prompt: "Anything else?", Optional: true},
	}}
}

// The whole engine against the sandbox: a run asks a contact, button
// answers move on, a second tap edits, multiple choice toggles, the free
// text goes through the dialog, stats add up, every callback_data fits 64
// bytes, and a closed run refuses a late answer politely.
func TestSurveyRunEndToEnd(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	var mu sync.Mutex
	var hooked []survey.Answer
	r.svc.OnAnswer("campaign", func(_ context.Context, a survey.Answer) error {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, a)
		return nil
	})
	sv, err := r.svc.CreateSurvey(ctx, r.tenant, fourQuestions())
	if err != nil {
		t.Fatal(err)
	}
	run, err := r.svc.StartRun(ctx, r.tenant, sv.ID, survey.RunSpec{Source: "campaign"})
	if err != nil {
		t.Fatal(err)
	}
	p := r.person("Irina")
	rec := survey.Recipient{BotID: r.bot.ID, ChatID: p.chatID, ContactID: p.contactID, Lang: "en"}
	if err := r.svc.Ask(ctx, r.tenant, run, rec); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Ask(ctx, r.tenant, run, rec); err != nil { // asked once per run
		t.Fatal(err)
	}
	q1 := r.botMessage(p.user.ID, "Did we solve it?")
	checkData(t, buttons(q1))
	if _, err := r.sb.PressButton(p.user.ID, r.bot.ID, q1.MessageID, buttons(q1)["Yes"]); err != nil {
		t.Fatal(err)
	}
	q2 := r.botMessage(p.user.ID, "recommend")
	checkData(t, buttons(q2))
	if len(buttons(q2)) != 11 {
		t.Fatalf("0–10 scale has %d buttons, want 11", len(buttons(q2)))
	}
	// A second tap on question 1 edits the answer and asks nothing new.
	if _, err := r.sb.PressButton(p.user.ID, r.bot.ID, q1.MessageID, buttons(q1)["Yes"][:len(buttons(q1)["Yes"])-1]+"1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edited answer", func() bool { return answerChoices(t, run, 1) == "{1}" })
	if _, err := r.sb.PressButton(p.user.ID, r.bot.ID, q2.MessageID, buttons(q2)["9"]); err != nil {
		t.Fatal(err)
	}
	q3 := r.botMessage(p.user.ID, "What did you use?")
	checkData(t, buttons(q3))
	for _, label := range []string{"▫️ App", "▫️ Phone"} {
		if _, err := r.sb.PressButton(p.user.ID, r.bot.ID, q3.MessageID, buttons(q3)[label]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "two choices", func() bool { return answerChoices(t, run, 3) == "{0,2}" })
	if _, err := r.sb.PressButton(p.user.ID, r.bot.ID, q3.MessageID, buttons(q3)["Done"]); err != nil {
		t.Fatal(err)
	}
	q4 := r.botMessage(p.user.ID, "Anything else?")
	checkData(t, buttons(q4))
	if _, ok := buttons(q4)["Skip"]; !ok {
		t.Fatalf("optional question without a Skip button: %v", buttons(q4))
	}
	if _, err := r.sb.SendText(p.user.ID, r.bot.ID, "  faster answers please "); err != nil {
		t.Fatal(err)
	}
	r.botMessage(p.user.ID, "Thank you for your answers")
	if n := countBot(r, p.user.ID, "Did we solve it?"); n != 1 {
		t.Fatalf("question 1 sent %d times, want once", n)
	}

	st, err := r.svc.Stats(ctx, r.tenant, sv.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Asked != 1 || st.Completed != 1 || len(st.Questions) != 4 {
		t.Fatalf("stats asked %d completed %d questions %d, want 1 1 4", st.Asked, st.Completed, len(st.Questions))
	}
	if o := st.Questions[0].Options; o[0].Count != 0 || o[1].Count != 1 {
		t.Fatalf("question 1 counts %+v, want Yes 0 No 1 (the edit replaced the answer)", o)
	}
	if q := st.Questions[1]; q.Average == nil || *q.Average != 9 || q.Distribution["9"] != 1 || q.Distribution["0"] != 0 || len(q.Distribution) != 11 {
		t.Fatalf("question 2 stats %+v", q)
	}
	if o := st.Questions[2].Options; o[0].Count != 1 || o[1].Count != 0 || o[2].Count != 1 {
		t.Fatalf("question 3 counts %+v", o)
	}
	if q := st.Questions[3]; q.Answered != 1 || len(q.Texts) != 1 || q.Texts[0] != "faster answers please" {
		t.Fatalf("question 4 stats %+v", q)
	}
	mu.Lock()
	n, last := len(hooked), hooked[len(hooked)-1]
	mu.Unlock()
	if n < 5 || !last.Completed || last.All[4].Text != "faster answers please" || *last.All[2].Value != 9 {
		t.Fatalf("hooks: %d answers, last %+v", n, last)
	}

	// The run closes: a late tap is refused with the closed text and changes nothing.
	if err := r.svc.CloseRun(ctx, r.tenant, run); err != nil {
		t.Fatal(err)
	}
	qid, err := r.sb.PressButton(p.user.ID, r.bot.ID, q2.MessageID, buttons(q2)["3"])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the closed answer", func() bool {
		a, ok := r.sb.CallbackAnswer(qid)
		return ok && a.Answered && a.Text == "This survey is closed."
	})
	st, _ = r.svc.Stats(ctx, r.tenant, sv.ID, &run)
	if *st.Questions[1].Average != 9 {
		t.Fatalf("a late answer changed the stats: %+v", st.Questions[1])
	}
	if err := r.svc.Ask(ctx, r.tenant, run, rec); !errors.Is(err, survey.ErrClosed) {
		t.Fatalf("ask on a closed run: %v, want ErrClosed", err)
	}
}

// Bad definitions name the field; unknown ids are not found.
func TestSurveyDefinitionErrors(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		def   survey.Def
		field string
	}{
		{"no title", survey.Def{Questions: fourQuestions().Questions}, "title"},
		{"no questions", survey.Def{Title: "x"}, "questions"},
		{"one option", survey.Def{Title: "x", Questions: []survey.Question{{Kind: "single", Prompt: "q", Options: []string{"a"}}}}, "questions[0].options"},
		{"odd scale", survey.Def{Title: "x", Questions: []survey.Question{{Kind: "scale", Prompt: "q", ScaleMin: 2, ScaleMax: 7}}}, "questions[0].scale_min"},
		{"unknown kind", survey.Def{Title: "x", Questions: []survey.Question{{Kind: "poll", Prompt: "q"}}}, "questions[0].kind"},
		{"no prompt", survey.Def{Title: "x", Questions: []survey.Question{{Kind: "text"}}}, "questions[0].prompt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.svc.CreateSurvey(ctx, r.tenant, tc.def)
			var inv *survey.InvalidError
			if !errors.As(err, &inv) || inv.Field != tc.field {
				t.Fatalf("error %v, want a field error on %s", err, tc.field)
			}
		})
	}
	if _, err := r.svc.Get(ctx, r.tenant, uuid.New()); !errors.Is(err, survey.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	if _, err := r.svc.StartRun(ctx, r.tenant, uuid.New(), survey.RunSpec{Source: "x"}); !errors.Is(err, survey.ErrNotFound) {
		t.Fatalf("run of unknown survey: %v", err)
	}
	// EnsureSurvey is idempotent by key.
	a, err := r.svc.EnsureSurvey(ctx, r.tenant, "nps", fourQuestions())
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.svc.EnsureSurvey(ctx, r.tenant, "nps", fourQuestions())
	if err != nil || a.ID != b.ID || len(b.Questions) != 4 {
		t.Fatalf("ensure twice: %v %v %v", a.ID, b.ID, err)
	}
}

func checkData(t *testing.T, bs map[string]string) {
	t.Helper()
	for label, d := range bs {
		if len(d) == 0 || len(d) > 64 {
			t.Fatalf("button %q callback_data %q is %d bytes", label, d, len(d))
		}
	}
}

func answerChoices(t *testing.T, run uuid.UUID, pos int) string {
	var s string
	_ = env.Owner.QueryRow(context.Background(), `SELECT a.choices::text FROM survey_answers a JOIN survey_questions q
		ON q.id = a.question_id WHERE a.run_id = $1 AND q.position = $2`, run, pos).Scan(&s)
	return s
}

func countBot(r *rig, userID int64, text string) int {
	n := 0
	for _, e := range r.sb.PrivateTranscript(r.bot.ID, userID) {
		if e.SenderKind == "bot" && e.Text == text {
			n++
		}
	}
	return n
}
