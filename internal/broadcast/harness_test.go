package broadcast_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/broadcast"
	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var nextBotID atomic.Int64

// rig is the sandbox (enforcing Telegram's limits, scaled), the webhook
// router, the processor, the outbox, the survey engine and the campaign
// service wired as the app wires them, with a worker that tests can stop
// and start again (a killed worker).
type rig struct {
	t       *testing.T
	sb      *tgsandbox.Server
	svc     *broadcast.Service
	surveys *survey.Service
	aud     *audience.Service
	ob      *outbox.Outbox
	clock   *clock.Fake
	tenant  uuid.UUID
	bot     tgsandbox.Bot
	// scale multiplies Telegram's limits in both the sandbox and the outbox.
	scale float64

	known int // bot chats made by people()

	callMu sync.Mutex
	calls  []string // texts of successful sendMessage calls, in order
	paid   int      // of which carried allow_paid_broadcast

	mu       sync.Mutex
	srv      *queue.Server
	register func(*queue.Server)
}

type rigOptions struct {
	scale     float64 // default 10
	minWindow int     // default 5
	// windowSpan (default 1 s) sizes the window: small ones make the
	// checkpoint matter with few recipients.
	windowSpan time.Duration
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	if o.scale == 0 {
		o.scale = 10
	}
	if o.windowSpan == 0 {
		o.windowSpan = time.Second
	}
	if o.minWindow == 0 {
		o.minWindow = 5
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{t: t, tenant: ids.New(), scale: o.scale, clock: clock.NewFake(time.Now())}
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name, timezone) VALUES ($1, 'Broadcast Co', 'Europe/Moscow')", r.tenant); err != nil {
		t.Fatal(err)
	}
	sbLimits := tgsandbox.DefaultLimits()
	sbLimits.Scale = o.scale
	r.sb = tgsandbox.New(tgsandbox.Options{Logger: log, Limits: &sbLimits, WebhookRetryMin: 20 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond})
	// Every successful send is logged in arrival order (the live-traffic test
	// reads it).
	sbts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		r.sb.ServeHTTP(rec, req)
		if rec.code == 200 && strings.HasSuffix(req.URL.Path, "/sendMessage") {
			var m struct {
				Text string `json:"text"`
			}
			_ = json.Unmarshal(body, &m)
			r.callMu.Lock()
			r.calls = append(r.calls, m.Text)
			if bytes.Contains(body, []byte(`"allow_paid_broadcast":true`)) {
				r.paid++
			}
			r.callMu.Unlock()
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{7}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	bs := bots.NewService(env.DB, env.Redis.Client, keyring, bots.NewTelegoAPI(sbts.URL, nil),
		bots.Options{PublicURL: base, MaxConnections: 40, Logger: log})
	tenants := tenant.NewService(env.DB, env.Redis.Client, tenant.WithLogger(log))
	qc := queue.NewClient(env.Redis.Asynq)
	router := telegram.NewRouter(bs, env.Redis.Client, telegram.RouterOptions{Logger: log})
	limits := outbox.Limits{Scale: o.scale}
	r.ob = outbox.New(env.DB, env.Redis.Client, qc, bs, outbox.Options{APIURL: sbts.URL, Limits: limits, Logger: log,
		LeaseTTL: 3 * time.Second, SweepEvery: time.Second})
	proc := telegram.NewProcessor(env.DB, env.Redis.Client, qc, r.ob, tenants, telegram.ProcessorOptions{LockTTL: 3 * time.Second, Logger: log})
	r.surveys = survey.NewService(env.DB, r.ob, tenants, survey.Options{Logger: log})
	r.surveys.Attach(proc)
	r.aud = audience.NewService(env.DB, tenants, tenants, audience.Options{Logger: log})
	r.aud.Attach(proc)
	r.svc = broadcast.NewService(env.DB, env.Redis.Client, qc, r.ob, r.aud, r.surveys, tenants,
		broadcast.Options{Clock: r.clock, Logger: log, Limits: limits, MinWindow: o.minWindow, WindowSpan: o.windowSpan,
			Step: 30 * time.Millisecond, LeaseTTL: 3 * time.Second, PublicURL: base, LinkKey: []byte("test-link-key")})
	r.svc.Attach(proc)
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: log})
	router.Mount(app)
	broadcast.NewHandler(r.svc).PublicRoutes(app)
	go func() { _ = app.Listener(ln) }()
	r.register = func(srv *queue.Server) {
		proc.Register(srv)
		r.ob.Register(srv)
		r.svc.Register(srv)
	}
	r.startWorker()
	id := 8_100_000 + nextBotID.Add(1)*7 + time.Now().UnixNano()%1000*10_000
	r.bot, err = r.sb.CreateBotWithToken(fmt.Sprintf("%d:%s", id, ids.Token(26)[:35]), fmt.Sprintf("c%d_bot", id), "Campaigns")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Register(context.Background(), r.tenant, uuid.Nil, r.bot.Token); err != nil {
		t.Fatalf("register bot: %v", err)
	}
	t.Cleanup(func() {
		r.stopWorker()
		sbts.Close()
		_ = r.sb.Close()
		_ = app.Shutdown()
		r.ob.Close()
		_ = qc.Close()
	})
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }

