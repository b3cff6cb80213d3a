package telegram_test

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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeTexts answers "<key>" or the configured text, with {vars} filled.
type fakeTexts struct{}

var textValues = map[string]string{
	telegram.TextGreeting:        "Hello! How can we help?",
	telegram.TextDialogTimeout:   "You took too long; let's start over.",
	telegram.TextDialogCancelled: "Cancelled.",
}

func (fakeTexts) Text(_ context.Context, _ uuid.UUID, key, lang string, vars map[string]string) string {
	v, ok := textValues[key]
	if !ok {
		v = key
	}
	for k, val := range vars {
		v = strings.ReplaceAll(v, "{"+k+"}", val)
	}
	return v
}

// recSender records what would be sent.
type recSender struct {
	mu   sync.Mutex
	msgs []outbox.Message
}

func (r *recSender) Enqueue(_ context.Context, m outbox.Message) (uuid.UUID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return uuid.New(), nil
}

func (r *recSender) texts(chatID int64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if m.ChatID != chatID {
			continue
		}
		var p struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(m.Params, &p)
		out = append(out, m.Method+":"+p.Text)
	}
	return out
}

// sandboxSender makes the call directly against the sandbox (standing in
// for the outbox), in the order handlers produce them.
type sandboxSender struct {
	url    string
	tokens interface {
		BotToken(ctx context.Context, botID int64) (string, error)
	}
}

func (s *sandboxSender) Enqueue(ctx context.Context, m outbox.Message) (uuid.UUID, error) {
	tok, err := s.tokens.BotToken(ctx, m.BotID)
	if err != nil {
		return uuid.Nil, err
	}
	params := map[string]any{}
	if len(m.Params) > 0 {
		if err := json.Unmarshal(m.Params, &params); err != nil {
			return uuid.Nil, err
		}
	}
	if m.Method != "answerCallbackQuery" {
		params["chat_id"] = m.ChatID
	}
	if m.ThreadID != 0 {
		params["message_thread_id"] = m.ThreadID
	}
	body, _ := json.Marshal(params)
	res, err := http.Post(s.url+"/bot"+tok+"/"+m.Method, "application/json", bytes.NewReader(body))
	if err != nil {
		return uuid.Nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		return uuid.Nil, fmt.Errorf("sandbox %s: %d %s", m.Method, res.StatusCode, b)
	}
	return uuid.New(), nil
}

func newKeyring(t *testing.T) *crypto.Keyring {
	t.Helper()
	k, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{9}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTenant(t *testing.T) uuid.UUID {
	t.Helper()
	id := ids.New()
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name) VALUES ($1, 'T')", id); err != nil {
		t.Fatal(err)
	}
	return id
}

var nextBotID atomic.Int64

// stack is a running platform slice: the sandbox, the registry, the
// webhook route on a real listener, a worker server and the processor.
type stack struct {
	t        *testing.T
	sandbox  *tgsandbox.Server
	sbURL    string
	bots     *bots.Service
	router   *telegram.Router
	proc     *telegram.Processor
	baseURL  string
	qc       *queue.Client
	srv      *queue.Server
	tenant   uuid.UUID
	bot      tgsandbox.Bot
	publicID string
	secret   string
}

type stackOpts struct {
	sender      telegram.Sender // nil: straight to the sandbox
	concurrency int
	rdb         *redis.Client
	asynqOpt    asynq.RedisConnOpt
	procOpts    telegram.ProcessorOptions
	noWorker    bool
	logger      *slog.Logger // every component's logger (default: discard)
}

func newStack(t *testing.T, o stackOpts) *stack {
	t.Helper()
	if o.rdb == nil {
		o.rdb = env.Redis.Client
		o.asynqOpt = env.Redis.Asynq
	}
	if o.logger == nil {
		o.logger = discard()
	}
	if o.procOpts.Logger == nil {
		o.procOpts.Logger = o.logger
	}
	if o.concurrency == 0 {
		o.concurrency = 4
	}
	st := &stack{t: t, tenant: newTenant(t)}
	st.sandbox = tgsandbox.New(tgsandbox.Options{Logger: discard(), Limits: ptr(tgsandbox.NoLimits()),
		WebhookRetryMin: 20 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond})
	sbts := httptest.NewServer(st.sandbox)
	st.sbURL = sbts.URL

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.baseURL = "http://" + ln.Addr().String()
	st.bots = bots.NewService(env.DB, o.rdb, newKeyring(t), bots.NewTelegoAPI(sbts.URL, nil),
		bots.Options{PublicURL: st.baseURL, MaxConnections: 40, Logger: o.logger})
	st.qc = queue.NewClient(o.asynqOpt)
	st.router = telegram.NewRouter(st.bots, o.rdb, telegram.RouterOptions{MaxBody: 64 << 10, Logger: o.logger})
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: o.logger})
	st.router.Mount(app)
	go func() { _ = app.Listener(ln) }()

	sender := o.sender
	if sender == nil {
		sender = &sandboxSender{url: sbts.URL, tokens: st.bots}
	}
	if o.procOpts.LockTTL == 0 {
		o.procOpts.LockTTL = 3 * time.Second
	}
	st.proc = telegram.NewProcessor(env.DB, o.rdb, st.qc, sender, fakeTexts{}, o.procOpts)
	st.srv = queue.NewServer(o.asynqOpt, queue.ServerOptions{Concurrency: o.concurrency,
		TaskCheckInterval: 10 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Logger: o.logger})
	st.proc.Register(st.srv)

	id := 7000000 + nextBotID.Add(1)
	st.bot, err = st.sandbox.CreateBotWithToken(fmt.Sprintf("%d:%s", id, ids.Token(26)[:35]), fmt.Sprintf("b%d_bot", id), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.bots.Register(context.Background(), st.tenant, uuid.Nil, st.bot.Token)
	if err != nil {
		t.Fatalf("register bot: %v", err)
	}
	st.publicID = strings.TrimPrefix(b.WebhookURL, st.baseURL+"/tg/")
	tgt, err := st.bots.WebhookTarget(context.Background(), st.publicID)
	if err != nil {
		t.Fatal(err)
	}
	st.secret = tgt.Secret
	if !o.noWorker {
		st.startWorker()
	}
	t.Cleanup(func() {
		sbts.Close()
		_ = st.sandbox.Close()
		st.srv.Shutdown()
		_ = app.Shutdown()
		_ = st.qc.Close()
	})
	return st
}

func (st *stack) startWorker() {
	if err := st.srv.Start(); err != nil {
		st.t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// post sends a raw webhook request.
func (st *stack) post(publicID, secret string, body []byte) int {
	st.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, st.baseURL+"/tg/"+publicID, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(telegram.SecretHeader, secret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatalf("post: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

var nextUpdateID atomic.Int64

// textUpdate builds a private text message update from user chatID.
func textUpdate(chatID int64, text string) (int64, []byte) {
	id := 1000 + nextUpdateID.Add(1)
	raw, _ := json.Marshal(map[string]any{
		"update_id": id,
		"message": map[string]any{
			"message_id": id, "date": 1700000000, "text": text,
			"from": map[string]any{"id": chatID, "is_bot": false, "first_name": "U", "language_code": "en-GB"},
			"chat": map[string]any{"id": chatID, "type": "private", "first_name": "U"},
		},
	})
	return id, raw
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sortedKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
