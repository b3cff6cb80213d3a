package bots_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/logging"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t       *testing.T
	sandbox *tgsandbox.Server
	apiURL  string
	svc     *bots.Service
	app     *fiber.App
	keys    *crypto.Keyring
	logs    *syncBuffer
	bodies  []string // every API response body, for the secrets check
}

func newKeyring(t *testing.T) *crypto.Keyring {
	t.Helper()
	k, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{7}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newHarness starts a sandbox and a registry whose API routes trust the
// X-Test-Tenant / X-Test-Role headers in place of the real authentication.
func newHarness(t *testing.T, wrap func(bots.TelegramAPI) bots.TelegramAPI) *harness {
	t.Helper()
	sb := tgsandbox.New(tgsandbox.Options{Logger: discard(), WebhookRetryMin: 50 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond})
	ts := httptest.NewServer(sb)
	t.Cleanup(func() { ts.Close(); _ = sb.Close() })
	h := &harness{t: t, sandbox: sb, apiURL: ts.URL, keys: newKeyring(t), logs: &syncBuffer{}}
	log := logging.New(h.logs, "json", "debug")
	var api bots.TelegramAPI = bots.NewTelegoAPI(ts.URL, nil)
	if wrap != nil {
		api = wrap(api)
	}
	h.svc = bots.NewService(env.DB, env.Redis.Client, h.keys, api, bots.Options{
		PublicURL: "http://127.0.0.1:1", MaxConnections: 7, Logger: log})
	h.app = httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: log})
	v1 := h.app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, err := uuid.Parse(c.Get("X-Test-Tenant"))
		if err == nil {
			auth.SetPrincipal(c, &auth.Principal{UserID: ids.New(), TenantID: tid, Role: auth.Role(c.Get("X-Test-Role"))})
		}
		return c.Next()
	})
	bots.NewHandler(h.svc).Routes(v1)
	return h
}

func newTenant(t *testing.T) uuid.UUID {
	t.Helper()
	id := ids.New()
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name) VALUES ($1, 'T')", id); err != nil {
		t.Fatal(err)
	}
	return id
}

type resp struct {
	status int
	body   map[string]any
	raw    string
}

