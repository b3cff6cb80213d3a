package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/app"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/config"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// platform is the real app, wired exactly as `helpdesk all` wires it, over
// the test database, Redis and a Telegram sandbox.
type platform struct {
	App     *app.App
	HTTP    *fiber.App
	Sandbox *tgsandbox.Server
	Logs    *syncWriter
	URL     string
	// AmoCRM is the fake amoCRM every amoCRM connector talks to.
	AmoCRM *amofake.Fake
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	sb := tgsandbox.New(tgsandbox.Options{AutoCreateBots: true})
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(func() { sbSrv.Close(); _ = sb.Close() })
	amo := amofake.New()
	amoSrv := httptest.NewServer(amo)
	t.Cleanup(amoSrv.Close)

	// The platform listens for real, so the sandbox can deliver webhooks.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	cfg := &config.Config{
		HTTPAddr:          ln.Addr().String(),
		PublicURL:         "http://" + ln.Addr().String(),
		BodyLimit:         1 << 20,
		SecretKey:         key,
		SecretKeyID:       "k1",
		JWTSecret:         []byte(strings.Repeat("j", 40)),
		AccessTTL:         15 * time.Minute,
		RefreshTTL:        24 * time.Hour,
		InviteTTL:         time.Hour,
		LogLevel:          "debug",
		LogFormat:         "json",
		SMTPFrom:          "test@localhost",
		TelegramAPIURL:    sbSrv.URL,
		WorkerConcurrency: 4,
		TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout:   2 * time.Second,
		WebhookMaxConns:   40,
		LoginMaxPerMinute: 1000,
		AmoCRMBaseURL:     amoSrv.URL,
		// The CRM fakes listen on 127.0.0.1.
		CRMAllowPrivateNetworks: true,
	}
	keyring, err := crypto.NewKeyring("k1", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{buf: &bytes.Buffer{}}
	deps := &app.Deps{
		Cfg:            cfg,
		Log:            slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:          clock.Real{},
		DB:             env.DB,
		Redis:          env.Redis.Client,
		AsynqOpt:       env.Redis.Asynq,
		Queue:          queue.NewClient(env.Redis.Asynq),
		Keyring:        keyring,
		PasswordParams: crypto.PasswordParams{Time: 1, MemoryKiB: 1024, Threads: 1},
	}
	a, err := app.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	httpApp := a.HTTP()
	go func() { _ = httpApp.Listener(ln) }()
	srv, sched := a.Worker()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Shutdown()
		_ = httpApp.Shutdown()
		a.Close()
		_ = deps.Queue.Close()
	})
	return &platform{App: a, HTTP: httpApp, Sandbox: sb, Logs: logs, URL: "http://" + ln.Addr().String(), AmoCRM: amo}
}

// call sends a JSON request and decodes a JSON answer into out (if non-nil).
func (p *platform) call(t *testing.T, method, path, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.HTTP.Test(req, 10_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// member is one logged-in account.
type member struct {
	Email, Password, Token string
	UserID, SessionID      string
}

// team is a tenant with an owner, an admin and an agent, plus a pending invite.
type team struct {
	TenantID             string
	Owner, Admin, Agent  member
	PendingInviteID      string
	BotID                string
	TicketID             string
	Company, emailDomain string
}

func (p *platform) login(t *testing.T, email, password string) member {
	t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
		SessionID   string `json:"session_id"`
	}
	if code := p.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &out); code != 200 {
		t.Fatalf("login %s: %d", email, code)
	}
	return member{Email: email, Password: password, Token: out.AccessToken, SessionID: out.SessionID}
}

func (p *platform) newTeam(t *testing.T, company string) *team {
	t.Helper()
	domain := strings.ToLower(ids.Token(6)) + ".example"
	tm := &team{Company: company, emailDomain: domain}
	pw := "Long-enough-pass-" + ids.Token(6)
	var signup struct {
		Tenant      struct{ ID string } `json:"tenant"`
		User        struct{ ID string } `json:"user"`
		AccessToken string              `json:"access_token"`
		SessionID   string              `json:"session_id"`
	}
	ownerEmail := "owner@" + domain
	if code := p.call(t, "POST", "/api/v1/signup", "", map[string]string{"company": company, "email": ownerEmail, "password": pw, "name": "Owner"}, &signup); code != 201 {
		t.Fatalf("signup: %d", code)
	}
	tm.TenantID = signup.Tenant.ID
	tm.Owner = member{Email: ownerEmail, Password: pw, Token: signup.AccessToken, UserID: signup.User.ID, SessionID: signup.SessionID}
	tm.Admin = p.invite(t, tm, "admin")
	tm.Agent = p.invite(t, tm, "agent")
	var pending struct {
		Invite struct{ ID string } `json:"invite"`
	}
	if code := p.call(t, "POST", "/api/v1/invites", tm.Owner.Token, map[string]string{"email": "pending@" + domain, "role": "agent"}, &pending); code != 201 {
		t.Fatalf("pending invite: %d", code)
	}
	tm.PendingInviteID = pending.Invite.ID
	return tm
}

func (p *platform) invite(t *testing.T, tm *team, role string) member {
	t.Helper()
	email := role + "@" + tm.emailDomain
	var inv struct {
		Link string `json:"link"`
	}
	if code := p.call(t, "POST", "/api/v1/invites", tm.Owner.Token, map[string]string{"email": email, "role": role}, &inv); code != 201 {
		t.Fatalf("invite %s: %d", role, code)
	}
	token := inv.Link[strings.LastIndex(inv.Link, "/")+1:]
	pw := "Another-long-pass-" + ids.Token(6)
	var acc struct {
		User        struct{ ID string } `json:"user"`
		AccessToken string              `json:"access_token"`
		SessionID   string              `json:"session_id"`
	}
	if code := p.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": token, "name": role, "password": pw}, &acc); code != 201 && code != 200 {
		t.Fatalf("accept %s: %d", role, code)
	}
	return member{Email: email, Password: pw, Token: acc.AccessToken, UserID: acc.User.ID, SessionID: acc.SessionID}
}

// operator creates a platform operator and logs in.
func (p *platform) operator(t *testing.T) member {
	t.Helper()
	email := "op-" + strings.ToLower(ids.Token(5)) + "@ops.example"
	pw := "Operator-pass-" + ids.Token(6)
	if err := p.App.Auth.CreateOperator(context.Background(), email, "Op", pw); err != nil {
		t.Fatal(err)
	}
	return p.login(t, email, pw)
}

type syncWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (w *syncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func must(t *testing.T, cond bool, format string, args ...any) {
	t.Helper()
	if !cond {
		t.Fatalf(format, args...)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newBot creates a sandbox bot with a random id: the package's tests share
// one database, and a bot id belongs to one tenant for good.
func (p *platform) newBot(t *testing.T, username string) tgsandbox.Bot {
	t.Helper()
	id := 6_000_000_000 + time.Now().UnixNano()%999_999_999
	token := fmt.Sprintf("%d:%s", id, strings.Repeat("A", 35-len(ids.Token(9)))+ids.Token(9))
	bot, err := p.Sandbox.CreateBotWithToken(token, username, username)
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

// waitTicket waits for the tenant's first support ticket and returns its id.
func (p *platform) waitTicket(t *testing.T, token string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var list struct {
			Tickets []struct {
				ID string `json:"id"`
			} `json:"tickets"`
		}
		if p.call(t, "GET", "/api/v1/support/tickets", token, nil, &list) == 200 && len(list.Tickets) > 0 {
			return list.Tickets[0].ID
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no support ticket appeared")
	return ""
}
