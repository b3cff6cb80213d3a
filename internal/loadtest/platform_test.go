package loadtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"

	"github.com/tgdesk/helpdesk/internal/app"
	"github.com/tgdesk/helpdesk/internal/platform/config"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/logging"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// stores are a private PostgreSQL database and Redis logical database.
type stores struct {
	DB    *testenv.Database
	Redis *testenv.Redis
}

// newStores claims fresh stores, or skips the benchmark when PostgreSQL or
// Redis does not answer (`make bench` starts them).
func newStores(b *testing.B) *stores {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, dropDB, err := testenv.NewDatabase(ctx)
	if err != nil {
		b.Skipf("PostgreSQL unavailable: %v", err)
	}
	b.Cleanup(dropDB)
	r, dropRedis, err := testenv.NewRedis(ctx)
	if err != nil {
		b.Skipf("Redis unavailable: %v", err)
	}
	b.Cleanup(dropRedis)
	return &stores{DB: d, Redis: r}
}

// platform is the real app built the way cmd/helpdesk builds it (config
// defaults, app.Open, app.New), listening on a loopback port, with a
// Telegram sandbox beside it.
type platform struct {
	App     *app.App
	HTTP    *fiber.App
	URL     string
	Sandbox *tgsandbox.Server
	// replies receives one value each time a sendMessage call to the
	// sandbox has been answered: the reply is then in the transcript.
	replies chan struct{}
	marks   marks
	// onCall, when set, sees every answered Bot API call (method and
	// request body) as the sandbox answered it.
	onCall atomic.Pointer[func(method string, body []byte)]
}

// marks are the latest instants (Unix ns) seen on the sandbox's side.
type marks struct {
	hookStart, hookEnd, sendStart atomic.Int64
}

// timedTransport marks when the sandbox's webhook delivery starts and when
// the platform's answer arrives.
type timedTransport struct {
	base  http.RoundTripper
	marks *marks
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.marks.hookStart.Store(time.Now().UnixNano())
	resp, err := t.base.RoundTrip(r)
	t.marks.hookEnd.Store(time.Now().UnixNano())
	return resp, err
}

type platformOptions struct {
	// Worker starts the asynq server and the scheduler too; without it
	// nothing drains (the ingest benchmark measures intake alone).
	Worker bool
	// OutboxScale lifts the outbox's Telegram budgets (0: the real ones).
	OutboxScale float64
}

func startPlatform(b *testing.B, st *stores, o platformOptions) *platform {
	b.Helper()
	noLimits := tgsandbox.NoLimits()
	p := &platform{replies: make(chan struct{}, 16)}
	// The webhook deliveries and the bot's sendMessage calls are timed, so
	// the end-to-end figure can be split into its legs.
	hooks := &http.Client{Timeout: 10 * time.Second, Transport: timedTransport{base: http.DefaultTransport, marks: &p.marks}}
	sb := tgsandbox.New(tgsandbox.Options{Limits: &noLimits, Logger: logging.New(io.Discard, "text", "error"), HTTPClient: hooks})
	p.Sandbox = sb
	sbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		send := strings.HasSuffix(r.URL.Path, "/sendMessage")
		if send {
			p.marks.sendStart.Store(time.Now().UnixNano())
		}
		hook := p.onCall.Load()
		var body []byte
		if hook != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		sb.ServeHTTP(w, r)
		if hook != nil {
			(*hook)(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], body)
		}
		if send {
			select {
			case p.replies <- struct{}{}:
			default:
			}
		}
	}))
	b.Cleanup(func() { sbSrv.Close(); _ = sb.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p.URL = "http://" + ln.Addr().String()
	env := map[string]string{
		"HELPDESK_DATABASE_URL":     st.DB.AppURL,
		"HELPDESK_REDIS_URL":        st.Redis.URL,
		"HELPDESK_PUBLIC_URL":       p.URL,
		"HELPDESK_TELEGRAM_API_URL": sbSrv.URL,
		"HELPDESK_SECRET_KEY":       base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"HELPDESK_JWT_SECRET":       strings.Repeat("j", 40),
	}
	// Everything else is the production default, or HELPDESK_* from the
	// environment (HELPDESK_TASK_CHECK_INTERVAL=10ms make bench).
	cfg, err := config.Load(func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		b.Fatal(err)
	}
	// Production logging (JSON at info: one access line per request),
	// written nowhere.
	// LOADTEST_LOG_FILE keeps a debug log instead, to investigate a figure.
	log := logging.New(io.Discard, cfg.LogFormat, cfg.LogLevel)
	if path := os.Getenv("LOADTEST_LOG_FILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() })
		log = logging.New(f, "json", "debug")
	}
	deps, err := app.Open(context.Background(), cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	deps.PasswordParams = crypto.PasswordParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	deps.OutboxLimits = outbox.Limits{Scale: o.OutboxScale}
	a, err := app.New(deps)
	if err != nil {
		b.Fatal(err)
	}
	p.App = a
	p.HTTP = a.HTTP()
	go func() { _ = p.HTTP.Listener(ln) }()
	var stopWorker func()
	if o.Worker {
		srv, sched := a.Worker()
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); sched.Run(ctx) }()
		stopWorker = func() { cancel(); <-done; srv.Shutdown() }
	}
	b.Cleanup(func() {
		if stopWorker != nil {
			stopWorker()
		}
		_ = p.HTTP.Shutdown()
		a.Close()
		deps.Close()
	})
	return p
}