func (h *harness) call(tenant uuid.UUID, role auth.Role, method, path string, body any) resp {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-Tenant", tenant.String())
	req.Header.Set("X-Test-Role", string(role))
	res, err := h.app.Test(req, 20000)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	h.bodies = append(h.bodies, string(raw))
	r := resp{status: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (h *harness) register(tenant uuid.UUID, token string) resp {
	h.t.Helper()
	return h.call(tenant, auth.RoleAdmin, http.MethodPost, "/api/v1/bots", map[string]string{"token": token})
}

func countBots(t *testing.T, id int64) int {
	t.Helper()
	var n int
	if err := env.Owner.QueryRow(context.Background(), "SELECT count(*) FROM bots WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRegisterBot(t *testing.T) {
	h := newHarness(t, nil)
	tenant := newTenant(t)
	b := h.newBot("shop_bot", "Shop")

	r := h.register(tenant, b.Token)
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	if r.body["id"].(float64) != float64(b.ID) || r.body["username"] != "shop_bot" || r.body["status"] != "active" {
		t.Fatalf("register body: %s", r.raw)
	}
	hook := r.body["webhook_url"].(string)
	if !strings.HasPrefix(hook, "http://127.0.0.1:1/tg/") || strings.Contains(hook, b.Token) {
		t.Fatalf("webhook url %q", hook)
	}

	// Stored sealed: not the plaintext, opens only with the bot id as aad.
	var sealed, secret []byte
	if err := env.Owner.QueryRow(context.Background(), "SELECT token_sealed, webhook_secret FROM bots WHERE id=$1", b.ID).Scan(&sealed, &secret); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(b.Token)) || crypto.KeyID(sealed) != "k1" {
		t.Fatal("token stored in the clear or without key id")
	}
	if plain, err := h.keys.Open(sealed, []byte(jsonNum(b.ID))); err != nil || string(plain) != b.Token {
		t.Fatalf("open sealed token: %v", err)
	}
	if _, err := h.keys.Open(sealed, []byte("999")); err == nil {
		t.Fatal("sealed token opened with another bot's aad")
	}

	// Telegram now knows our webhook with the chosen max_connections.
	health := h.call(tenant, auth.RoleAdmin, http.MethodGet, "/api/v1/bots/"+jsonNum(b.ID)+"/webhook", nil)
	if health.status != 200 || health.body["url"] != hook || health.body["url_matches"] != true || health.body["max_connections"].(float64) != 7 {
		t.Fatalf("health: %d %s", health.status, health.raw)
	}
	if _, ok := health.body["pending_update_count"]; !ok {
		t.Fatalf("health lacks pending count: %s", health.raw)
	}

	// The webhook target resolves with the secret Telegram was given.
	publicID := strings.TrimPrefix(hook, "http://127.0.0.1:1/tg/")
	tgt, err := h.svc.WebhookTarget(context.Background(), publicID)
	if err != nil || tgt.BotID != b.ID || tgt.TenantID != tenant || len(tgt.Secret) < 40 {
		t.Fatalf("target: %+v %v", tgt, err)
	}
	tok, err := h.svc.BotToken(context.Background(), b.ID)
	if err != nil || tok != b.Token {
		t.Fatalf("BotToken: %v", err)
	}

	list := h.call(tenant, auth.RoleAgent, http.MethodGet, "/api/v1/bots", nil)
	if list.status != 200 || len(list.body["items"].([]any)) != 1 {
		t.Fatalf("list: %d %s", list.status, list.raw)
	}
	get := h.call(tenant, auth.RoleAgent, http.MethodGet, "/api/v1/bots/"+jsonNum(b.ID), nil)
	if get.status != 200 {
		t.Fatalf("get: %d %s", get.status, get.raw)
	}
	for _, body := range h.bodies {
		if strings.Contains(body, b.Token) || strings.Contains(body, tgt.Secret) {
			t.Fatalf("a response carries the token or the secret: %s", body)
		}
	}

	// Re-register: the webhook is set again.
	if r := h.call(tenant, auth.RoleAdmin, http.MethodPost, "/api/v1/bots/"+jsonNum(b.ID)+"/webhook", nil); r.status != http.StatusNoContent {
		t.Fatalf("reset webhook: %d %s", r.status, r.raw)
	}
	if n := h.sandbox.CallCount(b.ID, "setWebhook"); n != 2 {
		t.Fatalf("setWebhook calls = %d", n)
	}
}

var nextBotID atomic.Int64

// newBot creates a sandbox bot with an id unique across this package's
// tests (they share one database; each sandbox numbers its bots from 1).
func (h *harness) newBot(username, name string) tgsandbox.Bot {
	h.t.Helper()
	id := 5000000 + nextBotID.Add(1)
	b, err := h.sandbox.CreateBotWithToken(fmt.Sprintf("%d:%s", id, ids.Token(26)[:35]), username, name)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func jsonNum(id int64) string { raw, _ := json.Marshal(id); return string(raw) }

func TestRegisterRefusals(t *testing.T) {
	h := newHarness(t, nil)
	tenant, other := newTenant(t), newTenant(t)
	taken := h.newBot("taken_bot", "")
	if r := h.register(other, taken.Token); r.status != http.StatusCreated {
		t.Fatalf("setup: %d %s", r.status, r.raw)
	}
	mine := h.newBot("mine_bot", "")
	if r := h.register(tenant, mine.Token); r.status != http.StatusCreated {
		t.Fatalf("setup: %d %s", r.status, r.raw)
	}
	unknown := "777777:" + strings.Repeat("a", 35) // well-formed, unknown to Telegram

	cases := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"empty", "", 422, "invalid_token_format"},
		{"no colon", "12345abcdef", 422, "invalid_token_format"},
		{"short secret", "12345:abc", 422, "invalid_token_format"},
		{"bad characters", "12345:" + strings.Repeat("!", 35), 422, "invalid_token_format"},
		{"telegram refuses", unknown, 422, "token_rejected"},
		{"another tenant's bot", taken.Token, 409, "bot_taken"},
		{"already mine", mine.Token, 409, "bot_exists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.sandbox.CallCount(taken.ID, "setWebhook")
			r := h.register(tenant, tc.token)
			if r.status != tc.status || r.body["code"] != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if h.sandbox.CallCount(taken.ID, "setWebhook") != before {
				t.Fatal("refused registration touched the other tenant's webhook")
			}
		})
	}
	if countBots(t, 777777) != 0 {
		t.Fatal("refused token stored")
	}
	// The other tenant's bot is invisible here: 404, not 403.
	for _, m := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/bots/" + jsonNum(taken.ID)},
		{http.MethodGet, "/api/v1/bots/" + jsonNum(taken.ID) + "/webhook"},
		{http.MethodPost, "/api/v1/bots/" + jsonNum(taken.ID) + "/webhook"},
		{http.MethodDelete, "/api/v1/bots/" + jsonNum(taken.ID)},
		{http.MethodGet, "/api/v1/bots/not-a-number"},
	} {
		if r := h.call(tenant, auth.RoleOwner, m.method, m.path, nil); r.status != http.StatusNotFound {
			t.Fatalf("%s %s: %d %s", m.method, m.path, r.status, r.raw)
		}
	}
	if countBots(t, taken.ID) != 1 {
		t.Fatal("cross-tenant delete removed the bot")
	}
	// Agents may look but not register.
	if r := h.call(tenant, auth.RoleAgent, http.MethodPost, "/api/v1/bots", map[string]string{"token": unknown}); r.status != http.StatusForbidden {
		t.Fatalf("agent register: %d", r.status)
	}
}

