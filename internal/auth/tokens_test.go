package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func TestAuthenticateRejectsBadTokens(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	p, err := f.svc.ParseAccess(o.access)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	claims := func(mod func(*accessClaims)) accessClaims {
		c := accessClaims{TenantID: p.TenantID.String(), Role: p.Role, SessionID: p.SessionID.String(),
			RegisteredClaims: jwt.RegisteredClaims{Issuer: "tgdesk", Subject: p.UserID.String(), Audience: jwt.ClaimStrings{"api"},
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c accessClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(testSecret)
	cases := []struct {
		name   string
		header string
		code   string
	}{
		{"missing", "", "unauthenticated"},
		{"not bearer", "Basic dXNlcjpwYXNz", "invalid_token"},
		{"garbage", "Bearer not.a.jwt", "invalid_token"},
		{"forged with another secret", "Bearer " + sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-0000"), claims(nil)), "invalid_token"},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), "invalid_token"},
		{"HS512 with the same secret", "Bearer " + sign(jwt.SigningMethodHS512, secret, claims(nil)), "invalid_token"},
		{"RS256", "Bearer " + sign(jwt.SigningMethodRS256, rsaKey, claims(nil)), "invalid_token"},
		{"wrong issuer", "Bearer " + sign(jwt.SigningMethodHS256, secret, claims(func(c *accessClaims) { c.Issuer = "evil" })), "invalid_token"},
		{"wrong audience", "Bearer " + sign(jwt.SigningMethodHS256, secret, claims(func(c *accessClaims) { c.Audience = jwt.ClaimStrings{"ops"} })), "invalid_token"},
		{"no expiry", "Bearer " + sign(jwt.SigningMethodHS256, secret, claims(func(c *accessClaims) { c.ExpiresAt = nil })), "invalid_token"},
		{"operator role with a tenant", "Bearer " + sign(jwt.SigningMethodHS256, secret, claims(func(c *accessClaims) { c.Role = RoleOperator })), "invalid_token"},
		{"tenant role without a tenant", "Bearer " + sign(jwt.SigningMethodHS256, secret, claims(func(c *accessClaims) { c.TenantID = "" })), "invalid_token"},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, secret, claims(func(c *accessClaims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second))
		})), "token_expired"},
		{"expired and forged", "Bearer " + sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-0000"), claims(func(c *accessClaims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second))
		})), "invalid_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/me", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res, err := f.app.Test(req, 10000)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 401 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := decodeCode(t, res); got != tc.code {
				t.Fatalf("code %q, want %q", got, tc.code)
			}
		})
	}
	// A well-formed token of ours passes, and the real one expires with the clock.
	want(t, f.do(t, "GET", "/api/v1/me", sign(jwt.SigningMethodHS256, secret, claims(nil)), nil), 200, "")
	f.clock.Advance(16 * time.Minute)
	want(t, f.do(t, "GET", "/api/v1/me", o.access, nil), 401, "token_expired")
}

