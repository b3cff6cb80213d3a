package app_test

import (
	"strings"
	"testing"
)

// The exchange routes take an exchange API key, never a session: listed as
// such in docs/permissions.md, they answer 401 to a session token, and a
// key an admin created works until it is revoked.
func TestExchangeRoutesTakeAnAPIKey(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Exchange Co")
	_, public := readMatrix(t)
	n := 0
	for route := range public {
		method, path, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(path, "/api/v1/exchange/") {
			continue
		}
		n++
		if code := p.call(t, method, path, tm.Owner.Token, map[string]any{}, nil); code != 401 {
			t.Errorf("%s with a session: %d, want 401", route, code)
		}
	}
	if n != 6 {
		t.Fatalf("docs/permissions.md names %d exchange key routes, want 6", n)
	}
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	code := p.call(t, "POST", "/api/v1/exchange/keys", tm.Admin.Token, map[string]any{"name": "1C production"}, &created)
	must(t, code == 201 && strings.HasPrefix(created.Key, "hxk_"), "create key: %d %+v", code, created)
	var page struct {
		Events []any `json:"events"`
	}
	must(t, p.call(t, "GET", "/api/v1/exchange/events", created.Key, nil, &page) == 200, "pull with the key")
	var listed struct {
		Keys []map[string]any `json:"keys"`
	}
	must(t, p.call(t, "GET", "/api/v1/exchange/keys", tm.Owner.Token, nil, &listed) == 200 && len(listed.Keys) == 1, "list keys: %+v", listed)
	_, hasKey := listed.Keys[0]["key"]
	must(t, !hasKey, "the key list shows a key")
	must(t, p.call(t, "DELETE", "/api/v1/exchange/keys/"+created.ID, tm.Admin.Token, nil, nil) == 204, "revoke")
	must(t, p.call(t, "GET", "/api/v1/exchange/events", created.Key, nil, nil) == 401, "a revoked key still works")
}
