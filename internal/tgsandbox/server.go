// Package tgsandbox is a stateful emulator of the Telegram Bot API for tests
// and offline demos. Bots talk to it over HTTP exactly as to api.telegram.org;
// tests and people drive the human side through a Go API on *Server and a
// JSON control API under /sandbox/.
package tgsandbox

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. The zero value gives Telegram's behaviour.
type Options struct {
	// Clock drives message dates, limiters and expiry; defaults to the system clock.
	Clock Clock
	// Logger receives operational logs; defaults to slog.Default().
	Logger *slog.Logger
	// Limits are the flood limits; nil means DefaultLimits().
	Limits *Limits
	// WebhookRetryMin and WebhookRetryMax bound the delivery back-off (default 1 s .. 60 s).
	WebhookRetryMin, WebhookRetryMax time.Duration
	// WebhookTimeout bounds one delivery request (default 10 s).
	WebhookTimeout time.Duration
	// UpdateTTL is how long undelivered updates are kept (default 24 h).
	UpdateTTL time.Duration
	// CallbackTTL is how long a callback query can be answered (default 15 s... of Clock time).
	CallbackTTL time.Duration
	// AutoCreateBots makes any well-formed unknown token a new bot, for demos
	// where tenants paste tokens the sandbox has never seen.
	AutoCreateBots bool
	// HTTPClient delivers webhooks; defaults to a client with WebhookTimeout.
	HTTPClient *http.Client
}

// Server is the emulator. It is an http.Handler; Close stops its goroutines.
type Server struct {
	opts   Options
	clock  Clock
	log    *slog.Logger
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	st      *state
	limiter *limiter
	faults  *faults
	methods map[string]methodSpec
	control map[string]controlFunc
}

var tokenRe = regexp.MustCompile(`^(\d+):[\w-]{35}$`)

// New returns a running Server.
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WebhookRetryMin <= 0 {
		opts.WebhookRetryMin = time.Second
	}
	if opts.WebhookRetryMax < opts.WebhookRetryMin {
		opts.WebhookRetryMax = max(time.Minute, opts.WebhookRetryMin)
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = 10 * time.Second
	}
	if opts.UpdateTTL <= 0 {
		opts.UpdateTTL = 24 * time.Hour
	}
	if opts.CallbackTTL <= 0 {
		opts.CallbackTTL = 15 * time.Second
	}
	lim := DefaultLimits()
	if opts.Limits != nil {
		lim = *opts.Limits
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: opts.WebhookTimeout}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, clock: opts.Clock, log: opts.Logger, client: client,
		ctx: ctx, cancel: cancel,
		st: newState(), limiter: newLimiter(lim), faults: newFaults(),
	}
	s.methods = s.methodTable()
	s.control = s.controlTable()
	return s
}

// Close stops webhook deliveries and wakes long polls. It waits for every
// goroutine the server started.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	for _, b := range s.st.bots {
		s.stopWebhookLocked(b)
		s.wakePollersLocked(b)
	}
	s.mu.Unlock()
	s.wg.Wait()
	// A connection the client dialed but never sent a request on counts as
	// open, not idle, to a fasthttp server, whose graceful shutdown then
	// waits for its read timeout (30 s in the platform): close them.
	s.client.CloseIdleConnections()
	return nil
}

// Reset forgets every bot, user, chat, file, fault and limiter state.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.st.bots {
		s.stopWebhookLocked(b)
		s.wakePollersLocked(b)
	}
	s.st = newState()
	s.limiter.reset()
	s.faults = newFaults()
}

// ServeHTTP routes the Bot API, file downloads, the control API and the web UI.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/bot"):
		s.serveBotAPI(w, r, strings.TrimPrefix(path, "/bot"))
	case strings.HasPrefix(path, "/file/bot"):
		s.serveFile(w, r, strings.TrimPrefix(path, "/file/bot"))
	case strings.HasPrefix(path, "/sandbox/"):
		s.serveControl(w, r, strings.TrimPrefix(path, "/sandbox/"))
	default:
		s.serveWeb(w, r)
	}
}

// botByTokenLocked finds (or, with AutoCreateBots, creates) the bot of a token.
func (s *Server) botByTokenLocked(token string) *bot {
	if b, ok := s.st.tokens[token]; ok {
		return b
	}
	if !s.opts.AutoCreateBots || !tokenRe.MatchString(token) {
		return nil
	}
	b, err := s.createBotLocked(token, "", "")
	if err != nil {
		return nil
	}
	return b
}

func (s *Server) serveBotAPI(w http.ResponseWriter, r *http.Request, rest string) {
	token, method, ok := strings.Cut(rest, "/")
	// "/bot<token>/test/<method>" is the test environment prefix; treat it alike.
	if m, found := strings.CutPrefix(method, "test/"); found {
		method = m
	}
	if !ok || token == "" {
		writeAPIError(w, errNotFound())
		return
	}
	s.mu.Lock()
	b := s.botByTokenLocked(token)
	s.mu.Unlock()
	if b == nil {
		writeAPIError(w, errUnauthorized())
		return
	}
	spec, ok := s.methods[strings.ToLower(method)]
	if !ok {
		writeAPIError(w, errNotFound())
		return
	}
	p, err := parseParams(r)
	if err != nil {
		writeAPIError(w, badRequest(err.Error()))
		return
	}
	res, err := s.call(r.Context(), b, strings.ToLower(method), spec, p)
	if err != nil {
		writeAPIError(w, asAPIError(err))
		return
	}
	writeResult(w, res)
}

// call applies faults and runs a method; methods run under s.mu unless they
// manage the lock themselves (long polling).
func (s *Server) call(ctx context.Context, b *bot, method string, spec methodSpec, p *params) (any, error) {
	if d := s.faultLatency(b.ID, method); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	if s.st.bots[b.ID] != b { // reset while the request was in flight
		s.mu.Unlock()
		return nil, errUnauthorized()
	}
	b.calls[method]++
	if e := s.faults.take(b.ID, method); e != nil {
		s.mu.Unlock()
		return nil, e
	}
	if spec.unlocked {
		s.mu.Unlock()
		return spec.fn(ctx, b, p)
	}
	defer s.mu.Unlock()
	return spec.fn(ctx, b, p)
}

func asAPIError(err error) *apiError {
	if e, ok := err.(*apiError); ok {
		return e
	}
	return &apiError{Code: 500, Description: "Internal Server Error: " + err.Error()}
}

type methodFunc func(ctx context.Context, b *bot, p *params) (any, error)

type methodSpec struct {
	fn       methodFunc
	unlocked bool
}

// methodTable maps lower-cased method names (Telegram ignores case) to handlers.
func (s *Server) methodTable() map[string]methodSpec {
	t := map[string]methodSpec{}
	add := func(name string, fn methodFunc) { t[strings.ToLower(name)] = methodSpec{fn: fn} }
	t["getupdates"] = methodSpec{fn: s.getUpdates, unlocked: true}
	add("getMe", s.getMe)
	add("logOut", s.trueResult)
	add("close", s.trueResult)
	add("setWebhook", s.setWebhook)
	add("deleteWebhook", s.deleteWebhook)
	add("getWebhookInfo", s.getWebhookInfo)
	add("setMyCommands", s.setMyCommands)
	add("getMyCommands", s.getMyCommands)
	add("deleteMyCommands", s.deleteMyCommands)
	s.addMessageMethods(add)
	s.addMediaMethods(add)
	s.addChatMethods(add)
	s.addForumMethods(add)
	return t
}

func (s *Server) trueResult(context.Context, *bot, *params) (any, error) { return true, nil }
