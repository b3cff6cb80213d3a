package support_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/support"
)

// api mounts the desk's routes behind a stand-in for authentication that
// takes the principal from test headers.
func (d *desk) api() *fiber.App {
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: discard()})
	g := app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Tenant"))
		uid, _ := uuid.Parse(c.Get("X-User"))
		auth.SetPrincipal(c, &auth.Principal{TenantID: tid, UserID: uid, Role: auth.Role(c.Get("X-Role"))})
		return c.Next()
	})
	support.NewHandler(d.svc).Routes(g)
	return app
}

func call(t *testing.T, app *fiber.App, tenantID, userID uuid.UUID, role, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tenant", tenantID.String())
	req.Header.Set("X-User", userID.String())
	req.Header.Set("X-Role", role)
	res, err := app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, raw, err)
		}
	}
	return res.StatusCode
}

func TestTicketAPI(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	app := d.api()
	agentID := uuid.New()
	if _, err := env.Owner.Exec(t.Context(), `INSERT INTO users (id, tenant_id, email, name, role, password_hash)
		VALUES ($1, $2, $3, 'Irina', 'agent', 'x')`, agentID, d.tenant, agentID.String()+"@ex.example"); err != nil {
		t.Fatal(err)
	}
	user := d.sb.CreateUser("Kira", "")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "cannot pay"); err != nil {
		t.Fatal(err)
	}
	var thread int64
	eventually(t, 30*time.Second, "the topic", func() bool {
		tps := d.liveTopics()
		if len(tps) == 1 && contains(d.topicTexts(tps[0].ID), "cannot pay") {
			thread = tps[0].ID
			return true
		}
		return false
	})
	var list struct{ Tickets []support.Ticket }
	if code := call(t, app, d.tenant, agentID, "agent", "GET", "/api/v1/support/tickets?status=new", nil, &list); code != 200 || len(list.Tickets) != 1 {
		t.Fatalf("list: %d %+v", code, list)
	}
	tk := list.Tickets[0]
	if tk.ContactName != "Kira" || tk.Status != "new" {
		t.Fatalf("ticket %+v", tk)
	}
	var reply support.Message
	if code := call(t, app, d.tenant, agentID, "agent", "POST", "/api/v1/support/tickets/"+tk.ID.String()+"/reply",
		map[string]string{"text": "Please try another card"}, &reply); code != 201 {
		t.Fatalf("reply: %d", code)
	}
	eventually(t, 30*time.Second, "the reply at the user and mirrored", func() bool {
		return contains(d.userGot(user.ID), "Please try another card") &&
			contains(d.topicTexts(thread), "Irina (console):\nPlease try another card")
	})
	var one struct {
		Ticket   support.Ticket
		Messages []support.Message
	}
	if code := call(t, app, d.tenant, agentID, "agent", "GET", "/api/v1/support/tickets/"+tk.ID.String(), nil, &one); code != 200 {
		t.Fatalf("get: %d", code)
	}
	if one.Ticket.AssigneeName != "Irina" || one.Ticket.Status != "in_work" || len(one.Messages) != 2 ||
		one.Messages[0].Direction != "in" || one.Messages[1].Direction != "out" {
		t.Fatalf("ticket after reply: %+v", one)
	}

	other := newTenant(t)
	cases := []struct {
		name, method, path string
		tenant             uuid.UUID
		body               any
		want               int
	}{
		{"cross-tenant get", "GET", "/api/v1/support/tickets/" + tk.ID.String(), other, nil, 404},
		{"cross-tenant reply", "POST", "/api/v1/support/tickets/" + tk.ID.String() + "/reply", other, map[string]string{"text": "x"}, 404},
		{"cross-tenant status", "POST", "/api/v1/support/tickets/" + tk.ID.String() + "/status", other, map[string]string{"status": "resolved"}, 404},
		{"bad id", "GET", "/api/v1/support/tickets/nope", d.tenant, nil, 404},
		{"empty reply", "POST", "/api/v1/support/tickets/" + tk.ID.String() + "/reply", d.tenant, map[string]string{"text": " "}, 422},
		{"unknown field", "POST", "/api/v1/support/tickets/" + tk.ID.String() + "/reply", d.tenant, map[string]string{"txt": "x"}, 422},
		{"bad status", "POST", "/api/v1/support/tickets/" + tk.ID.String() + "/status", d.tenant, map[string]string{"status": "done"}, 422},
		{"bad filter", "GET", "/api/v1/support/tickets?status=open", d.tenant, nil, 422},
		{"bad limit", "GET", "/api/v1/support/tickets?limit=1000", d.tenant, nil, 422},
		{"agent cannot make bind codes", "POST", "/api/v1/support/staff-groups/bind-code", d.tenant, nil, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code := call(t, app, c.tenant, agentID, "agent", c.method, c.path, c.body, nil); code != c.want {
				t.Fatalf("%s %s: %d, want %d", c.method, c.path, code, c.want)
			}
		})
	}
	if code := call(t, app, d.tenant, agentID, "agent", "POST", "/api/v1/support/tickets/"+tk.ID.String()+"/status",
		map[string]string{"status": "resolved"}, nil); code != 204 {
		t.Fatalf("resolve: %d", code)
	}
	eventually(t, 30*time.Second, "the topic closed", func() bool {
		tps := d.liveTopics()
		return len(tps) == 1 && tps[0].Closed
	})
	var groups struct {
		StaffGroups []support.StaffGroup `json:"staff_groups"`
	}
	if code := call(t, app, d.tenant, agentID, "admin", "GET", "/api/v1/support/staff-groups", nil, &groups); code != 200 ||
		len(groups.StaffGroups) != 1 || groups.StaffGroups[0].ChatID != d.group.ID {
		t.Fatalf("staff groups: %d %+v", code, groups)
	}
	var bc support.BindCode
	if code := call(t, app, d.tenant, agentID, "admin", "POST", "/api/v1/support/staff-groups/bind-code", nil, &bc); code != 201 || bc.Code == "" {
		t.Fatalf("bind code: %d %+v", code, bc)
	}
}
