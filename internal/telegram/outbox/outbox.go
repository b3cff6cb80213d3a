// Package outbox sends every Bot API call of the platform (DESIGN.md
// invariants 2, 3 and 4): per-destination ordered queues with priorities,
// flood budgets per bot, private chat and group shared in Redis, 429 pauses
// of exactly retry_after, blocked users marked unreachable, and an outcome
// row per call written before the call and updated after it.
//
// Shape: Enqueue writes the row (PostgreSQL, the record) and indexes it in
// Redis (per destination, ordered by priority then sequence). One pump per
// bot — an asynq task guarded by a Redis lease — picks the best destination
// whose budgets allow a send now, keeps at most one call per destination in
// flight, and defers itself to exactly when a budget frees up. See
// docs/outbox.md for the rules.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// Priority orders the messages of one bot: a higher priority is sent first.
type Priority int

// Priorities, highest first: a live support reply pre-empts broadcast
// traffic; in a staff group relayed messages go before topic creation
// before icon edits.
const (
	Bulk  Priority = 0 // broadcasts, campaign surveys: at most once
	Icon  Priority = 1 // topic icon/status edits (debounced by the caller)
	Topic Priority = 2 // topic creation, close/reopen
	Live  Priority = 3 // conversation messages: at least once
)

func (p Priority) valid() bool { return p >= Bulk && p <= Live }

// Message is one Bot API call to one destination.
type Message struct {
	TenantID uuid.UUID
	BotID    int64
	ChatID   int64
	// ThreadID is sent as message_thread_id to methods that take it (a
	// forum topic); 0 for none.
	ThreadID int
	// Method is the Bot API method (see methods.go for the supported set).
	Method string
	// Params are the method's parameters without chat_id and
	// message_thread_id (a JSON object; nil means {}).
	Params   json.RawMessage
	Priority Priority
	// Kind names the feature's purpose ("support.relay", "greeting"); result
	// hooks are registered per kind.
	Kind string
	// Ref is the caller's reference, returned in the Result.
	Ref string
	// IdempotencyKey, when set, makes Enqueue return the existing message
	// for a key already used on this bot: the same key is never sent twice.
	IdempotencyKey string
}

// TokenSource gives the outbox a bot's token (the bots package implements it).
type TokenSource interface {
	BotToken(ctx context.Context, botID int64) (string, error)
}

// Options configure an Outbox. Zero values take the defaults.
type Options struct {
	// APIURL is the Bot API server (https://api.telegram.org or the sandbox).
	APIURL string
	Limits Limits
	Clock  clock.Clock
	// ClockRate is how many Clock seconds pass per real second: 1 for the
	// real clock; tests and benchmarks that run the sandbox and the outbox on
	// a fast clock set it so waits handed to timers and the queue are real.
	ClockRate float64
	Logger    *slog.Logger
	// HTTPClient is shared by every bot (default: 30 s timeout, pooled).
	HTTPClient *http.Client
	// MaxInFlight bounds concurrent calls per bot (default 16).
	MaxInFlight int
	// InlineWait: a pump sleeps through budget waits up to this long
	// (Clock time) instead of re-scheduling itself (default 1 s).
	InlineWait time.Duration
	// PumpRun bounds one pump task before it hands over to a fresh task, so
	// graceful shutdowns are prompt (default 5 s real time).
	PumpRun time.Duration
	// LeaseTTL is the pump lock's time-to-live; a killed worker's bot, and
	// the sends it left in flight, are taken over after it plus at most one
	// SweepEvery (default 30 s real time).
	LeaseTTL time.Duration
	// SweepEvery is the sweeper's period (default 15 s real time).
	SweepEvery time.Duration
	// CommitGrace: a message recorded by EnqueueTx whose AfterCommit has not
	// come this long after (Clock time) is indexed by the sweeper once its
	// row is committed (default 10 s).
	CommitGrace time.Duration
	// CallTimeout bounds one Bot API call (default 25 s real time).
	CallTimeout time.Duration
	// MaxAttempts bounds retries of calls that certainly did not reach
	// Telegram or (live only) may have (default 8).
	MaxAttempts int
	// TokenTTL is how long a token is cached before TokenSource is asked
	// again (default 1 min); a 401 drops it at once.
	TokenTTL time.Duration
	// StaleAfter: open rows older than this are put back into Redis by the
	// sweeper in case Redis lost them (default 10 min).
	StaleAfter time.Duration
	// Retention: finished rows older than this are pruned (default 90 days).
	Retention time.Duration
	// HookTimeout bounds one run of a result's hooks (default 30 s real time).
	HookTimeout time.Duration
	// HookGrace: a result whose hooks are still pending this long after its
	// outcome was recorded is enqueued again by the sweeper (default 1 min
	// real time; keep it above HookTimeout).
	HookGrace time.Duration
	// HookMaxAttempts: failed hook runs before a result's hooks are given up
	// (default 20; back-off 1 s doubling up to 5 min).
	HookMaxAttempts int
	// HookConcurrency bounds the hook runs of this process at a time (results
	// of Topic-priority calls, on the live path, have half as many slots more
	// of their own and run from the outbound queue)
	// (default a quarter of the database pool, at least 1). Hooks usually
	// hold a transaction while enqueueing (a second connection): unbounded,
	// they would take the whole pool and starve the senders' outcomes.
	HookConcurrency int
}

