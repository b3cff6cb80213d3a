package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// objectOf names, for each route with a path parameter, the other tenant's
// object the route is called with. A new route with a parameter must be
// added here (the test fails until it is), so isolation is checked for every
// route the app serves.
type objectOf func(other *team) string

var crossTenantObjects = map[string]objectOf{
	"/api/v1/auth/sessions/:id":      func(o *team) string { return o.Owner.SessionID },
	"/api/v1/members/:id":            func(o *team) string { return o.Agent.UserID },
	"/api/v1/invites/:id":            func(o *team) string { return o.PendingInviteID },
	"/api/v1/bots/:id":               func(o *team) string { return o.BotID },
	"/api/v1/support/tickets/:id":    func(o *team) string { return o.TicketID },
	"/api/v1/support/canned/:id":     cannedOf,
	"/api/v1/support/messages/:id":   messageOf,
	"/api/v1/surveys/:id":            surveyOf,
	"/api/v1/segments/:id":           segmentOf,
	"/api/v1/exchange/keys/:id":      exchangeKeyOf,
	"/api/v1/survey-runs/:id":        surveyRunOf,
	"/api/v1/campaigns/:id":          campaignOf,
	"/api/v1/connectors/:id":         connectorOf,
	"/api/v1/contacts/:id":           contactOf,
	"/api/v1/rules/:id":              ruleOf,
	"/api/v1/sequences/:id":          sequenceOf,
	"/api/v1/dispatch/executors/:id": executorOf,
}

// ruleOf is an automation rule of the team's tenant.
func ruleOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO automation_rules (id, tenant_id, name, trigger_type, trigger,
		actions, created_at, updated_at) VALUES ($1, $2, 'isolation', 'deal.deleted', '{"type": "deal.deleted"}',
		'[{"type": "tag.add", "params": {"tag": "x"}}]', now(), now()) RETURNING id::text`, uuid.NewString(), o.TenantID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// sequenceOf is a message sequence of the team's tenant.
func sequenceOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO sequences (id, tenant_id, name, steps, created_at, updated_at)
		VALUES ($1, $2, 'isolation', '[{"text": "x"}]', now(), now()) RETURNING id::text`, uuid.NewString(), o.TenantID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// executorOf is a dispatch executor of the team's tenant (one per tenant).
func executorOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO dispatch_executors (id, tenant_id, tg_user_id, name, created_at, updated_at)
		VALUES ($1, $2, 424242, 'isolation', now(), now()) ON CONFLICT (tenant_id, tg_user_id) DO UPDATE SET name = EXCLUDED.name
		RETURNING id::text`, uuid.NewString(), o.TenantID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// connectorOf is a CRM connector of the team's tenant (created once, by
// name; the sealed columns are never opened for another tenant's request).
func connectorOf(o *team) string {
	var id string
	err := env.Owner.QueryRow(context.Background(), `SELECT id::text FROM connectors WHERE tenant_id = $1 AND name = 'isolation'`,
		o.TenantID).Scan(&id)
	if err == nil {
		return id
	}
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO connectors (id, tenant_id, kind, name, public_id,
		credentials_sealed, webhook_secret) VALUES ($1, $2, 'amocrm', 'isolation', $3, 'x', 'x') RETURNING id::text`,
		uuid.NewString(), o.TenantID, uuid.NewString()).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// contactOf is a contact of the team's tenant.
func contactOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO contacts (id, tenant_id, first_name)
		VALUES ($1, $2, 'isolation') RETURNING id::text`, uuid.NewString(), o.TenantID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// surveyRunOf is a run of the team's fixture survey (created once, by ref).
func surveyRunOf(o *team) string {
	sv := surveyOf(o)
	var id string
	err := env.Owner.QueryRow(context.Background(), `SELECT id::text FROM survey_runs WHERE survey_id = $1 AND ref = 'isolation'`, sv).Scan(&id)
	if err == nil {
		return id
	}
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO survey_runs (id, tenant_id, survey_id, source, ref, created_at)
		VALUES ($1, $2, $3, 'manual', 'isolation', now()) RETURNING id::text`, uuid.NewString(), o.TenantID, sv).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// segmentOf is a segment of the team's tenant (created once, by name).
func segmentOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO segments (id, tenant_id, name, filter)
		VALUES ($1, $2, 'isolation', '{"field": "language", "op": "eq", "value": "ru"}')
		ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name
		RETURNING id::text`, uuid.NewString(), o.TenantID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// campaignOf is a draft campaign on the team's bot (created once, by name).
func campaignOf(o *team) string {
	var id string
	err := env.Owner.QueryRow(context.Background(), `SELECT id::text FROM campaigns WHERE tenant_id = $1 AND name = 'isolation'`, o.TenantID).Scan(&id)
	if err == nil {
		return id
	}
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO campaigns (id, tenant_id, bot_id, name, content)
		VALUES ($1, $2, $3, 'isolation', '{"text": "fixture"}') RETURNING id::text`, uuid.NewString(), o.TenantID, o.BotID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// messageOf is a support message of the team's ticket.
func messageOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `SELECT id::text FROM support_messages WHERE ticket_id = $1
		ORDER BY seq LIMIT 1`, o.TicketID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// surveyOf is a survey of the team's tenant (created once, by key).
func surveyOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO surveys (id, tenant_id, key, title)
		VALUES ($1, $2, 'isolation', 'fixture') ON CONFLICT (tenant_id, key) DO UPDATE SET title = EXCLUDED.title
		RETURNING id::text`, uuid.NewString(), o.TenantID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// exchangeKeyOf is an exchange API key of the team's tenant (created once,
// by name).
func exchangeKeyOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `SELECT id::text FROM exchange_keys WHERE tenant_id = $1 AND name = 'isolation'`,
		o.TenantID).Scan(&id); err == nil {
		return id
	}
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO exchange_keys (id, tenant_id, name, key_hash, prefix, created_at)
		VALUES ($1, $2, 'isolation', $3, 'hxk_iso', now()) RETURNING id::text`, uuid.NewString(), o.TenantID, []byte(uuid.NewString())).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// cannedOf is a saved reply of the team's tenant (created once, by name).
func cannedOf(o *team) string {
	var id string
	if err := env.Owner.QueryRow(context.Background(), `INSERT INTO support_canned (id, tenant_id, name, text)
		VALUES ($1, $2, 'isolation', 'fixture') ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name
		RETURNING id::text`, uuid.NewString(), o.TenantID).Scan(&id); err != nil {
		panic(err)
	}
	return id
}

// Routes whose parameter is not an object id of a tenant (so there is no
// other tenant's object to name), with the reason.
var notObjectParams = map[string]string{
	"/api/v1/texts/:key": "a key of the shared text catalogue; each tenant edits its own overrides",
	"/ops/tenants/:id":   "operators act across tenants by design",
	"/ops/queues/:queue": "queues are the platform's, not a tenant's",
}

