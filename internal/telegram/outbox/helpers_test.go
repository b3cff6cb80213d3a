package outbox

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// fastClock runs k times faster than real time; the sandbox and the outbox
// share one so a minute-long group window costs seconds.
type fastClock struct {
	base, start time.Time
	k           float64
}

func newFastClock(k float64) *fastClock {
	return &fastClock{base: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), start: time.Now(), k: k}
}

func (c *fastClock) Now() time.Time {
	return c.base.Add(time.Duration(float64(time.Since(c.start)) * c.k))
}

// call is one Bot API request the sandbox answered.
type call struct {
	method string
	status int
	at     time.Time
	body   string
}

// recorder wraps the sandbox to see every call with its answer and time.
type recorder struct {
	h     http.Handler
	mu    sync.Mutex
	calls []call
	// inflight and maxInflight count requests being answered at once.
	inflight, maxInflight atomic.Int64
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(req.Body)
	req.Body = httpNopCloser{bytes.NewReader(buf.Bytes())}
	sw := &statusWriter{ResponseWriter: w, status: 200}
	n := r.inflight.Add(1)
	for m := r.maxInflight.Load(); n > m && !r.maxInflight.CompareAndSwap(m, n); m = r.maxInflight.Load() {
	}
	r.h.ServeHTTP(sw, req)
	r.inflight.Add(-1)
	parts := strings.Split(req.URL.Path, "/")
	r.mu.Lock()
	r.calls = append(r.calls, call{method: parts[len(parts)-1], status: sw.status, at: time.Now(), body: buf.String()})
	r.mu.Unlock()
}

type httpNopCloser struct{ *bytes.Reader }

func (httpNopCloser) Close() error { return nil }

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// syncBuffer collects log output from many goroutines.
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

type tokenMap struct {
	mu sync.Mutex
	m  map[int64]string
}

func (t *tokenMap) BotToken(_ context.Context, botID int64) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tok, ok := t.m[botID]; ok {
		return tok, nil
	}
	return "", fmt.Errorf("no bot %d", botID)
}

type fixture struct {
	t      testing.TB
	sb     *tgsandbox.Server
	rec    *recorder
	ts     *httptest.Server
	ob     *Outbox
	client *queue.Client
	srv    *queue.Server
	logs   *syncBuffer
	stop   time.Duration
	tenant uuid.UUID
	bot    tgsandbox.Bot
	user   tgsandbox.User
	opts   Options
}

type fixtureOpts struct {
	sandboxLimits *tgsandbox.Limits // nil: no limits
	clock         interface{ Now() time.Time }
	clockRate     float64
	limits        Limits
	apiURL        string // overrides the sandbox
	noServer      bool
	shutdown      time.Duration // worker shutdown timeout (default 2 s)
	tune          func(*Options)
}

var botSeq atomic.Int64

func randomTail() string {
	const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	b := make([]byte, 35)
	for i := range b {
		b[i] = abc[rand.IntN(len(abc))]
	}
	return string(b)
}

// newFixture gives a clean Redis, a sandbox with a bot and a user who
// pressed /start, the tenant/bot/contact/bot chat rows, and a running worker.
func newFixture(t testing.TB, fo fixtureOpts) *fixture {
	t.Helper()
	ctx := context.Background()
	if err := env.Redis.Client.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	var sbClock tgsandbox.Clock
	var obClock clock.Clock = clock.Real{}
	if fo.clock != nil {
		sbClock, obClock = fo.clock, fo.clock
	}
	lim := tgsandbox.NoLimits()
	if fo.sandboxLimits != nil {
		lim = *fo.sandboxLimits
	}
	sb := tgsandbox.New(tgsandbox.Options{Clock: sbClock, Limits: &lim, Logger: slog.New(slog.DiscardHandler)})
	rec := &recorder{h: sb}
	ts := httptest.NewServer(rec)
	f := &fixture{t: t, sb: sb, rec: rec, ts: ts, logs: &syncBuffer{}, tenant: uuid.New(), stop: fo.shutdown}
	if f.stop == 0 {
		f.stop = 2 * time.Second
	}
	id := 7_000_000 + botSeq.Add(1)
	bot, err := sb.CreateBotWithToken(fmt.Sprintf("%d:%s", id, randomTail()), "shop_bot", "Shop")
	if err != nil {
		t.Fatal(err)
	}
	f.bot = bot
	f.exec(`INSERT INTO tenants (id, name) VALUES ($1, 'Shop')`, f.tenant)
	f.exec(`INSERT INTO bots (id, tenant_id, public_id, token_sealed, webhook_secret) VALUES ($1, $2, $3, '\x00', '\x00')`,
		bot.ID, f.tenant, uuid.NewString())

	// A plain logger: the outbox itself must keep tokens out, not rely on
	// the platform's redacting handler.
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	api := ts.URL
	if fo.apiURL != "" {
		api = fo.apiURL
	}
	f.opts = Options{APIURL: api, Limits: fo.limits, Clock: obClock, ClockRate: fo.clockRate, Logger: logger,
		InlineWait: 300 * time.Millisecond, LeaseTTL: 3 * time.Second, CallTimeout: 5 * time.Second}
	if fo.tune != nil {
		fo.tune(&f.opts)
	}
	f.client = queue.NewClient(env.Redis.Asynq)
	f.ob = New(env.DB, env.Redis.Client, f.client, &tokenMap{m: map[int64]string{bot.ID: bot.Token}}, f.opts)
	f.user = f.startedUser("Alice")
	if !fo.noServer {
		f.startServer()
	}
	t.Cleanup(func() {
		if f.srv != nil {
			f.srv.Shutdown()
		}
		_ = f.client.Close()
		f.ob.Close()
		ts.Close()
		_ = sb.Close()
		if strings.Contains(f.logs.String(), strings.SplitN(bot.Token, ":", 2)[1]) {
			t.Errorf("a bot token appeared in the logs:\n%s", f.logs.String())
		}
		_ = env.Redis.Client.FlushDB(context.Background()).Err()
	})
	return f
}

