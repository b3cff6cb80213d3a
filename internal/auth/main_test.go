package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

const testSecret = "test-secret-test-secret-test-secret-0123"

// recMailer records e-mails instead of sending them.
type recMailer struct {
	mu   sync.Mutex
	sent []Mail
}

func (r *recMailer) Send(_ context.Context, m Mail) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

func (r *recMailer) to(addr string) []Mail {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Mail
	for _, m := range r.sent {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// fixture is one service with its app, fake clock and mailer.
type fixture struct {
	svc   *Service
	app   *fiber.App
	clock *clock.Fake
	mail  *recMailer
}

func newFixture(t *testing.T, tweak ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(time.Now().UTC().Truncate(time.Second)), mail: &recMailer{}}
	o := Options{
		JWTSecret:         []byte(testSecret),
		AccessTTL:         15 * time.Minute,
		RefreshTTL:        24 * time.Hour,
		InviteTTL:         72 * time.Hour,
		PublicURL:         "https://desk.example",
		LoginMaxPerMinute: 1000,
		PasswordParams:    crypto.PasswordParams{Time: 1, MemoryKiB: 1024, Threads: 1},
		Clock:             f.clock,
		Mailer:            f.mail,
	}
	for _, fn := range tweak {
		fn(&o)
	}
	svc, err := NewService(env.DB, env.Redis.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	h := NewHandler(svc)
	f.app = httpx.NewApp(httpx.Options{BodyLimit: 16 * 1024, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	api := f.app.Group("/api/v1")
	h.Routes(api)
	// Stand-ins for other packages' routes mounted after Routes.
	api.Get("/other", Require(RoleAgent), func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"ok": true}) })
	f.app.Group("/ops", h.Authenticate(), RequireOperator()).Get("/ping", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"ok": true}) })
	return f
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) code() string { s, _ := r.body["code"].(string); return s }

func (r resp) str(key string) string { s, _ := r.body[key].(string); return s }

func (f *fixture) do(t *testing.T, method, path, token string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := f.app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// want fails unless r has the status (and, when given, the problem code).
func want(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("got %d %s, want %d %s: %s", r.status, r.code(), status, code, r.raw)
	}
}

func newEmail(prefix string) string {
	return prefix + "-" + strings.ToLower(strings.NewReplacer("-", "x", "_", "y").Replace(ids.Token(6))) + "@example.com"
}

const goodPassword = "correct horse battery staple"

// account is a signed-up tenant's owner.
type owner struct {
	email, access, refresh, tenantID, userID string
}

func (f *fixture) signup(t *testing.T) owner {
	t.Helper()
	email := newEmail("owner")
	r := f.do(t, "POST", "/api/v1/signup", "", map[string]any{"company": "Acme " + email, "email": email, "password": goodPassword, "name": "Olga"})
	want(t, r, 201, "")
	tenant := r.body["tenant"].(map[string]any)
	user := r.body["user"].(map[string]any)
	return owner{email: email, access: r.str("access_token"), refresh: r.str("refresh_token"),
		tenantID: tenant["id"].(string), userID: user["id"].(string)}
}

// member invites email with role as inviter and accepts; it returns the
// new member's access token and id.
func (f *fixture) member(t *testing.T, inviter string, role Role) (email, access, id string) {
	t.Helper()
	email = newEmail(string(role))
	r := f.do(t, "POST", "/api/v1/invites", inviter, map[string]any{"email": email, "role": role})
	want(t, r, 201, "")
	link := r.str("link")
	token := link[strings.LastIndex(link, "/")+1:]
	r = f.do(t, "POST", "/api/v1/invites/accept", "", map[string]any{"token": token, "name": "M", "password": goodPassword})
	want(t, r, 201, "")
	return email, r.str("access_token"), r.body["user"].(map[string]any)["id"].(string)
}

func newRequest(method, path, body, ctype string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	return req
}

func decodeCode(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var p struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p.Code
}
