package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tgdesk/helpdesk/internal/platform/crypto"
)

func withKeyring(t *testing.T) func(*Options) {
	k, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{9}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	return func(o *Options) { o.Keyring = k }
}

func (f *fixture) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol turns two-factor sign-in on for the caller and returns the secret.
func (f *fixture) enrol(t *testing.T, access, password string) string {
	t.Helper()
	r := f.do(t, "POST", "/api/v1/me/totp", access, map[string]any{"password": password})
	want(t, r, 201, "")
	secret := r.str("secret")
	want(t, f.do(t, "POST", "/api/v1/me/totp/confirm", access, map[string]any{"code": f.code(t, secret)}), 204, "")
	return secret
}

func TestTOTPEnrolLoginAndDisable(t *testing.T) {
	f := newFixture(t, withKeyring(t))
	o := f.signup(t)
	st := f.do(t, "GET", "/api/v1/me/totp", o.access, nil)
	want(t, st, 200, "")
	if st.body["enabled"] != false || st.body["pending"] != false {
		t.Fatalf("status before = %s", st.raw)
	}

	// Starting takes the password again.
	bad := f.do(t, "POST", "/api/v1/me/totp", o.access, map[string]any{"password": "wrong password 1!"})
	want(t, bad, 422, "validation_failed")
	if !strings.Contains(bad.raw, `"field":"password"`) {
		t.Fatalf("wrong password problem = %s", bad.raw)
	}
	r := f.do(t, "POST", "/api/v1/me/totp", o.access, map[string]any{"password": goodPassword})
	want(t, r, 201, "")
	secret, url := r.str("secret"), r.str("otpauth_url")
	if secret == "" || !strings.HasPrefix(url, "otpauth://totp/") || !strings.Contains(url, "secret="+secret) {
		t.Fatalf("enrolment = %s", r.raw)
	}
	img, err := base64.StdEncoding.DecodeString(r.str("qr_png_base64"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("qr is not a PNG: %v", err)
	}
	var sealed []byte
	if err := env.Owner.QueryRow(context.Background(), `SELECT secret_sealed FROM user_totp WHERE user_id = $1`, o.userID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secret)) {
		t.Fatal("the TOTP secret is stored in the clear")
	}

	// Pending: login does not ask for a code yet; a wrong first code is refused.
	login := map[string]any{"email": o.email, "password": goodPassword}
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", login), 200, "")
	wrong := f.do(t, "POST", "/api/v1/me/totp/confirm", o.access, map[string]any{"code": "000000"})
	want(t, wrong, 422, "validation_failed")
	want(t, f.do(t, "POST", "/api/v1/me/totp/confirm", o.access, map[string]any{"code": f.code(t, secret)}), 204, "")
	st = f.do(t, "GET", "/api/v1/me/totp", o.access, nil)
	if st.body["enabled"] != true {
		t.Fatalf("status after = %s", st.raw)
	}
	want(t, f.do(t, "POST", "/api/v1/me/totp", o.access, map[string]any{"password": goodPassword}), 409, "totp_already_on")

	// On: the password alone is not enough; the code used to confirm cannot
	// be replayed; the next step's code works once.
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", login), 401, "totp_required")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword, "totp_code": "123456"}), 401, "invalid_totp")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword, "totp_code": f.code(t, secret)}), 401, "invalid_totp")
	f.clock.Advance(30 * time.Second)
	withCode := map[string]any{"email": o.email, "password": goodPassword, "totp_code": f.code(t, secret)}
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", withCode), 200, "")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", withCode), 401, "invalid_totp")
	// A wrong password with a right code is still just a wrong password.
	f.clock.Advance(30 * time.Second)
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": "nope nope 1!", "totp_code": f.code(t, secret)}), 401, "invalid_credentials")

	// Turning it off takes the password and a current code.
	want(t, f.do(t, "POST", "/api/v1/me/totp/disable", o.access, map[string]any{"password": goodPassword, "code": "999999"}), 422, "validation_failed")
	want(t, f.do(t, "POST", "/api/v1/me/totp/disable", o.access, map[string]any{"password": goodPassword, "code": f.code(t, secret)}), 204, "")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", login), 200, "")
	var n int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action IN ('member.totp_on', 'member.totp_off')`, o.tenantID).Scan(&n); err != nil || n != 2 {
		t.Fatalf("audit rows = %d, %v", n, err)
	}
}

func TestTOTPCodeGuessesAreThrottled(t *testing.T) {
	f := newFixture(t, withKeyring(t), func(o *Options) { o.LoginMaxPerMinute = 3 })
	// The HTTP tests share one client IP; start its budget afresh.
	ipKey := limitKey("login-ip", "0.0.0.0")
	_ = env.Redis.Client.Del(context.Background(), ipKey).Err()
	t.Cleanup(func() { _ = env.Redis.Client.Del(context.Background(), ipKey).Err() })
	o := f.signup(t)
	f.enrol(t, o.access, goodPassword)
	for i := 0; i < 3; i++ {
		want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword, "totp_code": "000000"}), 401, "invalid_totp")
	}
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword, "totp_code": "000000"}), 429, "too_many_attempts")
}

func TestOperatorTOTP(t *testing.T) {
	f := newFixture(t, withKeyring(t))
	email := newEmail("op")
	if err := f.svc.CreateOperator(context.Background(), email, "Ops", goodPassword); err != nil {
		t.Fatal(err)
	}
	r := f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword})
	want(t, r, 200, "")
	secret := f.enrol(t, r.str("access_token"), goodPassword)
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword}), 401, "totp_required")
	f.clock.Advance(30 * time.Second)
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword, "totp_code": f.code(t, secret)}), 200, "")
}

func TestTOTPWithoutKeyringIsUnavailable(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	want(t, f.do(t, "POST", "/api/v1/me/totp", o.access, map[string]any{"password": goodPassword}), 503, "totp_unavailable")
}

func TestTOTPSetupGuessesAreThrottled(t *testing.T) {
	f := newFixture(t, withKeyring(t), func(o *Options) { o.LoginMaxPerMinute = 3 })
	o := f.signup(t)
	secret := f.enrol(t, o.access, goodPassword)
	// A stolen session guessing codes to turn the second factor off.
	for i := 0; i < 3; i++ {
		want(t, f.do(t, "POST", "/api/v1/me/totp/disable", o.access, map[string]any{"password": goodPassword, "code": "000000"}), 422, "validation_failed")
	}
	f.clock.Advance(30 * time.Second)
	want(t, f.do(t, "POST", "/api/v1/me/totp/disable", o.access, map[string]any{"password": goodPassword, "code": f.code(t, secret)}), 429, "too_many_attempts")
	// Guessing the password through the set-up route draws from the same budget.
	other := f.signup(t)
	for i := 0; i < 3; i++ {
		want(t, f.do(t, "POST", "/api/v1/me/totp", other.access, map[string]any{"password": "guess number 1!"}), 422, "validation_failed")
	}
	want(t, f.do(t, "POST", "/api/v1/me/totp", other.access, map[string]any{"password": goodPassword}), 429, "too_many_attempts")
}