func TestRefreshRotatesAndReuseRevokesFamily(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	r1 := f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": o.refresh})
	want(t, r1, 200, "")
	if r1.str("refresh_token") == o.refresh || r1.str("access_token") == "" {
		t.Fatalf("not rotated: %s", r1.raw)
	}
	want(t, f.do(t, "GET", "/api/v1/me", r1.str("access_token"), nil), 200, "")
	r2 := f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": r1.str("refresh_token")})
	want(t, r2, 200, "")

	// The first token again: someone copied it. The family dies.
	want(t, f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": o.refresh}), 401, "refresh_reused")
	want(t, f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": r2.str("refresh_token")}), 401, "session_revoked")
	for _, tok := range []string{o.access, r1.str("access_token"), r2.str("access_token")} {
		want(t, f.do(t, "GET", "/api/v1/me", tok, nil), 401, "session_revoked")
	}
	var reason string
	sid := uuid.MustParse(r2.str("session_id"))
	if err := env.Owner.QueryRow(context.Background(), `SELECT revoke_reason FROM sessions WHERE id = $1`, sid).Scan(&reason); err != nil || reason != "refresh_reused" {
		t.Fatalf("revoke reason %q, %v", reason, err)
	}
	want(t, f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": "made-up"}), 401, "invalid_refresh_token")

	// Expired refresh tokens are refused.
	l := f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword})
	want(t, l, 200, "")
	f.clock.Advance(25 * time.Hour)
	want(t, f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": l.str("refresh_token")}), 401, "refresh_expired")
}

func TestConcurrentRefreshHasOneWinner(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Refresh(context.Background(), o.refresh, Client{})
			if err == nil {
				codes[i] = 200
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d refreshes of one token succeeded, want 1", ok)
	}
}

func TestSessionsListRevokeAndLogout(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	second := f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword})
	want(t, second, 200, "")
	list := f.do(t, "GET", "/api/v1/auth/sessions", o.access, nil)
	want(t, list, 200, "")
	sessions := list.body["sessions"].([]any)
	if len(sessions) != 2 {
		t.Fatalf("sessions = %s", list.raw)
	}
	var currents int
	for _, s := range sessions {
		m := s.(map[string]any)
		if m["current"] == true {
			currents++
		}
		if m["user_agent"] == nil || m["ip"] == nil || m["created_at"] == nil || m["last_used_at"] == nil {
			t.Fatalf("session fields missing: %v", m)
		}
	}
	if currents != 1 {
		t.Fatalf("current flags = %d", currents)
	}
	// Revoking the other session kills its access token at once.
	want(t, f.do(t, "DELETE", "/api/v1/auth/sessions/"+second.str("session_id"), o.access, nil), 204, "")
	want(t, f.do(t, "GET", "/api/v1/me", second.str("access_token"), nil), 401, "session_revoked")
	want(t, f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": second.str("refresh_token")}), 401, "session_revoked")
	want(t, f.do(t, "DELETE", "/api/v1/auth/sessions/"+uuid.NewString(), o.access, nil), 404, "not_found")
	want(t, f.do(t, "DELETE", "/api/v1/auth/sessions/not-a-uuid", o.access, nil), 404, "not_found")
	// Logout kills the current one.
	want(t, f.do(t, "POST", "/api/v1/auth/logout", o.access, nil), 204, "")
	want(t, f.do(t, "GET", "/api/v1/me", o.access, nil), 401, "session_revoked")
}

func TestLoginThrottling(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.LoginMaxPerMinute = 3 })
	o := f.signup(t)
	ctx := context.Background()
	// HTTP requests from app.Test share one IP; give other tests its budget back.
	ipKey := limitKey("login-ip", "0.0.0.0")
	t.Cleanup(func() { _ = env.Redis.Client.Del(ctx, ipKey).Err() })
	_ = env.Redis.Client.Del(ctx, ipKey).Err()

	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword}), 200, "")
	for i := 0; i < 3; i++ {
		want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": "wrong password " + o.email}), 401, "invalid_credentials")
	}
	r := f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword})
	want(t, r, 429, "too_many_attempts")
	if r.header.Get("Retry-After") == "" || r.header.Get("Retry-After") == "0" {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}

	// Per IP: different accounts (known or not) from one address.
	ip := "198.51.100." + uuid.NewString()[:3]
	for i := 0; i < 3; i++ {
		if _, err := f.svc.Login(ctx, newEmail("nobody"), goodPassword, ip, ""); err != ErrInvalidCredentials {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	other := f.signup(t)
	if _, err := f.svc.Login(ctx, other.email, goodPassword, ip, ""); err == nil {
		t.Fatal("the IP's budget is spent, yet the login passed")
	} else if _, ok := IsThrottled(err); !ok {
		t.Fatalf("want throttled, got %v", err)
	}
	// Successes do not use up the budget.
	ip2 := "203.0.113." + uuid.NewString()[:3]
	for i := 0; i < 5; i++ {
		if _, err := f.svc.Login(ctx, other.email, goodPassword, ip2, ""); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
}

func TestUnknownEmailCostsAPasswordCheck(t *testing.T) {
	// The dummy hash must be a real argon2 hash with the service's
	// parameters, or unknown e-mails would answer faster.
	f := newFixture(t)
	if len(f.svc.dummyHash) < 40 || f.svc.dummyHash[:10] != "$argon2id$" {
		t.Fatalf("dummy hash %q", f.svc.dummyHash)
	}
	_, err := f.svc.Login(context.Background(), newEmail("ghost"), goodPassword, "192.0.2.77", "")
	if err != ErrInvalidCredentials {
		t.Fatalf("unknown e-mail: %v", err)
	}
}