func (o *Options) defaults() {
	if o.APIURL == "" {
		o.APIURL = "https://api.telegram.org"
	}
	o.Limits = o.Limits.withDefaults()
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.ClockRate <= 0 {
		o.ClockRate = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 90 * time.Second,
		}}
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.InlineWait, time.Second)
	set(&o.PumpRun, 5*time.Second)
	set(&o.LeaseTTL, 30*time.Second)
	set(&o.SweepEvery, 15*time.Second)
	set(&o.CommitGrace, 10*time.Second)
	set(&o.CallTimeout, 25*time.Second)
	set(&o.TokenTTL, time.Minute)
	set(&o.StaleAfter, 10*time.Minute)
	set(&o.Retention, 90*24*time.Hour)
	set(&o.HookTimeout, 30*time.Second)
	set(&o.HookGrace, time.Minute)
	if o.HookMaxAttempts <= 0 {
		o.HookMaxAttempts = 20
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 16
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
}

// Outbox is safe for concurrent use.
type Outbox struct {
	db  *db.DB
	rdb *redis.Client
	// wakeRdb carries the pumps' blocking BLPOPs on the wake lists, one
	// connection per running pump, in a pool of its own: in the shared
	// pool they held most connections and every pick, outcome and enqueue
	// queued for the rest (docs/benchmarks.md).
	wakeRdb *redis.Client
	q       *queue.Client
	tokens  TokenSource
	opts    Options
	clock   clock.Clock
	log     *slog.Logger
	keys    keys
	bots    *clients
	paid    *paidCache
	// claims and finishes batch the one-statement claims and outcomes of
	// concurrent calls per tenant (coalesce.go).
	claims   *coalescer[uuid.UUID, claimResult]
	finishes *coalescer[finishReq, bool]
	clears   *coalescer[uuid.UUID, struct{}]
	// inline counts result hooks running in this process outside a task
	// (enqueueHook); Close waits for them. After closing is set (under
	// inlineMu) no new one starts: results go to the hook task instead.
	inline   sync.WaitGroup
	inlineMu sync.Mutex
	closing  bool
	// hookTasks counts hook tasks enqueued (tests read it).
	hookTasks atomic.Int64

	mu    sync.RWMutex
	hooks map[string][]ResultHook
	// serviceKinds: kinds whose forum topic changes' service messages are
	// deleted (DeleteServiceMessagesOf).
	serviceKinds map[string]bool
	// hookSlots bounds concurrent hook runs (Options.HookConcurrency);
	// topicHookSlots those of Topic-priority results (half as many more).
	hookSlots, topicHookSlots chan struct{}

	// pumpHook, when set (tests), runs at the start of every pump run; an
	// error fails the run.
	pumpHook func(ctx context.Context) error
	// serviceSettle, when set (tests), replaces serviceSettle.
	serviceSettle *time.Duration
	// hookEnqueueHook, when set (tests), runs before a result is handed to
	// its hooks (inline or as a task); an error stands for the process
	// stopping there: nothing runs, the sweeper finds the pending hook.
	hookEnqueueHook func(r Result) error
}

