package crm_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

func (r *rig) oauthConnect(t *testing.T) crm.Info {
	t.Helper()
	res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors/amocrm/oauth/start",
		map[string]string{"name": "amoCRM by OAuth", "client_id": r.fake.ClientID, "client_secret": r.fake.Secret})
	if res.code != 200 {
		t.Fatalf("start: %d %s", res.code, res.body)
	}
	var st crm.OAuthStarted
	res.json(t, &st)
	u, err := url.Parse(st.AuthorizeURL)
	if err != nil || u.Host != "www.amocrm.ru" || u.Query().Get("state") != st.State || u.Query().Get("client_id") != r.fake.ClientID ||
		st.RedirectURI != "https://desk.example/api/v1/connectors/amocrm/oauth/callback" {
		t.Fatalf("started %+v", st)
	}
	// amoCRM redirects the admin's browser back (no session: the state is
	// the authentication).
	cb := "/api/v1/connectors/amocrm/oauth/callback?" + url.Values{"code": {r.fake.NewCode()}, "state": {st.State},
		"referer": {"example.amocrm.ru"}, "platform": {"1"}, "client_id": {r.fake.ClientID}}.Encode()
	res = r.hook2("GET", cb)
	if res.code != 303 || !strings.HasPrefix(res.hdr.Get("Location"), "https://desk.example/connectors/") {
		t.Fatalf("callback: %d %s %v", res.code, res.body, res.hdr)
	}
	// The state is single use.
	if res := r.hook2("GET", cb); res.code != 400 {
		t.Fatalf("replayed callback: %d", res.code)
	}
	var list struct{ Items []crm.Info }
	r.call(r.tenant, "admin", "GET", "/api/v1/connectors", nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].Auth != "oauth" || list.Items[0].Health.TokenExpiresAt == nil ||
		time.Until(*list.Items[0].Health.TokenExpiresAt) < 23*time.Hour {
		t.Fatalf("connectors %+v", list.Items)
	}
	return list.Items[0]
}

func (r *rig) tokenCalls() int {
	n := 0
	for _, c := range r.fake.Calls() {
		if c.Path == "/oauth2/access_token" {
			n++
		}
	}
	return n
}

// OAuth2: start, callback, then an expired access token is refreshed once
// however many calls hit the 401 at the same time; a revoked refresh token
// shows as the connector's health.
func TestOAuthConnectRefreshAndRevoke(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		body map[string]string
	}{
		{"no client id", map[string]string{"name": "x", "client_secret": "s"}},
		{"no secret", map[string]string{"name": "x", "client_id": "c"}},
	} {
		if res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors/amocrm/oauth/start", tc.body); res.code != 422 {
			t.Fatalf("%s: %d", tc.name, res.code)
		}
	}
	if res := r.call(r.tenant, "agent", "POST", "/api/v1/connectors/amocrm/oauth/start", map[string]string{}); res.code != 403 {
		t.Fatalf("agent start: %d", res.code)
	}
	if res := r.hook2("GET", "/api/v1/connectors/amocrm/oauth/callback?code=x&state=forged&referer=example.amocrm.ru"); res.code != 400 {
		t.Fatalf("forged state: %d", res.code)
	}
	info := r.oauthConnect(t)
	exchanges := r.tokenCalls()
	if _, err := r.svc.Pipelines(ctx, r.tenant, info.ID); err != nil {
		t.Fatal(err)
	}

	r.fake.ExpireAccessTokens()
	// Two processes, four calls each, all hitting the 401 at once.
	procs := []*crm.Service{r.svc, r.newService()}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := procs[i%2].Users(ctx, r.tenant, info.ID)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("call after expiry: %v", err)
		}
	}
	if n := r.tokenCalls() - exchanges; n != 1 {
		t.Fatalf("%d refreshes for one expiry, want 1", n)
	}

	r.fake.ExpireAccessTokens()
	r.fake.RevokeRefreshTokens()
	res := r.call(r.tenant, "admin", "GET", "/api/v1/connectors/"+info.ID.String()+"/pipelines", nil)
	if res.code != 502 || !strings.Contains(string(res.body), "crm_unauthorized") {
		t.Fatalf("revoked: %d %s", res.code, res.body)
	}
	h := r.health(r.tenant, info.ID)
	if h.Status != "auth_error" || !strings.Contains(h.LastError, "token refresh failed") {
		t.Fatalf("health after revoke %+v", h)
	}
}

// A token close to expiry is refreshed before it is used (no 401 first).
func TestOAuthRefreshBeforeExpiry(t *testing.T) {
	r := newRig(t, rigOpts{refreshBefore: 25 * time.Hour}) // every 24 h token is "about to expire"
	info := r.oauthConnect(t)
	before := r.tokenCalls()
	if _, err := r.svc.Pipelines(context.Background(), r.tenant, info.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range r.fake.Calls() {
		if c.Status == 401 {
			t.Fatalf("a 401 was needed: %+v", c)
		}
	}
	if r.tokenCalls() != before+1 {
		t.Fatalf("refreshes %d", r.tokenCalls()-before)
	}
}