func (r *rig) sent() []string {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *rig) startWorker() {
	r.mu.Lock()
	defer r.mu.Unlock()
	srv := queue.NewServer(env.Redis.Asynq, queue.ServerOptions{Concurrency: 12, TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r.register(srv)
	if err := srv.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.srv = srv
}

func (r *rig) stopWorker() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv = nil
	}
}

// person is a sandbox user who has started the bot.
type person struct {
	user   tgsandbox.User
	chatID int64
}

// people makes n users who start the bot and waits for their bot chats.
func (r *rig) people(prefix string, n int) []person {
	r.t.Helper()
	out := make([]person, n)
	for i := range out {
		u := r.sb.CreateUser(fmt.Sprintf("%s%d", prefix, i), strings.ToLower(fmt.Sprintf("%s_%d", prefix, i)))
		if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "start", ""); err != nil {
			r.t.Fatal(err)
		}
		out[i] = person{user: u, chatID: u.ID}
	}
	eventually(r.t, "bot chats", func() bool {
		var k int
		_ = env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM bot_chats WHERE bot_id = $1`, r.bot.ID).Scan(&k)
		return k >= n+r.known
	})
	r.known += n
	// Let the greetings go out first, so transcripts are settled.
	eventually(r.t, "greetings sent", func() bool {
		var k int
		_ = env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM outbox_messages WHERE bot_id = $1 AND status IN ('queued', 'sending')`,
			r.bot.ID).Scan(&k)
		return k == 0
	})
	return out
}

// received counts the bot's messages to the user containing marker (text
// or caption).
func (r *rig) received(userID int64, marker string) int {
	n := 0
	for _, e := range r.sb.PrivateTranscript(r.bot.ID, userID) {
		if e.SenderKind == "bot" && (strings.Contains(e.Text, marker) || strings.Contains(e.Caption, marker)) {
			n++
		}
	}
	return n
}

func (r *rig) create(t *testing.T, name string, c broadcast.Content) broadcast.Campaign {
	t.Helper()
	cp, err := r.svc.Create(context.Background(), r.tenant, uuid.Nil, broadcast.Def{BotID: r.bot.ID, Name: name, Content: c})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return cp
}

func (r *rig) stats(t *testing.T, id uuid.UUID) broadcast.Stats {
	t.Helper()
	st, err := r.svc.Stats(context.Background(), r.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (r *rig) waitStatus(t *testing.T, id uuid.UUID, status string) broadcast.Campaign {
	t.Helper()
	var c broadcast.Campaign
	eventually(t, "campaign "+status, func() bool {
		var err error
		c, err = r.svc.Get(context.Background(), r.tenant, id)
		return err == nil && c.Status == status
	})
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
