package dispatch_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/dispatch"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// The dispatch API: executors listed and approved (bad values name the
// field), another tenant's executor is 404, user links, jobs filter.
func TestDispatchAPI(t *testing.T) {
	r := newRig(t, rigOpts{})
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20})
	g := app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Tenant"))
		auth.SetPrincipal(c, &auth.Principal{TenantID: tid, UserID: uuid.New(), Role: auth.RoleAdmin})
		return c.Next()
	})
	dispatch.NewHandler(r.svc).Routes(g)
	call := func(tenant uuid.UUID, method, path string, body, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req := httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tenant", tenant.String())
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
	u := r.sb.CreateUser("Kolya", "kolya")
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "start", "dreg"); err != nil {
		t.Fatal(err)
	}
	var list struct{ Executors []dispatch.Executor }
	eventually(t, "the registration", func() bool {
		return call(r.tenant, "GET", "/api/v1/dispatch/executors", nil, &list) == 200 && len(list.Executors) == 1
	})
	e := list.Executors[0]
	if e.Status != "pending" || e.TgUserID != u.ID {
		t.Fatalf("executor = %+v", e)
	}
	var prob struct {
		Errors []httpx.FieldError `json:"errors"`
	}
	if code := call(r.tenant, "PATCH", "/api/v1/dispatch/executors/"+e.ID.String(), map[string]any{"status": "boss"}, &prob); code != 422 || prob.Errors[0].Field != "status" {
		t.Fatalf("bad status: %d %+v", code, prob)
	}
	other := uuid.New()
	if _, err := env.Owner.Exec(t.Context(), "INSERT INTO tenants (id, name) VALUES ($1, 'Other')", other); err != nil {
		t.Fatal(err)
	}
	if code := call(other, "PATCH", "/api/v1/dispatch/executors/"+e.ID.String(), map[string]any{"status": "approved"}, nil); code != 404 {
		t.Fatalf("another tenant's executor: %d", code)
	}
	var got dispatch.Executor
	if code := call(r.tenant, "PATCH", "/api/v1/dispatch/executors/"+e.ID.String(),
		map[string]any{"status": "approved", "skills": []string{"Plumbing"}, "crm_user_id": "u-1"}, &got); code != 200 ||
		got.Status != "approved" || got.Skills[0] != "plumbing" || got.CRMUserID != "u-1" {
		t.Fatalf("approve: %d %+v", code, got)
	}
	if code := call(r.tenant, "PUT", "/api/v1/dispatch/user-links", map[string]any{"tg_user_id": 0, "crm_user_id": "x"}, &prob); code != 422 {
		t.Fatalf("bad link: %d", code)
	}
	if code := call(r.tenant, "GET", "/api/v1/dispatch/jobs?status=lost", nil, nil); code != 422 {
		t.Fatalf("bad status filter: %d", code)
	}
	var bc dispatch.BindCode
	if code := call(r.tenant, "POST", "/api/v1/dispatch/bind-code", nil, &bc); code != 201 || bc.Command == "" {
		t.Fatalf("bind code: %d %+v", code, bc)
	}
}
