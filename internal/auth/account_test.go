package auth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestSignupCreatesTenantOwnerAndAudit(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	me := f.do(t, "GET", "/api/v1/me", o.access, nil)
	want(t, me, 200, "")
	if me.str("email") != o.email || me.str("role") != "owner" || me.str("tenant_id") != o.tenantID {
		t.Fatalf("me = %s", me.raw)
	}
	var n int
	err := env.Owner.QueryRow(context.Background(),
		`SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.signup' AND actor = $2`, o.tenantID, o.userID).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("audit rows = %d, %v", n, err)
	}
	// The protected routes of other packages mounted after Routes need a token.
	want(t, f.do(t, "GET", "/api/v1/other", "", nil), 401, "unauthenticated")
	want(t, f.do(t, "GET", "/api/v1/other", o.access, nil), 200, "")
}

func TestSignupRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	taken := f.signup(t)
	cases := []struct {
		name        string
		email, pass string
		status      int
		code, field string
	}{
		{"duplicate email", taken.email, goodPassword, 409, "email_taken", ""},
		{"duplicate email other case", strings.ToUpper(taken.email), goodPassword, 409, "email_taken", ""},
		{"too short", newEmail("a"), "short1!", 422, "weak_password", "password"},
		{"common", newEmail("b"), "Password123", 422, "weak_password", "password"},
		{"all the same", newEmail("c"), "zzzzzzzzzzzz", 422, "weak_password", "password"},
		{"contains local part", "marina.petrova@example.com", "marina.petrova-2024!", 422, "weak_password", "password"},
		{"bad email", "not-an-email", goodPassword, 422, "invalid_email", "email"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "POST", "/api/v1/signup", "", map[string]any{"company": "X", "email": tc.email, "password": tc.pass})
			if tc.field == "" {
				want(t, r, tc.status, tc.code)
				return
			}
			want(t, r, tc.status, "validation_failed")
			errs, _ := r.body["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["field"] != tc.field || errs[0].(map[string]any)["code"] != tc.code {
				t.Fatalf("errors = %s", r.raw)
			}
			if tc.code == "weak_password" && !strings.Contains(errs[0].(map[string]any)["message"].(string), "10 characters") {
				t.Fatalf("the message must explain the rule: %s", r.raw)
			}
		})
	}
	var n int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM tenants WHERE name = 'X'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused sign-ups left %d tenants (%v)", n, err)
	}
}

func TestBadBodiesGetProblemJSON(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"not json", "company=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"broken json", `{"email":`, "application/json", 400, "invalid_json"},
		{"unknown field", `{"email":"a@b.c","password":"x","admin":true}`, "application/json", 422, "validation_failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest("POST", "/api/v1/auth/login", tc.body, tc.ctype)
			res, err := f.app.Test(req, 10000)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %s", res.StatusCode, res.Header.Get("Content-Type"))
			}
			if got := decodeCode(t, res); got != tc.code {
				t.Fatalf("code %q, want %q", got, tc.code)
			}
		})
	}
}

// fiber's app.Test cannot carry an over-limit body, so this one goes
// through a real listener.
func TestOversizedBodyIs413Problem(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.app.Listener(ln) }()
	t.Cleanup(func() { _ = f.app.Shutdown() })
	body := `{"email":"` + strings.Repeat("a", 20000) + `"}`
	res, err := http.Post("http://"+ln.Addr().String()+"/api/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 413 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if got := decodeCode(t, res); got != "body_too_large" {
		t.Fatalf("code %q", got)
	}
}

func TestPasswordRule(t *testing.T) {
	cases := []struct {
		name, pw, email, want string
	}{
		{"long passphrase", "purple monkey dishwasher", "ann@example.com", ""},
		{"nine chars", "abcdefgh9", "ann@example.com", "weak_password"},
		{"ten chars", "abcdefgh9!", "ann@example.com", ""},
		{"common case-insensitive", "QwErTyUiOp", "ann@example.com", "weak_password"},
		{"local part inside", "xxIvan.Ivanovxx", "ivan.ivanov@example.com", "weak_password"},
		{"short local part ignored", "anna-bella-99", "an@example.com", ""},
		{"too long", strings.Repeat("ab", 200), "ann@example.com", "too_long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkPassword(tc.pw, tc.email); got != tc.want {
				t.Fatalf("checkPassword(%q) = %q, want %q", tc.pw, got, tc.want)
			}
		})
	}
}