// For every route in the app's route table and every role: a request for
// another tenant's object answers 404 (or 403 for a role the route is not
// for), and the object is untouched.
func TestCrossTenantIDsAnswer404OnEveryRoute(t *testing.T) {
	p := newPlatform(t)
	a := p.newTeam(t, "Tenant A")
	b := p.newTeam(t, "Tenant B")
	op := p.operator(t)
	bot := p.newBot(t, "b_isolation_bot")
	var created map[string]any
	code := p.call(t, "POST", "/api/v1/bots", b.Owner.Token, map[string]string{"token": bot.Token}, &created)
	must(t, code == 201, "register B's bot: %d %v", code, created)
	b.BotID = itoa(bot.ID)
	// A customer of B writes to B's bot: B now has a support ticket.
	customer := p.Sandbox.CreateUser("Boris", "boris")
	if _, err := p.Sandbox.SendText(customer.ID, bot.ID, "my VPN is down"); err != nil {
		t.Fatal(err)
	}
	b.TicketID = p.waitTicket(t, b.Owner.Token)
	rows, _ := readMatrix(t)
	allowed := map[string]map[string]bool{}
	for _, r := range rows {
		allowed[r.Method+" "+r.Path] = r.Allowed
	}
	creds := map[string]member{"owner": a.Owner, "admin": a.Admin, "agent": a.Agent, "operator": op}
	checked := 0
	for _, r := range p.HTTP.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || !strings.Contains(r.Path, "/:") ||
			!(strings.HasPrefix(r.Path, "/api/v1/") || strings.HasPrefix(r.Path, "/ops/")) {
			continue
		}
		if _, skip := notObjectParams[objectPath(r.Path)]; skip {
			continue
		}
		obj, ok := crossTenantObjects[objectPath(r.Path)]
		if !ok {
			t.Errorf("route %s %s has a path parameter but no cross-tenant fixture in isolation_test.go", r.Method, r.Path)
			continue
		}
		path := withParam(r.Path, obj(b))
		for _, role := range roles {
			m := p.login(t, creds[role].Email, creds[role].Password)
			code := p.call(t, r.Method, path, m.Token, map[string]any{"role": "agent", "disabled": true}, nil)
			want := 404
			if !allowed[r.Method+" "+r.Path][role] {
				want = 403
			}
			if code != want && code != 404 {
				// A route that validates its body before looking the object
				// up answers 422 for any id: still indistinguishable from an
				// id that does not exist, which is what isolation means.
				ghost := p.call(t, r.Method, withParam(r.Path, ghostID(obj(b))), m.Token, map[string]any{"role": "agent", "disabled": true}, nil)
				if code != ghost || code < 400 {
					t.Errorf("%s %s as %s of another tenant: %d, want %d (a missing id answers %d)", r.Method, path, role, code, want, ghost)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no route was checked")
	}
	// B's objects survived A's attempts.
	var members struct {
		Members []struct {
			ID       string `json:"id"`
			Role     string `json:"role"`
			Disabled bool   `json:"disabled"`
		} `json:"members"`
	}
	must(t, p.call(t, "GET", "/api/v1/members", b.Owner.Token, nil, &members) == 200, "list B's members")
	must(t, len(members.Members) == 3, "B has %d members after A's attempts, want 3", len(members.Members))
	for _, m := range members.Members {
		must(t, !m.Disabled, "B's member %s was disabled by another tenant", m.ID)
	}
	must(t, p.call(t, "GET", "/api/v1/auth/sessions", b.Owner.Token, nil, nil) == 200, "B's owner session was revoked by another tenant")
	must(t, p.call(t, "GET", "/api/v1/bots/"+b.BotID, b.Owner.Token, nil, nil) == 200, "B's bot was removed by another tenant")
	var ticket struct {
		Ticket struct {
			Status string `json:"status"`
		} `json:"ticket"`
	}
	must(t, p.call(t, "GET", "/api/v1/support/tickets/"+b.TicketID, b.Owner.Token, nil, &ticket) == 200, "B's ticket is gone")
	var keyRevoked bool
	if err := env.Owner.QueryRow(context.Background(), `SELECT revoked_at IS NOT NULL FROM exchange_keys
		WHERE tenant_id = $1 AND name = 'isolation'`, b.TenantID).Scan(&keyRevoked); err != nil {
		t.Fatal(err)
	}
	must(t, !keyRevoked, "B's exchange key was revoked by another tenant")
	var campaign struct {
		Status string `json:"status"`
	}
	must(t, p.call(t, "GET", "/api/v1/campaigns/"+campaignOf(b), b.Owner.Token, nil, &campaign) == 200 && campaign.Status == "draft",
		"B's campaign was changed by another tenant: %q", campaign.Status)
}

// withParam puts id in place of the route's parameter.
func withParam(route, id string) string {
	i := strings.Index(route, "/:")
	return route[:i] + "/" + id + route[i+2+len(paramName(route)):]
}

// ghostID is an id of the same shape as id that names nothing.
func ghostID(id string) string {
	if _, err := uuid.Parse(id); err == nil {
		return uuid.NewString()
	}
	return "7999999999"
}

// objectPath trims a route to its object: /api/v1/bots/:id/webhook names a bot.
func objectPath(path string) string {
	i := strings.Index(path, "/:")
	return path[:i+2] + paramName(path)
}

func paramName(path string) string {
	i := strings.Index(path, "/:")
	rest := path[i+2:]
	if j := strings.Index(rest, "/"); j >= 0 {
		return rest[:j]
	}
	return rest
}