// call sends a JSON API request through the app's route table.
func (p *platform) call(b *testing.B, method, path, token string, body, out any) int {
	b.Helper()
	raw, _ := json.Marshal(body)
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.HTTP.Test(req, 10_000)
	if err != nil {
		b.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if out != nil && len(got) > 0 {
		if err := json.Unmarshal(got, out); err != nil {
			b.Fatalf("%s %s: %s: %v", method, path, got, err)
		}
	}
	return resp.StatusCode
}

// bot is a sandbox bot registered with a tenant through the API.
type bot struct {
	tgsandbox.Bot
	TenantID string
	// OwnerToken is the tenant owner's access token.
	OwnerToken string
	// WebhookURL and Secret are what the platform gave Telegram.
	WebhookURL, Secret string
}

// signUpWithBot signs a tenant up and connects a new sandbox bot with
// POST /api/v1/bots (getMe and setWebhook against the sandbox).
func (p *platform) signUpWithBot(b *testing.B, st *stores, company string) bot {
	b.Helper()
	var signup struct {
		Tenant      struct{ ID string } `json:"tenant"`
		AccessToken string              `json:"access_token"`
	}
	email := "owner@" + strings.ToLower(ids.Token(6)) + ".example"
	if code := p.call(b, "POST", "/api/v1/signup", "", map[string]string{
		"company": company, "email": email, "password": "Long-enough-pass-" + ids.Token(6), "name": "Owner",
	}, &signup); code != http.StatusCreated {
		b.Fatalf("signup: %d", code)
	}
	id := 7_000_000_000 + time.Now().UnixNano()%999_999_999
	token := fmt.Sprintf("%d:%s", id, strings.Repeat("B", 35-len(ids.Token(9)))+ids.Token(9))
	sbBot, err := p.Sandbox.CreateBotWithToken(token, "bench_bot", "Bench")
	if err != nil {
		b.Fatal(err)
	}
	var created map[string]any
	if code := p.call(b, "POST", "/api/v1/bots", signup.AccessToken, map[string]string{"token": token}, &created); code != http.StatusCreated {
		b.Fatalf("register bot: %d %v", code, created)
	}
	ctx := context.Background()
	var publicID string
	if err := st.DB.Owner.QueryRow(ctx, "SELECT public_id FROM bots WHERE id = $1", sbBot.ID).Scan(&publicID); err != nil {
		b.Fatal(err)
	}
	target, err := p.App.Bots.WebhookTarget(ctx, publicID)
	if err != nil {
		b.Fatal(err)
	}
	return bot{Bot: sbBot, TenantID: signup.Tenant.ID, OwnerToken: signup.AccessToken, WebhookURL: p.URL + "/tg/" + publicID, Secret: target.Secret}
}

// bareTaskType is the bare ceiling's task: same queue and retry policy as
// the router's drain task, a payload of the same size, nothing parsed.
const bareTaskType = "loadtest:bare"

// startBare serves POST /tg/:publicID with a plain fiber app whose handler
// only enqueues one asynq task: the ceiling for "accept and queue".
func startBare(b *testing.B, st *stores) string {
	b.Helper()
	q := queue.NewClient(st.Redis.Asynq)
	payload := []byte(`{"t":"0190a0b0-c0d0-7e0f-8a0b-0c0d0e0f1011","b":7000000001,"c":100042}`)
	bare := fiber.New(fiber.Config{DisableStartupMessage: true})
	bare.Post("/tg/:publicID", func(c *fiber.Ctx) error {
		task := asynq.NewTask(bareTaskType, payload, asynq.Queue(queue.Updates), asynq.MaxRetry(50))
		if err := q.Enqueue(c.UserContext(), task); err != nil {
			return c.SendStatus(http.StatusServiceUnavailable)
		}
		return c.SendStatus(http.StatusOK)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = bare.Listener(ln) }()
	b.Cleanup(func() { _ = bare.Shutdown(); _ = q.Close() })
	return "http://" + ln.Addr().String() + "/tg/bare"
}

// bench prints one human line and one machine-readable line per figure to
// stdout, and reports it to the benchmark framework.
func bench(b *testing.B, name string, value float64, unit, target string) {
	b.Helper()
	prec := 2
	if value >= 100 {
		prec = 0
	}
	line := fmt.Sprintf("BENCH %s=%.*f", name, prec, value)
	if target != "" {
		line += " target" + target
	}
	fmt.Fprintln(os.Stdout, line)
	b.ReportMetric(value, unit)
}

func say(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }
