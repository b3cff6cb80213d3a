package crm_test

import (
	"bytes"
	"testing"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// The connector API: admins connect amoCRM with a long-lived token, list,
// read health, change the mapping, read the CRM's pipelines, users and
// fields, and disconnect; credentials are never returned; bad bodies name
// the field; another tenant's connector is 404; agents are refused.
func TestConnectorAPI(t *testing.T) {
	r := newRig(t, rigOpts{})
	token := r.fake.IssueToken()
	res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors", map[string]any{"kind": "amocrm", "name": "Main",
		"credentials": map[string]string{"account": "example.amocrm.ru", "token": token}})
	if res.code != 201 {
		t.Fatalf("create: %d %s", res.code, res.body)
	}
	if bytes.Contains(res.body, []byte(token)) {
		t.Fatalf("the token came back: %s", res.body)
	}
	var info crm.Info
	res.json(t, &info)
	if info.Kind != crm.AmoCRM || info.Account != "example.amocrm.ru" || info.Auth != "token" || info.Health.Status != "active" ||
		len(hookPath(info)) < 40 {
		t.Fatalf("info %+v", info)
	}
	id := info.ID.String()

	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown kind", map[string]any{"kind": "salesforce", "name": "x", "credentials": map[string]string{}}, "kind"},
		{"no name", map[string]any{"kind": "amocrm", "credentials": map[string]string{"account": "a.amocrm.ru", "token": "t"}}, "name"},
		{"foreign account", map[string]any{"kind": "amocrm", "name": "x", "credentials": map[string]string{"account": "evil.com", "token": "t"}}, "credentials"},
		{"no token", map[string]any{"kind": "amocrm", "name": "x", "credentials": map[string]string{"account": "a.amocrm.ru"}}, "credentials"},
		{"bad mapping", map[string]any{"kind": "amocrm", "name": "x", "credentials": map[string]string{"account": "a.amocrm.ru", "token": "t"},
			"mapping": map[string]any{"contact_fields": map[string]string{"1": "Bad Name"}}}, "mapping.contact_fields.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors", tc.body)
			var p struct {
				Errors []struct{ Field string } `json:"errors"`
			}
			res.json(t, &p)
			if res.code != 422 || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Fatalf("%d %s", res.code, res.body)
			}
		})
	}

	res = r.call(r.tenant, "admin", "PATCH", "/api/v1/connectors/"+id, map[string]any{"mapping": map[string]any{"contact_fields": map[string]string{"3091701": "member_status"}}})
	if res.code != 200 {
		t.Fatalf("patch: %d %s", res.code, res.body)
	}
	res.json(t, &info)
	if info.Mapping.ContactFields["3091701"] != "member_status" {
		t.Fatalf("mapping %+v", info.Mapping)
	}
	var list struct{ Items []crm.Info }
	r.call(r.tenant, "admin", "GET", "/api/v1/connectors", nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != info.ID {
		t.Fatalf("list %+v", list)
	}
	var pipes struct{ Items []crm.Pipeline }
	if res := r.call(r.tenant, "admin", "GET", "/api/v1/connectors/"+id+"/pipelines", nil); res.code != 200 {
		t.Fatalf("pipelines %d %s", res.code, res.body)
	} else {
		res.json(t, &pipes)
	}
	if len(pipes.Items) != 1 || len(pipes.Items[0].Stages) != 5 {
		t.Fatalf("pipelines %+v", pipes)
	}
	var users struct{ Items []crm.User }
	r.call(r.tenant, "admin", "GET", "/api/v1/connectors/"+id+"/users", nil).json(t, &users)
	var fields struct{ Items []crm.Field }
	r.call(r.tenant, "admin", "GET", "/api/v1/connectors/"+id+"/fields", nil).json(t, &fields)
	if len(users.Items) != 2 || len(fields.Items) != 4 {
		t.Fatalf("users %+v fields %+v", users, fields)
	}
	if h := r.health(r.tenant, info.ID); h.LastSuccessAt == nil || h.LastError != "" {
		t.Fatalf("health after look-ups %+v", h)
	}

	for _, tc := range []struct {
		name, role, method, path string
		tenant                   uuid.UUID
		body                     any
		want                     int
	}{
		{"another tenant's connector", "admin", "GET", "/api/v1/connectors/" + id, r.other, nil, 404},
		{"another tenant's patch", "admin", "PATCH", "/api/v1/connectors/" + id, r.other, map[string]any{"name": "x"}, 404},
		{"another tenant's delete", "admin", "DELETE", "/api/v1/connectors/" + id, r.other, nil, 404},
		{"another tenant's pipelines", "admin", "GET", "/api/v1/connectors/" + id + "/pipelines", r.other, nil, 404},
		{"another tenant's calls", "admin", "GET", "/api/v1/connectors/" + id + "/calls", r.other, nil, 404},
		{"another tenant's link code", "admin", "POST", "/api/v1/connectors/" + id + "/link-codes", r.other, map[string]any{"crm_contact_id": "1"}, 404},
		{"a malformed id", "admin", "GET", "/api/v1/connectors/nope", r.tenant, nil, 404},
		{"an agent", "agent", "GET", "/api/v1/connectors/" + id, r.tenant, nil, 403},
		{"an agent lists", "agent", "GET", "/api/v1/connectors", r.tenant, nil, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := r.call(tc.tenant, tc.role, tc.method, tc.path, tc.body); res.code != tc.want {
				t.Fatalf("%d %s, want %d", res.code, res.body, tc.want)
			}
		})
	}
	if res := r.call(r.tenant, "admin", "DELETE", "/api/v1/connectors/"+id, nil); res.code != 204 {
		t.Fatalf("delete %d", res.code)
	}
	if res := r.call(r.tenant, "admin", "GET", "/api/v1/connectors/"+id, nil); res.code != 404 {
		t.Fatalf("after delete %d", res.code)
	}
	// The webhook of a deleted connector is unknown.
	if res := r.hook(hookPath(info), form, []byte("account[subdomain]=example")); res.code != 404 {
		t.Fatalf("hook after delete %d", res.code)
	}
}
