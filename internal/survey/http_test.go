package survey_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/survey"
)

// The survey API: admins create, read and get stats; bad bodies name the
// field; another tenant's survey is 404; agents are refused.
func TestSurveyAPI(t *testing.T) {
	r := newRig(t)
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20})
	g := app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Tenant"))
		auth.SetPrincipal(c, &auth.Principal{TenantID: tid, UserID: uuid.New(), Role: auth.Role(c.Get("X-Role"))})
		return c.Next()
	})
	survey.NewHandler(r.svc).Routes(g)
	call := func(tenant uuid.UUID, role, method, path string, body any, out any) int {
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
		res, err := app.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if out != nil {
			_ = json.Unmarshal(raw, out)
		}
		return res.StatusCode
	}
	var sv survey.Survey
	if code := call(r.tenant, "admin", "POST", "/api/v1/surveys", fourQuestions(), &sv); code != 201 || len(sv.Questions) != 4 {
		t.Fatalf("create: %d %+v", code, sv)
	}
	var prob struct {
		Errors []httpx.FieldError `json:"errors"`
	}
	bad := map[string]any{"title": "x", "questions": []map[string]any{{"kind": "scale", "prompt": "q", "scale_min": 3, "scale_max": 4}}}
	if code := call(r.tenant, "admin", "POST", "/api/v1/surveys", bad, &prob); code != 422 {
		t.Fatalf("bad scale: %d", code)
	}
	if code := call(r.tenant, "admin", "POST", "/api/v1/surveys", map[string]any{"title": "x", "extra": 1}, nil); code != 400 && code != 422 {
		t.Fatalf("unknown field: %d", code)
	}
	var got survey.Survey
	if code := call(r.tenant, "admin", "GET", "/api/v1/surveys/"+sv.ID.String(), nil, &got); code != 200 || got.ID != sv.ID {
		t.Fatalf("get: %d %+v", code, got)
	}
	var st survey.Stats
	if code := call(r.tenant, "admin", "GET", "/api/v1/surveys/"+sv.ID.String()+"/stats", nil, &st); code != 200 ||
		len(st.Questions) != 4 || st.Questions[1].Distribution["10"] != 0 {
		t.Fatalf("stats: %d %+v", code, st)
	}
	for _, tc := range []struct {
		name, role, path string
		tenant           uuid.UUID
		want             int
	}{
		{"another tenant's survey", "admin", "/api/v1/surveys/" + sv.ID.String(), uuid.New(), 404},
		{"another tenant's stats", "admin", "/api/v1/surveys/" + sv.ID.String() + "/stats", uuid.New(), 404},
		{"a malformed id", "admin", "/api/v1/surveys/nope", r.tenant, 404},
		{"a bad run id", "admin", "/api/v1/surveys/" + sv.ID.String() + "/stats?run_id=x", r.tenant, 422},
		{"an agent", "agent", "/api/v1/surveys/" + sv.ID.String(), r.tenant, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := call(tc.tenant, tc.role, "GET", tc.path, nil, nil); code != tc.want {
				t.Fatalf("%s: %d, want %d", tc.path, code, tc.want)
			}
		})
	}
}