func TestRegisterTelegramDown(t *testing.T) {
	h := newHarness(t, nil)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	h.svc = bots.NewService(env.DB, env.Redis.Client, h.keys, bots.NewTelegoAPI(dead.URL, nil), bots.Options{PublicURL: "http://x"})
	h.app = httpx.NewApp(httpx.Options{Logger: discard()})
	v1 := h.app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Test-Tenant"))
		auth.SetPrincipal(c, &auth.Principal{UserID: ids.New(), TenantID: tid, Role: auth.RoleAdmin})
		return c.Next()
	})
	bots.NewHandler(h.svc).Routes(v1)
	b := h.newBot("down_bot", "")
	r := h.register(newTenant(t), b.Token)
	if r.status != http.StatusServiceUnavailable || r.body["code"] != "telegram_unavailable" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	if countBots(t, b.ID) != 0 {
		t.Fatal("bot stored although Telegram was unreachable")
	}
}

func TestSetWebhookFailureStoresNothing(t *testing.T) {
	h := newHarness(t, nil)
	b := h.newBot("hookfail_bot", "")
	if err := h.sandbox.FailNext(tgsandbox.Fault{BotID: b.ID, Method: "setWebhook", Times: 1, Code: 500, Description: "Internal Server Error"}); err != nil {
		t.Fatal(err)
	}
	r := h.register(newTenant(t), b.Token)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	if countBots(t, b.ID) != 0 {
		t.Fatal("bot stored although setWebhook failed")
	}
}

func TestPaidBroadcastSwitch(t *testing.T) {
	h := newHarness(t, nil)
	tenant := newTenant(t)
	b := h.newBot("paid_bot", "Paid")
	if r := h.register(tenant, b.Token); r.status != http.StatusCreated || r.body["paid_broadcast"] != false {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	path := fmt.Sprintf("/api/v1/bots/%d", b.ID)
	paid := func() bool {
		var on bool
		if err := env.Owner.QueryRow(context.Background(), "SELECT paid_broadcast FROM bots WHERE id = $1", b.ID).Scan(&on); err != nil {
			t.Fatal(err)
		}
		return on
	}
	// Telegram charges paid broadcasts to the bot's balance: owners only.
	if r := h.call(tenant, auth.RoleAdmin, http.MethodPatch, path, map[string]any{"paid_broadcast": true}); r.status != http.StatusForbidden || paid() {
		t.Fatalf("admin: %d %s", r.status, r.raw)
	}
	if r := h.call(tenant, auth.RoleOwner, http.MethodPatch, path, map[string]any{}); r.status != http.StatusUnprocessableEntity || paid() {
		t.Fatalf("empty patch: %d %s", r.status, r.raw)
	}
	if r := h.call(newTenant(t), auth.RoleOwner, http.MethodPatch, path, map[string]any{"paid_broadcast": true}); r.status != http.StatusNotFound || paid() {
		t.Fatalf("other tenant: %d %s", r.status, r.raw)
	}
	r := h.call(tenant, auth.RoleOwner, http.MethodPatch, path, map[string]any{"paid_broadcast": true})
	if r.status != http.StatusOK || r.body["paid_broadcast"] != true || !paid() {
		t.Fatalf("owner: %d %s", r.status, r.raw)
	}
	var n int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'bot.paid_broadcast'`, tenant).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit rows = %d, %v", n, err)
	}
	if r := h.call(tenant, auth.RoleOwner, http.MethodPatch, path, map[string]any{"paid_broadcast": false}); r.status != http.StatusOK || paid() {
		t.Fatalf("switch off: %d %s", r.status, r.raw)
	}
}