// ResultHook is told the outcome of each finished call of its kind.
type ResultHook func(ctx context.Context, r Result) error

// New builds an Outbox.
func New(d *db.DB, rdb *redis.Client, q *queue.Client, tokens TokenSource, opts Options) *Outbox {
	opts.defaults()
	o := &Outbox{
		db: d, rdb: rdb, q: q, tokens: tokens, opts: opts, clock: opts.Clock, log: opts.Logger,
		keys: keys{prefix: "ob:"}, hooks: map[string][]ResultHook{},
	}
	if opts.HookConcurrency <= 0 {
		opts.HookConcurrency = 1
		if d != nil && d.Pool != nil {
			opts.HookConcurrency = max(1, int(d.Pool.Config().MaxConns)/4)
		}
		o.opts.HookConcurrency = opts.HookConcurrency
	}
	o.hookSlots = make(chan struct{}, opts.HookConcurrency)
	o.topicHookSlots = make(chan struct{}, max(1, opts.HookConcurrency/2))
	o.bots = newClients(opts, tokens)
	o.paid = &paidCache{ttl: time.Minute, m: map[int64]paidEntry{}}
	o.claims = newCoalescer(coalesceBatch, coalesceActive, o.claimBatch)
	o.finishes = newCoalescer(coalesceBatch, coalesceActive, o.finishBatch)
	o.clears = newCoalescer(coalesceBatch, coalesceActive, o.clearBatch)
	o.wakeRdb = o.rdb
	if rdb != nil {
		wo := *rdb.Options()
		wo.PoolSize = wakePoolSize
		wo.MinIdleConns, wo.MaxIdleConns = 0, 32
		o.wakeRdb = redis.NewClient(&wo)
	}
	return o
}

// coalesceBatch bounds the rows of one batched claim or outcome statement;
// coalesceActive the statements of one kind a tenant has running at once.
const (
	coalesceBatch  = 64
	coalesceActive = 2
)

// wakePoolSize bounds the connections of waiting pumps (one each); a pump
// that finds none waits for its wake-up in the pool's queue, as before.
const wakePoolSize = 512

// Close releases idle HTTP connections and the wake-up connections.
func (o *Outbox) Close() {
	// Result hooks running inline finish first (each is bounded by
	// HookTimeout); one cut short stays pending for the sweeper.
	o.inlineMu.Lock()
	o.closing = true
	o.inlineMu.Unlock()
	done := make(chan struct{})
	go func() { o.inline.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.opts.HookTimeout):
	}
	o.opts.HTTPClient.CloseIdleConnections()
	if o.wakeRdb != nil && o.wakeRdb != o.rdb {
		_ = o.wakeRdb.Close()
	}
}

// OnResult registers fn for results of messages of kind ("" for every kind).
// Register hooks before the first Enqueue, in every process that runs the
// outbox (the sender decides from them whether a result needs its hooks).
// Hooks run after the outcome is recorded, off the send path, within
// Options.HookTimeout: at once in the sending process when a hook slot is
// free, else in an "outbox:hook" task; a hook that returns an error is run
// again with back-off, together with the kind's other hooks. Hooks may run
// more than once for one outcome (retries, a crash, the sweeper): they must
// be idempotent.
func (o *Outbox) OnResult(kind string, fn ResultHook) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hooks[kind] = append(o.hooks[kind], fn)
}

// Errors returned by Enqueue for messages that can never be sent.
var (
	ErrInvalid       = errors.New("outbox: invalid message")
	ErrUnknownMethod = errors.New("outbox: unsupported method")
)

// Enqueue records m and queues it behind earlier messages to the same
// destination. It returns the message id; with an IdempotencyKey already
// used on the bot it returns that message's id and queues nothing new. An
// error from Redis after the row was written leaves a queued row that the
// sweeper re-indexes; retrying with the same IdempotencyKey is safe.
func (o *Outbox) Enqueue(ctx context.Context, m Message) (uuid.UUID, error) {
	row, err := o.prepare(ctx, m)
	if err != nil {
		return uuid.Nil, err
	}
	id, status, seq, err := o.insert(ctx, row)
	if err != nil {
		return uuid.Nil, err
	}
	if status != "queued" && status != "sending" {
		return id, nil // an idempotent repeat of a finished message
	}
	e := entry{ID: id, Cost: row.Cost, Priority: m.Priority, Seq: seq, Own: methods[m.Method].own}
	if err := o.index(ctx, m.TenantID, m.BotID, m.ChatID, m.ThreadID, e); err != nil {
		return id, err
	}
	return id, nil
}

