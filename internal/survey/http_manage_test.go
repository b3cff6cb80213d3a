package survey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/xuri/excelize/v2"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/survey"
)

type apiResult struct {
	code  int
	body  []byte
	ctype string
}

// apiClient serves the survey routes with the principal taken from headers.
func apiClient(t *testing.T, svc *survey.Service) func(tenant uuid.UUID, role, method, path string, body any) apiResult {
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20})
	g := app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Tenant"))
		auth.SetPrincipal(c, &auth.Principal{TenantID: tid, UserID: uuid.New(), Role: auth.Role(c.Get("X-Role"))})
		return c.Next()
	})
	survey.NewHandler(svc).Routes(g)
	return func(tenant uuid.UUID, role, method, path string, body any) apiResult {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req := httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tenant", tenant.String())
		req.Header.Set("X-Role", role)
		res, err := app.Test(req, 20_000)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return apiResult{code: res.StatusCode, body: raw, ctype: res.Header.Get("Content-Type")}
	}
}

func decode[T any](t *testing.T, r apiResult) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// The management API: list, patch (questions only while unanswered),
// delete (never-run surveys) or archive (surveys with runs), system surveys
// refused, runs with figures, close a run, stats of a run, the schedule's
// validation and life cycle, NPS and exports over HTTP; every :id route
// answers 404 for another tenant's id.
func TestSurveyManagementAPI(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	call := apiClient(t, r.svc)
	admin := func(method, path string, body any) apiResult { return call(r.tenant, "admin", method, path, body) }

	res := admin("POST", "/api/v1/surveys", npsDef())
	sv := decode[survey.Survey](t, res)
	if res.code != 201 || sv.ThanksSticker != "https://example.com/thanks.webp" {
		t.Fatalf("create: %d %s", res.code, res.body)
	}
	draft := decode[survey.Survey](t, admin("POST", "/api/v1/surveys", fourQuestions()))
	base := "/api/v1/surveys/" + sv.ID.String()

	list := decode[struct{ Surveys []survey.Summary }](t, admin("GET", "/api/v1/surveys", nil))
	if len(list.Surveys) != 2 || list.Surveys[0].ID != draft.ID || list.Surveys[1].Questions != 4 {
		t.Fatalf("list: %+v", list)
	}

	// Patch: title and sticker; questions while nothing is answered.
	res = admin("PATCH", base, map[string]any{"title": "NPS (monthly)", "thanks_sticker": "CAACAgIAAxkBAAE"})
	if got := decode[survey.Survey](t, res); res.code != 200 || got.Title != "NPS (monthly)" || got.ThanksSticker != "CAACAgIAAxkBAAE" || len(got.Questions) != 4 {
		t.Fatalf("patch title: %d %s", res.code, res.body)
	}
	if res = admin("PATCH", base, map[string]any{"thanks_sticker": "has space"}); res.code != 422 || !strings.Contains(string(res.body), "thanks_sticker") {
		t.Fatalf("bad sticker: %d %s", res.code, res.body)
	}
	qs := npsDef().Questions[:3]
	if res = admin("PATCH", base, map[string]any{"questions": qs}); res.code != 200 || len(decode[survey.Survey](t, res).Questions) != 3 {
		t.Fatalf("patch questions before answers: %d %s", res.code, res.body)
	}

	// A run with an answer: the questions are frozen.
	run, err := r.svc.StartRun(ctx, r.tenant, sv.ID, survey.RunSpec{Source: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	p := r.person("Pavel")
	if err := r.svc.Ask(ctx, r.tenant, run, survey.Recipient{BotID: r.bot.ID, ChatID: p.chatID, ContactID: p.contactID, Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	press(t, r, p, r.botMessage(p.user.ID, "Events this month?"), "4")
	r.botMessage(p.user.ID, "Chats and community?")
	if res = admin("PATCH", base, map[string]any{"questions": npsDef().Questions}); res.code != 409 || !strings.Contains(string(res.body), "survey_answered") {
		t.Fatalf("patch questions after an answer: %d %s", res.code, res.body)
	}

	// Runs, one run with its stats, close it, a late answer refused.
	runs := decode[struct{ Runs []survey.Run }](t, admin("GET", base+"/runs", nil))
	if len(runs.Runs) != 1 || runs.Runs[0].Asked != 1 || runs.Runs[0].Answered != 1 || runs.Runs[0].Closed {
		t.Fatalf("runs: %+v", runs)
	}
	eventually(t, "delivered", func() bool {
		got := decode[struct {
			Run   survey.Run
			Stats survey.Stats
		}](t, admin("GET", "/api/v1/survey-runs/"+run.String(), nil))
		return got.Run.Delivered == 1 && got.Stats.Questions[0].Distribution["4"] == 1
	})
	if res = admin("POST", "/api/v1/survey-runs/"+run.String()+"/close", nil); res.code != 200 || !decode[survey.Run](t, res).Closed {
		t.Fatalf("close: %d %s", res.code, res.body)
	}
	q2 := r.botMessage(p.user.ID, "Chats and community?")
	qid, err := r.sb.PressButton(p.user.ID, r.bot.ID, q2.MessageID, buttons(q2)["5"])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the closed answer", func() bool {
		a, ok := r.sb.CallbackAnswer(qid)
		return ok && a.Answered && a.Text == "This survey is closed."
	})

	// NPS and exports over HTTP.
	nps := decode[survey.NPSReport](t, admin("GET", base+"/nps?periods=3", nil))
	if len(nps.Periods) != 1 || len(nps.Questions) != 3 || *nps.Questions[0].Periods[0].Score != 100 || nps.Questions[1].Periods[0].Answered != 0 {
		t.Fatalf("nps: %+v", nps)
	}
	res = admin("GET", base+"/export?format=csv&run_id="+run.String(), nil)
	if res.code != 200 || !strings.HasPrefix(res.ctype, "text/csv") || !strings.Contains(string(res.body), p.contactID.String()) {
		t.Fatalf("csv export: %d %s %s", res.code, res.ctype, res.body)
	}
	res = admin("GET", base+"/export?format=xlsx", nil)
	if res.code != 200 || !strings.Contains(res.ctype, "spreadsheetml") {
		t.Fatalf("xlsx export: %d %s", res.code, res.ctype)
	}
	f, err := excelize.OpenReader(bytes.NewReader(res.body))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.GetCellValue("Answers", "J2"); v != "4" {
		t.Fatalf("xlsx J2 = %q, want 4", v)
	}
	f.Close()

	// The schedule: validation, set, read, delete.
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no kind", map[string]any{"bot_id": r.bot.ID}, "kind"},
		{"day 0", map[string]any{"bot_id": r.bot.ID, "kind": "monthly", "day": 0, "time": "10:00"}, "day"},
		{"bad time", map[string]any{"bot_id": r.bot.ID, "kind": "monthly", "day": 3, "time": "25:00"}, "time"},
		{"bad cron", map[string]any{"bot_id": r.bot.ID, "kind": "cron", "cron": "every day"}, "cron"},
		{"too often", map[string]any{"bot_id": r.bot.ID, "kind": "cron", "cron": "*/5 * * * *"}, "cron"},
		{"another bot", map[string]any{"bot_id": 42, "kind": "monthly", "day": 1, "time": "10:00"}, "bot_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := admin("PUT", base+"/schedule", tc.body)
			if res.code != 422 || !strings.Contains(string(res.body), `"field":"`+tc.field+`"`) {
				t.Fatalf("%d %s, want 422 on %s", res.code, res.body, tc.field)
			}
		})
	}
	if res = admin("GET", base+"/schedule", nil); res.code != 404 {
		t.Fatalf("no schedule yet: %d", res.code)
	}
	res = admin("PUT", base+"/schedule", map[string]any{"bot_id": r.bot.ID, "kind": "cron", "cron": "0 10 * * 1"})
	sc := decode[survey.Schedule](t, res)
	if res.code != 200 || sc.NextAt == nil || sc.NextAt.Weekday() != time.Monday || !sc.Enabled {
		t.Fatalf("set schedule: %d %s", res.code, res.body)
	}
	if got := decode[survey.Schedule](t, admin("GET", base+"/schedule", nil)); got.ID != sc.ID || got.Cron != "0 10 * * 1" {
		t.Fatalf("get schedule: %+v", got)
	}

	// Cross-tenant: every :id route answers 404 and changes nothing.
	other := uuid.New()
	for _, rt := range []struct{ method, path string }{
		{"GET", base}, {"PATCH", base}, {"DELETE", base}, {"GET", base + "/stats"}, {"GET", base + "/runs"},
		{"GET", base + "/nps"}, {"GET", base + "/export"}, {"GET", base + "/schedule"}, {"PUT", base + "/schedule"},
		{"DELETE", base + "/schedule"}, {"GET", "/api/v1/survey-runs/" + run.String()},
		{"POST", "/api/v1/survey-runs/" + run.String() + "/close"},
	} {
		var body any
		switch {
		case rt.method == "PATCH":
			body = map[string]any{"title": "stolen"}
		case rt.method == "PUT":
			body = map[string]any{"bot_id": r.bot.ID, "kind": "monthly", "day": 1, "time": "10:00"}
		}
		if res := call(other, "admin", rt.method, rt.path, body); res.code != 404 {
			t.Errorf("%s %s of another tenant: %d %s, want 404", rt.method, rt.path, res.code, res.body)
		}
		if res := call(r.tenant, "agent", rt.method, rt.path, body); res.code != 403 {
			t.Errorf("%s %s as an agent: %d, want 403", rt.method, rt.path, res.code)
		}
	}
	if got := decode[survey.Survey](t, admin("GET", base, nil)); got.Title != "NPS (monthly)" {
		t.Fatalf("another tenant changed the survey: %+v", got)
	}
	for _, tc := range []struct{ path string }{{base + "/export?format=pdf"}, {base + "/nps?periods=0"}, {base + "/export?run_id=nope"}} {
		if res := admin("GET", tc.path, nil); res.code != 422 {
			t.Fatalf("%s: %d, want 422", tc.path, res.code)
		}
	}

	// Delete: a never-run survey goes, one with runs is archived (and its
	// schedule stops), a system survey is refused.
	if res = admin("DELETE", base+"/schedule", nil); res.code != 204 {
		t.Fatalf("delete schedule: %d", res.code)
	}
	if res = admin("DELETE", "/api/v1/surveys/"+draft.ID.String(), nil); res.code != 200 || !strings.Contains(string(res.body), `"deleted":true`) {
		t.Fatalf("delete a draft: %d %s", res.code, res.body)
	}
	if res = admin("GET", "/api/v1/surveys/"+draft.ID.String(), nil); res.code != 404 {
		t.Fatalf("a deleted survey: %d", res.code)
	}
	if res = admin("DELETE", base, nil); res.code != 200 || !strings.Contains(string(res.body), `"archived":true`) {
		t.Fatalf("archive: %d %s", res.code, res.body)
	}
	if got := decode[survey.Survey](t, admin("GET", base, nil)); got.ArchivedAt == nil {
		t.Fatalf("archived survey %+v", got)
	}
	list = decode[struct{ Surveys []survey.Summary }](t, admin("GET", "/api/v1/surveys", nil))
	archived := decode[struct{ Surveys []survey.Summary }](t, admin("GET", "/api/v1/surveys?archived=true", nil))
	if len(list.Surveys) != 0 || len(archived.Surveys) != 1 {
		t.Fatalf("lists after archiving: %+v / %+v", list, archived)
	}
	if _, err := r.svc.StartRun(ctx, r.tenant, sv.ID, survey.RunSpec{Source: "manual"}); err != survey.ErrArchived {
		t.Fatalf("a run of an archived survey: %v", err)
	}
	sys, err := r.svc.EnsureSurvey(ctx, r.tenant, "csat", fourQuestions())
	if err != nil {
		t.Fatal(err)
	}
	if res = admin("DELETE", "/api/v1/surveys/"+sys.ID.String(), nil); res.code != 409 || !strings.Contains(string(res.body), "system_survey") {
		t.Fatalf("delete a system survey: %d %s", res.code, res.body)
	}
}
