package tenant_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// newApp mounts the handler behind a stand-in for authentication: the test
// names the caller's role and tenant in headers.
func newApp(t *testing.T, svc *tenant.Service) *fiber.App {
	t.Helper()
	app := httpx.NewApp(httpx.Options{Logger: quiet})
	app.Use(func(c *fiber.Ctx) error {
		if role := c.Get("X-Test-Role"); role != "" {
			tid, _ := uuid.Parse(c.Get("X-Test-Tenant"))
			auth.SetPrincipal(c, &auth.Principal{UserID: ids.New(), TenantID: tid, Role: auth.Role(role)})
		}
		return c.Next()
	})
	h := tenant.NewHandler(svc)
	h.Routes(app.Group("/api/v1"))
	h.OpsRoutes(app.Group("/ops"))
	return app
}

type scenario struct {
	name       string
	method     string
	url        string
	role       string
	tenant     uuid.UUID
	body       string
	wantStatus int
	wantBody   []string // substrings
}

func (sc scenario) run(t *testing.T, app *fiber.App) string {
	t.Helper()
	var body io.Reader
	if sc.body != "" {
		body = strings.NewReader(sc.body)
	}
	req := httptest.NewRequest(sc.method, sc.url, body)
	if sc.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if sc.role != "" {
		req.Header.Set("X-Test-Role", sc.role)
		req.Header.Set("X-Test-Tenant", sc.tenant.String())
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != sc.wantStatus {
		t.Fatalf("%s %s as %s: status %d, want %d: %s", sc.method, sc.url, sc.role, resp.StatusCode, sc.wantStatus, b)
	}
	for _, w := range sc.wantBody {
		if !strings.Contains(string(b), w) {
			t.Errorf("body %s lacks %q", b, w)
		}
	}
	return string(b)
}

func TestTenantHTTP(t *testing.T) {
	svc := newService(t)
	app := newApp(t, svc)
	a, b := newTenant(t), newTenant(t)
	long := strings.Repeat("x", 4097)
	tests := []scenario{
		{"agent reads settings", "GET", "/api/v1/tenant", "agent", a, "", 200, []string{`"timezone":"Europe/Moscow"`, `"features":{`, `"created_at"`}},
		{"unauthenticated", "GET", "/api/v1/tenant", "", a, "", 401, nil},
		{"operator is no tenant member", "GET", "/api/v1/tenant", "operator", uuid.Nil, "", 403, nil},
		{"agent may not patch", "PATCH", "/api/v1/tenant", "agent", a, `{"name":"X"}`, 403, []string{`"code":"forbidden"`}},
		{"invalid time zone", "PATCH", "/api/v1/tenant", "admin", a, `{"timezone":"Moon/Base"}`, 422, []string{`"field":"timezone"`, `"code":"unknown_timezone"`}},
		{"unknown language", "PATCH", "/api/v1/tenant", "admin", a, `{"languages":["ru","xx"]}`, 422, []string{`"field":"languages[1]"`}},
		{"unknown feature", "PATCH", "/api/v1/tenant", "owner", a, `{"features":{"warp":true}}`, 422, []string{`"field":"features.warp"`, `"code":"unknown_feature"`}},
		{"unknown body field", "PATCH", "/api/v1/tenant", "admin", a, `{"slug":"new"}`, 422, []string{`"code":"unknown_field"`}},
		{"admin patches", "PATCH", "/api/v1/tenant", "admin", a, `{"name":"Renamed A","features":{"surveys":true}}`, 200, []string{`"name":"Renamed A"`, `"surveys":true`}},
		{"agent lists texts", "GET", "/api/v1/texts", "agent", a, "", 200, []string{`"key":"error.generic"`, `"overridden":false`}},
		{"agent may not edit texts", "PUT", "/api/v1/texts/help", "agent", a, `{"lang":"ru","value":"x"}`, 403, nil},
		{"unknown text key", "PUT", "/api/v1/texts/nope.key", "admin", a, `{"lang":"ru","value":"x"}`, 422, []string{`"code":"unknown_text_key"`}},
		{"unknown placeholder", "PUT", "/api/v1/texts/help", "admin", a, `{"lang":"en","value":"Hi {first_name}"}`, 422, []string{`"code":"unknown_placeholder"`, `{first_name}`}},
		{"over-long text", "PUT", "/api/v1/texts/help", "admin", a, `{"lang":"en","value":"` + long + `"}`, 422, []string{`"field":"value"`, `"code":"too_long"`}},
		{"bad language", "PUT", "/api/v1/texts/help", "admin", a, `{"lang":"de","value":"Hallo"}`, 422, []string{`"field":"lang"`}},
		{"admin sets a text", "PUT", "/api/v1/texts/start.greeting", "admin", a, `{"lang":"en","value":"Hey {first_name}!"}`, 200, []string{`"value":"Hey {first_name}!"`, `"overridden":true`}},
		{"tenant b does not see it", "GET", "/api/v1/texts", "agent", b, "", 200, nil},
		{"tenant b settings are its own", "GET", "/api/v1/tenant", "owner", b, "", 200, []string{`"id":"` + b.String() + `"`}},
		{"reset", "DELETE", "/api/v1/texts/start.greeting?lang=en", "admin", a, "", 200, []string{`"overridden":false`}},
		{"reset unknown key", "DELETE", "/api/v1/texts/nope", "admin", a, "", 422, []string{`"code":"unknown_text_key"`}},
		{"tenant admin may not use ops", "GET", "/ops/tenants", "owner", a, "", 403, nil},
		{"operator lists tenants", "GET", "/ops/tenants", "operator", uuid.Nil, "", 200, []string{`"id":"` + a.String() + `"`, `"events_30d":`}},
		{"operator suspends", "PATCH", "/ops/tenants/" + b.String(), "operator", uuid.Nil, `{"status":"suspended"}`, 200, []string{`"status":"suspended"`}},
		{"operator bad status", "PATCH", "/ops/tenants/" + b.String(), "operator", uuid.Nil, `{"status":"deleted"}`, 422, []string{`"field":"status"`}},
		{"operator unknown tenant", "PATCH", "/ops/tenants/" + ids.New().String(), "operator", uuid.Nil, `{"status":"active"}`, 404, nil},
		{"operator malformed id", "PATCH", "/ops/tenants/nope", "operator", uuid.Nil, `{"status":"active"}`, 404, nil},
		{"admin may not suspend", "PATCH", "/ops/tenants/" + a.String(), "admin", a, `{"status":"suspended"}`, 403, nil},
	}
	for _, sc := range tests {
		t.Run(sc.name, func(t *testing.T) {
			body := sc.run(t, app)
			if sc.name == "tenant b does not see it" && strings.Contains(body, "Hey {first_name}!") {
				t.Fatal("tenant b sees tenant a's text")
			}
		})
	}
	st, _ := svc.Settings(context.Background(), a)
	if st.Name != "Renamed A" || st.Timezone != "Europe/Moscow" {
		t.Errorf("only the valid patch may have changed anything: %+v", st)
	}
}

func TestOpsUsageCountsAggregatesOnly(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	id := newTenant(t)
	contact := ids.New()
	fixtures := []string{
		`INSERT INTO contacts (id, tenant_id, tg_user_id) VALUES ('` + contact.String() + `', $1, 1)`,
		`INSERT INTO contacts (id, tenant_id, tg_user_id, erased_at) VALUES (gen_random_uuid(), $1, 2, now())`,
		`INSERT INTO users (id, tenant_id, email, role, password_hash) VALUES (gen_random_uuid(), $1, gen_random_uuid()::text || '@x.example', 'owner', 'x')`,
		`INSERT INTO users (id, tenant_id, email, role, password_hash, disabled) VALUES (gen_random_uuid(), $1, gen_random_uuid()::text || '@x.example', 'agent', 'x', true)`,
		`INSERT INTO bots (id, tenant_id, public_id, token_sealed, webhook_secret) VALUES ((random() * 1e12)::bigint, $1, gen_random_uuid()::text, '\x00', '\x00')`,
		`INSERT INTO events (tenant_id, type, occurred_at) VALUES ($1, 'started', now() - interval '1 hour')`,
		`INSERT INTO events (tenant_id, type, occurred_at) VALUES ($1, 'started', now() - interval '3 days')`,
		`INSERT INTO events (tenant_id, type, occurred_at) VALUES ($1, 'started', now() - interval '40 days')`,
	}
	for _, f := range fixtures {
		if _, err := env.Owner.Exec(ctx, f, id); err != nil {
			t.Fatal(err)
		}
	}
	list, err := svc.ListUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got *tenant.Usage
	for i := range list {
		if list[i].ID == id {
			got = &list[i]
		}
	}
	if got == nil {
		t.Fatal("tenant missing from the operators' list")
	}
	if got.Members != 1 || got.Contacts != 1 || got.Bots != 1 || got.Events24h != 1 || got.Events30d != 2 || got.Status != "active" {
		t.Errorf("usage %+v", *got)
	}
	// The JSON an operator gets carries aggregates only.
	js, _ := json.Marshal(got)
	var fields map[string]any
	_ = json.Unmarshal(js, &fields)
	for k := range fields {
		switch k {
		case "id", "slug", "name", "status", "created_at", "members", "contacts", "bots", "events_24h", "events_30d":
		default:
			t.Errorf("operators see field %q", k)
		}
	}
	if _, err := svc.SetStatus(ctx, id, ids.New(), tenant.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	var actor string
	if err := env.Owner.QueryRow(ctx, "SELECT actor FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.status'", id).Scan(&actor); err != nil || !strings.HasPrefix(actor, "operator:") {
		t.Errorf("status change audit actor %q (err %v)", actor, err)
	}
}