func TestEnsureOwnerIsIdempotent(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	ctx := context.Background()
	tid := uuid.MustParse(o.tenantID)
	email := newEmail("tpl")
	id1, err := f.svc.EnsureOwner(ctx, tid, email, "Template Owner", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := f.svc.EnsureOwner(ctx, tid, strings.ToUpper(email), "Other", "whatever-else-123")
	if err != nil || id2 != id1 {
		t.Fatalf("second EnsureOwner = %v, %v; want %v", id2, err, id1)
	}
	if _, err := f.svc.Login(ctx, email, goodPassword, "10.1.0.1", "test"); err != nil {
		t.Fatalf("the first password must stay: %v", err)
	}
	other := f.signup(t)
	if _, err := f.svc.EnsureOwner(ctx, uuid.MustParse(other.tenantID), email, "", goodPassword); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("e-mail of another tenant: %v", err)
	}
}

func TestOperatorLoginAndLimits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	email := newEmail("op")
	if err := f.svc.CreateOperator(ctx, email, "Ops", goodPassword); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CreateOperator(ctx, email, "Ops", goodPassword); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("duplicate operator: %v", err)
	}
	if err := f.svc.CreateOperator(ctx, newEmail("op"), "Ops", "short"); err == nil {
		t.Fatal("weak operator password accepted")
	}
	r := f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword})
	want(t, r, 200, "")
	access, refresh := r.str("access_token"), r.str("refresh_token")
	p, err := f.svc.ParseAccess(access)
	if err != nil || p.Role != RoleOperator || p.TenantID != uuid.Nil {
		t.Fatalf("operator principal %+v, %v", p, err)
	}
	me := f.do(t, "GET", "/api/v1/me", access, nil)
	want(t, me, 200, "")
	if me.str("role") != "operator" || me.body["tenant_id"] != nil {
		t.Fatalf("me = %s", me.raw)
	}
	want(t, f.do(t, "GET", "/ops/ping", access, nil), 200, "")
	want(t, f.do(t, "GET", "/api/v1/members", access, nil), 403, "forbidden")
	want(t, f.do(t, "GET", "/api/v1/other", access, nil), 403, "forbidden")
	sessions := f.do(t, "GET", "/api/v1/auth/sessions", access, nil)
	want(t, sessions, 200, "")
	if n := len(sessions.body["sessions"].([]any)); n != 1 {
		t.Fatalf("operator sessions = %d", n)
	}
	// Refresh rotates for operators too; reuse revokes the family.
	r2 := f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
	want(t, r2, 200, "")
	want(t, f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}), 401, "refresh_reused")
	want(t, f.do(t, "GET", "/ops/ping", r2.str("access_token"), nil), 401, "session_revoked")

	// A tenant user cannot pass an operator route, and the address of an
	// operator cannot sign up.
	o := f.signup(t)
	want(t, f.do(t, "GET", "/ops/ping", o.access, nil), 403, "forbidden")
	want(t, f.do(t, "POST", "/api/v1/signup", "", map[string]any{"company": "Y", "email": email, "password": goodPassword}), 409, "email_taken")
}

func TestSuspendedTenantCannotLogInOrRefresh(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	other := f.signup(t)
	setStatus := func(id, status string) {
		if _, err := env.Owner.Exec(context.Background(), `UPDATE tenants SET status = $2 WHERE id = $1`, id, status); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(o.tenantID, "suspended")
	login := map[string]any{"email": o.email, "password": goodPassword}
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", login), 403, "tenant_suspended")
	want(t, f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": o.refresh}), 403, "tenant_suspended")
	// Another tenant's users are not affected.
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": other.email, "password": goodPassword}), 200, "")

	// Reinstated, the same refresh token still works: refusing spent nothing.
	setStatus(o.tenantID, "active")
	want(t, f.do(t, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": o.refresh}), 200, "")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", login), 200, "")
}