// prepare validates m and gives it an id and a sequence number.
func (o *Outbox) prepare(ctx context.Context, m Message) (rowIn, error) {
	rows, err := o.prepareBatch(ctx, []Message{m})
	if err != nil {
		return rowIn{}, err
	}
	return rows[0], nil
}

// prepareBatch validates messages of one tenant and gives them ids and
// consecutive sequence numbers in their order (one Redis round trip).
func (o *Outbox) prepareBatch(ctx context.Context, ms []Message) ([]rowIn, error) {
	rows := make([]rowIn, len(ms))
	for i, m := range ms {
		spec, err := validate(m)
		if err != nil {
			return nil, err
		}
		if m.TenantID != ms[0].TenantID {
			return nil, fmt.Errorf("%w: one batch, several tenants", ErrInvalid)
		}
		params := m.Params
		if len(params) == 0 {
			params = json.RawMessage("{}")
		}
		rows[i] = rowIn{ID: ids.New(), Msg: m, Params: params, Cost: spec.costOf(params)}
	}
	last, err := o.rdb.IncrBy(ctx, o.keys.seq(), int64(len(ms))).Result()
	if err != nil {
		return nil, fmt.Errorf("outbox: enqueue: sequence: %w", err)
	}
	for i := range rows {
		rows[i].Seq = last - int64(len(rows)-1-i)
	}
	return rows, nil
}

func validate(m Message) (methodSpec, error) {
	spec, ok := methods[m.Method]
	if !ok {
		return methodSpec{}, fmt.Errorf("%w: %q", ErrUnknownMethod, m.Method)
	}
	switch {
	case m.TenantID == uuid.Nil:
		return spec, fmt.Errorf("%w: no tenant", ErrInvalid)
	case m.BotID <= 0:
		return spec, fmt.Errorf("%w: no bot", ErrInvalid)
	case m.ChatID == 0:
		return spec, fmt.Errorf("%w: no chat", ErrInvalid)
	case m.ThreadID < 0:
		return spec, fmt.Errorf("%w: negative thread", ErrInvalid)
	case !m.Priority.valid():
		return spec, fmt.Errorf("%w: priority %d", ErrInvalid, m.Priority)
	case len(m.Kind) > 64 || len(m.Ref) > 256 || len(m.IdempotencyKey) > 200:
		return spec, fmt.Errorf("%w: kind, ref or idempotency key too long", ErrInvalid)
	}
	if len(m.Params) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(m.Params, &obj); err != nil || obj == nil {
			return spec, fmt.Errorf("%w: params must be a JSON object", ErrInvalid)
		}
		if _, has := obj["chat_id"]; has {
			return spec, fmt.Errorf("%w: params must not carry chat_id (use ChatID)", ErrInvalid)
		}
	}
	return spec, nil
}

// index puts a recorded message into the bot's Redis queue and wakes the pump.
func (o *Outbox) index(ctx context.Context, tenantID uuid.UUID, botID, chatID int64, threadID int, e entry) error {
	if err := o.push(ctx, tenantID, botID, chatID, threadID, e); err != nil {
		return fmt.Errorf("outbox: enqueue: index: %w", err)
	}
	if err := o.kick(ctx, tenantID, botID, o.clock.Now()); err != nil {
		return fmt.Errorf("outbox: enqueue: kick: %w", err)
	}
	return nil
}

func (o *Outbox) hooksFor(kind string) []ResultHook {
	o.mu.RLock()
	defer o.mu.RUnlock()
	hs := append([]ResultHook(nil), o.hooks[kind]...)
	if kind != "" {
		hs = append(hs, o.hooks[""]...)
	}
	return hs
}

// clockDur converts a real-time span into Clock time.
func (o *Outbox) clockDur(d time.Duration) time.Duration {
	return time.Duration(float64(d) * o.opts.ClockRate)
}

// realDur converts a Clock-time span into real time for timers and the queue.
func (o *Outbox) realDur(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) / o.opts.ClockRate)
}