func (f *fixture) startServer() {
	f.srv = queue.NewServer(env.Redis.Asynq, queue.ServerOptions{Concurrency: 8, TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout: f.stop, Logger: slog.New(slog.NewJSONHandler(f.logs, nil))})
	f.ob.Register(f.srv)
	if err := f.srv.Start(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := env.Owner.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// startedUser makes a sandbox user who pressed /start, with a contact and
// a bot chat row.
func (f *fixture) startedUser(name string) tgsandbox.User {
	f.t.Helper()
	u := f.sb.CreateUser(name, strings.ToLower(name))
	if _, err := f.sb.SendCommand(u.ID, f.bot.ID, "start", ""); err != nil {
		f.t.Fatal(err)
	}
	if f.tenant != uuid.Nil && f.ob != nil {
		f.addBotChat(u.ID)
	}
	return u
}

func (f *fixture) addBotChat(userID int64) uuid.UUID {
	contact := uuid.New()
	f.exec(`INSERT INTO contacts (id, tenant_id, tg_user_id, first_name) VALUES ($1, $2, $3, 'x')`, contact, f.tenant, userID)
	f.exec(`INSERT INTO bot_chats (id, tenant_id, bot_id, contact_id, chat_id) VALUES ($1, $2, $3, $4, $5)`,
		uuid.New(), f.tenant, f.bot.ID, contact, userID)
	return contact
}

func (f *fixture) text(chatID int64, text string, prio Priority) Message {
	return Message{TenantID: f.tenant, BotID: f.bot.ID, ChatID: chatID, Method: "sendMessage",
		Params: []byte(fmt.Sprintf(`{"text":%q}`, text)), Priority: prio, Kind: "test"}
}

func (f *fixture) enqueue(m Message) uuid.UUID {
	f.t.Helper()
	id, err := f.ob.Enqueue(context.Background(), m)
	if err != nil {
		f.t.Fatalf("enqueue: %v", err)
	}
	return id
}

// botTexts are the texts the bot sent into a chat, in transcript order.
func (f *fixture) botTexts(chatID int64) []string {
	var entries []tgsandbox.Entry
	if chatID > 0 {
		entries = f.sb.PrivateTranscript(f.bot.ID, chatID)
	} else {
		entries = f.sb.Transcript(chatID)
	}
	var out []string
	for _, e := range entries {
		if e.SenderKind == "bot" && e.Text != "" {
			out = append(out, e.Text)
		}
	}
	return out
}

type row struct {
	Status    string
	Attempts  int
	Throttled int
	MaybeDup  bool
	Code      *int
	Desc      *string
	IDs       []int64
	Seq       int64
}

func (f *fixture) row(id uuid.UUID) row {
	f.t.Helper()
	var r row
	err := env.Owner.QueryRow(context.Background(), `SELECT status, attempts, throttled, maybe_duplicate, error_code, error_description, message_ids, seq
		FROM outbox_messages WHERE id = $1`, id).Scan(&r.Status, &r.Attempts, &r.Throttled, &r.MaybeDup, &r.Code, &r.Desc, &r.IDs, &r.Seq)
	if err != nil {
		f.t.Fatalf("row %s: %v", id, err)
	}
	return r
}

func (f *fixture) statusCounts() map[string]int {
	f.t.Helper()
	rows, err := env.Owner.Query(context.Background(), `SELECT status, count(*) FROM outbox_messages WHERE tenant_id = $1 GROUP BY 1`, f.tenant)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			f.t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func texts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %02d", prefix, i)
	}
	return out
}
