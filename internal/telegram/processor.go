package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/redisconn"
)

// ProcessorOptions tune the worker side.
type ProcessorOptions struct {
	// LockTTL is the drain lock's lifetime, renewed every third of it; a
	// killed worker's chat is free again after at most this long (default 30 s).
	LockTTL time.Duration
	// Batch is how many updates one drain handles before yielding the chat
	// to a fresh task, so a chatty chat cannot hold a worker (default 100).
	Batch int
	// MaxAttempts is how often one update may fail before it is moved to
	// the dead list so its chat can carry on (default 8).
	MaxAttempts int
	// SweepEvery is the sweeper's period (default 30 s).
	SweepEvery time.Duration
	// DialogGrace is how long an expired dialog is remembered so the next
	// message gets the timeout text (default 7 days).
	DialogGrace time.Duration
	// DrainWorkers is how many goroutines of this process pop chats off
	// the ready list and drain them (default 16); each holds one Redis
	// connection of a pool of their own while it waits.
	DrainWorkers int
	// GapWait bounds how long a drain waits for a missing lower update_id of
	// the bot before handling its head (default 100 ms; negative: never).
	// Telegram delivers over parallel connections, so a chat's update N can
	// arrive after N+1; see docs/webhooks.md, "Order".
	GapWait time.Duration
	Clock   clock.Clock
	Logger  *slog.Logger
}

// Enqueuer puts tasks on the queue (*queue.Client).
type Enqueuer interface {
	Enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error
}

// Processor drains mailboxes and dispatches updates to features.
type Processor struct {
	db     *db.DB
	rdb    redis.UniversalClient
	queue  Enqueuer
	sender Sender
	texts  Texts
	opts   ProcessorOptions
	clock  clock.Clock
	log    *slog.Logger

	// hook, if set (tests only), is called at the drain's stages: "cleared"
	// (marker deleted), "locked", "released" (before the re-check or yield).
	hook func(stage string)

	mu       sync.RWMutex
	routes   routes
	dialogs  map[string]*Dialog
	fallback Handler
	phones   []PhoneHandler
}

// NewProcessor builds the worker side.
func NewProcessor(d *db.DB, rdb redis.UniversalClient, q Enqueuer, sender Sender, texts Texts, opts ProcessorOptions) *Processor {
	if opts.LockTTL <= 0 {
		opts.LockTTL = 30 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 30 * time.Second
	}
	if opts.DialogGrace <= 0 {
		opts.DialogGrace = 7 * 24 * time.Hour
	}
	if opts.DrainWorkers <= 0 {
		opts.DrainWorkers = 16
	}
	if opts.GapWait == 0 {
		opts.GapWait = 100 * time.Millisecond
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Processor{db: d, rdb: rdb, queue: q, sender: sender, texts: texts, opts: opts, clock: opts.Clock,
		log: opts.Logger, routes: newRoutes(), dialogs: map[string]*Dialog{}}
}

// Register installs the task handlers and the drain workers on a worker
// server.
func (p *Processor) Register(srv *queue.Server) {
	srv.Handle(TaskDrain, p.HandleDrain)
	srv.Handle(TaskSweep, p.HandleSweep)
	srv.Go(p.runDrainers)
}

// Sweeper is the periodic safety net for the scheduler.
func (p *Processor) Sweeper() queue.Periodic {
	return queue.Periodic{Name: TaskSweep, Every: p.opts.SweepEvery, Task: NewSweepTask, Queue: queue.Updates}
}

// runDrainers runs the drain workers: each pops a chat the intake handed
// over (the ready list) and drains it. This is the live path's hand-off: an
// update waits for no queue poll, and the intake script's push cannot fail
// apart from filing the update. A drain that fails is retried as a
// telegram:drain task after its back-off, so retries are durable and
// delayed without holding a worker (docs/webhooks.md, "Drain workers").
func (p *Processor) runDrainers(ctx context.Context, stopping <-chan struct{}) {
	// Blocking pops hold a connection each: give them a pool of their own,
	// so they never starve the drains' own commands.
	rdb := p.rdb
	if c, ok := p.rdb.(*redis.Client); ok {
		o := *c.Options()
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns = p.opts.DrainWorkers, 0, p.opts.DrainWorkers
		own := redis.NewClient(&o)
		defer own.Close()
		rdb = own
	}
	var wg sync.WaitGroup
	for range p.opts.DrainWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.drainWorker(ctx, stopping, rdb)
		}()
	}
	wg.Wait()
}

// readyPoll bounds a drain worker's blocking pop, so it notices a shutdown.
const readyPoll = "0.25"

func (p *Processor) drainWorker(ctx context.Context, stopping <-chan struct{}, rdb redis.UniversalClient) {
	for {
		select {
		case <-stopping:
			return
		default:
		}
		// Raw BRPOP: go-redis rounds BRPop timeouts up to a second.
		res, err := rdb.Do(ctx, "BRPOP", readyKey, readyPoll).StringSlice()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("telegram: drain worker: pop", "error", err)
			select {
			case <-stopping:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		case len(res) != 2:
			continue
		}
		m, err := parseMember(res[1])
		if err != nil {
			p.log.Error("telegram: drain worker: bad ready entry", "entry", res[1], "error", err)
			continue
		}
		if err := p.drain(ctx, m); err != nil {
			p.retryLater(ctx, m, err)
		}
	}
}

// retryLater hands a failed drain to asynq: after the failed update's
// back-off (a RateLimitedError) or a second. If that enqueue fails too, the
// mailbox is an orphan the sweeper re-drains.
func (p *Processor) retryLater(ctx context.Context, m mailbox, cause error) {
	after := time.Second
	if rl, ok := asRateLimited(cause); ok {
		after = rl.After
	} else {
		p.log.Warn("telegram: drain failed, retrying", "tenant_id", m.TenantID, "bot_id", m.BotID, "chat_id", m.ChatID,
			"error", cause)
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.queue.Enqueue(ectx, newDrainTask(m), asynq.ProcessIn(after)); err != nil {
		p.log.Error("telegram: enqueue drain retry; the sweeper will re-drain", "tenant_id", m.TenantID,
			"bot_id", m.BotID, "chat_id", m.ChatID, "error", err)
	}
}

func asRateLimited(err error) (*queue.RateLimitedError, bool) {
	var rl *queue.RateLimitedError
	ok := errors.As(err, &rl)
	return rl, ok
}

// HandleDrain is the telegram:drain task: a drain retried after a failure
// (or one enqueued by an older version of the intake).
func (p *Processor) HandleDrain(ctx context.Context, t *asynq.Task) error {
	var m mailbox
	if err := json.Unmarshal(t.Payload(), &m); err != nil || m.TenantID == uuid.Nil {
		return fmt.Errorf("telegram: drain payload: %v: %w", err, asynq.SkipRetry)
	}
	return p.drain(ctx, m)
}

// drain handles a chat's mailbox in update_id order. Only the holder of the
// chat's lock drains; a drain that finds the lock taken exits, because the
// holder looks at the mailbox again after releasing the lock (closing the
// race with an update that arrives meanwhile).
func (p *Processor) drain(ctx context.Context, m mailbox) error {
	// Clear the "drain queued" marker BEFORE looking at the mailbox: an
	// update accepted before this point is in the mailbox that this drain
	// (or the lock holder's re-check) reads; one accepted after it finds no
	// marker and hands the chat over again (docs/webhooks.md, "Drain
	// markers"). A failed drain is retried, which clears it again.
	if err := p.rdb.Del(ctx, pendingKey(m.BotID, m.ChatID)).Err(); err != nil {
		return fmt.Errorf("telegram: drain clear marker: %w", err)
	}
	p.stage("cleared")
	for {
		lease := redisconn.NewLease(p.rdb, lockKey(m.BotID, m.ChatID), ids.Token(12), p.opts.LockTTL)
		held, err := lease.TryAcquire(ctx)
		if err != nil {
			return fmt.Errorf("telegram: drain lock: %w", err)
		}
		if !held {
			return nil
		}
		p.stage("locked")
		n, err := p.drainHeld(ctx, lease, m)
		if rerr := lease.Release(context.WithoutCancel(ctx)); rerr != nil {
			p.log.Warn("telegram: release drain lock", "bot_id", m.BotID, "chat_id", m.ChatID, "error", rerr)
		}
		p.stage("released")
		if err != nil {
			return err
		}
		if n >= p.opts.Batch {
			// Yield: the chats handed over before this one go first.
			return handOver(ctx, p.rdb, m)
		}
		// Re-check after releasing: an update accepted after our last look
		// had its drain exit on our lock.
		left, err := p.rdb.ZCard(ctx, mailboxKey(m.BotID, m.ChatID)).Result()
		if err != nil {
			return fmt.Errorf("telegram: drain re-check: %w", err)
		}
		if left == 0 {
			return nil
		}
	}
}

func (p *Processor) stage(name string) {
	if p.hook != nil {
		p.hook(name)
	}
}

// drainHeld handles updates while holding the lock, renewing it; it stops
// at once if the lock is lost (another worker may own the chat by then).
func (p *Processor) drainHeld(ctx context.Context, lease *redisconn.Lease, m mailbox) (int, error) {
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(p.opts.LockTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if ok, err := lease.TryAcquire(hctx); err != nil || !ok {
					cancel(errors.New("telegram: drain lock lost"))
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	for n := 0; n < p.opts.Batch; n++ {
		if err := context.Cause(hctx); err != nil {
			return n, err
		}
		var raw string
		var updateID int64
		var ok bool
		var wait time.Duration
		var err error
		if p.opts.GapWait > 0 {
			raw, updateID, wait, ok, err = headAfterGap(hctx, p.rdb, m, p.opts.GapWait)
		} else {
			raw, updateID, ok, err = head(hctx, p.rdb, m)
		}
		if err != nil || !ok {
			return n, err
		}
		// A lower update of the bot has not arrived yet: it may be this
		// chat's, in which case it lands in the mailbox before this head.
		// Wait (bounded: the gap is given up on after GapWait) and look at
		// the head again.
		if wait > 0 {
			t := time.NewTimer(min(wait, gapPoll))
			select {
			case <-t.C:
			case <-hctx.Done():
				t.Stop()
				return n, context.Cause(hctx)
			}
			n--
			continue
		}
		if herr := p.handle(hctx, m, raw); herr != nil {
			return n, p.handleFailed(hctx, m, raw, updateID, herr)
		}
		// Removed only after it was handled: a crash before this line
		// means the update is handled again (at-least-once).
		if err := done(context.WithoutCancel(hctx), p.rdb, m, raw, updateID); err != nil {
			return n, err
		}
	}
	return p.opts.Batch, nil
}

// handleFailed counts a failure; below MaxAttempts the drain is retried
// after a back-off (the update stays at the head, keeping order), after
// that the update is buried so the chat can carry on.
func (p *Processor) handleFailed(ctx context.Context, m mailbox, raw string, updateID int64, cause error) error {
	log := p.log.With("tenant_id", m.TenantID, "bot_id", m.BotID, "chat_id", m.ChatID, "update_id", updateID)
	if ctx.Err() != nil {
		return cause
	}
	n, err := failed(ctx, p.rdb, m, updateID)
	if err != nil {
		return fmt.Errorf("telegram: count failure: %w", err)
	}
	if n >= int64(p.opts.MaxAttempts) || errors.Is(cause, errPermanent) {
		log.Error("telegram: giving up on update", "attempts", n, "error", cause)
		if err := bury(ctx, p.rdb, m, raw, updateID, cause); err != nil {
			return err
		}
		return handOver(ctx, p.rdb, m)
	}
	log.Warn("telegram: update failed, will retry", "attempts", n, "error", cause)
	return &queue.RateLimitedError{After: min(time.Duration(1<<min(n, 6))*time.Second, time.Minute), Cause: cause}
}

var errPermanent = errors.New("permanent")

// gapPoll is how often a drain waiting for a gap looks whether it closed.
const gapPoll = 5 * time.Millisecond

// handle records and dispatches one update.
func (p *Processor) handle(ctx context.Context, m mailbox, raw string) error {
	var u Update
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		return fmt.Errorf("telegram: decode update: %v: %w", err, errPermanent)
	}
	rec, err := p.record(ctx, m, &u)
	if err != nil {
		return err
	}
	in := newInbound(p, m, &u, json.RawMessage(raw), rec)
	if err := p.phoneShared(ctx, in); err != nil {
		return err
	}
	return p.dispatch(ctx, in)
}

// record keeps what every feature shares: contacts and bot chats upserted
// from every update, events, chat bindings. An update recorded by an
// earlier attempt is not recorded twice.
func (p *Processor) record(ctx context.Context, m mailbox, u *Update) (recorded, error) {
	var rec recorded
	now := p.clock.Now()
	err := p.db.InTenant(ctx, m.TenantID, func(tx pgx.Tx) error {
		from, chat := u.From(), u.chat()
		person := from != nil && !from.IsBot
		var fresh bool
		var err error
		if person {
			// The dedupe row and the person's contact in one round trip (an
			// update seen before upserts the same names again: harmless).
			fresh, rec.contactID, rec.lang, err = markProcessedWithContact(ctx, tx, m.TenantID, m.BotID, u.UpdateID, from, now)
		} else {
			fresh, err = markProcessed(ctx, tx, m.TenantID, m.BotID, u.UpdateID, now)
		}
		if err != nil {
			return err
		}
		if fresh {
			// recordFresh only writes: its statements go as one batch.
			w := &queuedTx{Tx: tx, b: &pgx.Batch{}}
			if err := p.recordFresh(ctx, w, m, u, rec.contactID, now); err != nil {
				return err
			}
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
		if chat != nil && chat.Type != "private" {
			chatID := chat.ID
			if u.Message != nil && u.Message.MigrateToChatID != 0 {
				chatID = u.Message.MigrateToChatID
			}
			rec.binding, err = findBinding(ctx, tx, m.BotID, chatID)
		}
		return err
	})
	if err != nil {
		return recorded{}, fmt.Errorf("telegram: record update %d: %w", u.UpdateID, err)
	}
	return rec, nil
}

func (p *Processor) recordFresh(ctx context.Context, tx pgx.Tx, m mailbox, u *Update, contactID uuid.UUID, now time.Time) error {
	chat := u.chat()
	private := chat != nil && chat.Type == "private"
	event := func(typ string, payload map[string]any) error {
		payload["update_id"] = u.UpdateID
		return addEvent(ctx, tx, m.TenantID, contactID, m.BotID, typ, payload, now)
	}
	if private && contactID != uuid.Nil {
		if err := upsertBotChat(ctx, tx, m.TenantID, m.BotID, chat.ID, contactID, now); err != nil {
			return err
		}
	}
	switch {
	case u.Message != nil && private:
		msg := u.Message
		if cmd, payload := ParseCommand(msg.Text); cmd == "start" {
			if err := event("started", map[string]any{"payload": payload}); err != nil {
				return err
			}
		}
		if err := event("message_received", map[string]any{"message_id": msg.MessageID}); err != nil {
			return err
		}
		if c := msg.Contact; c != nil && msg.From != nil && c.UserID == msg.From.ID && contactID != uuid.Nil {
			if err := setPhone(ctx, tx, contactID, c.PhoneNumber, now); err != nil {
				return err
			}
			return event("contact_shared", map[string]any{})
		}
	case u.Message != nil:
		msg := u.Message
		if msg.MigrateToChatID != 0 {
			return migrateBinding(ctx, tx, m.BotID, msg.Chat.ID, msg.MigrateToChatID, now)
		}
		if msg.MigrateFromChatID != 0 {
			if err := migrateBinding(ctx, tx, m.BotID, msg.MigrateFromChatID, msg.Chat.ID, now); err != nil {
				return err
			}
		}
		return upsertBinding(ctx, tx, m.TenantID, m.BotID, msg.Chat, "", nil, now)
	case u.MyChatMember != nil && private:
		st := u.MyChatMember.NewChatMember.Status
		switch {
		case st == "kicked":
			if err := setReachable(ctx, tx, m.BotID, chat.ID, false, now); err != nil {
				return err
			}
			return event("bot_blocked", map[string]any{})
		case st == "member" && u.MyChatMember.OldChatMember.Status == "kicked":
			if err := setReachable(ctx, tx, m.BotID, chat.ID, true, now); err != nil {
				return err
			}
			return event("bot_unblocked", map[string]any{})
		}
	case u.MyChatMember != nil:
		nm := u.MyChatMember.NewChatMember
		if err := upsertBinding(ctx, tx, m.TenantID, m.BotID, *chat, nm.Status, memberRights(nm), now); err != nil {
			return err
		}
		return event("bot_chat_status", map[string]any{"chat_id": chat.ID, "status": nm.Status,
			"title": chat.Title})
	}
	return nil
}

// HandleSweep re-drains mailboxes that hold updates but have no drain
// running (a worker killed mid-drain or after popping the chat, a retry
// whose enqueue failed), and prunes old dedupe rows.
func (p *Processor) HandleSweep(ctx context.Context, _ *asynq.Task) error {
	var cursor uint64
	for {
		members, next, err := p.rdb.SScan(ctx, indexKey, cursor, "", 500).Result()
		if err != nil {
			return fmt.Errorf("telegram: sweep: %w", err)
		}
		for _, s := range members {
			m, err := parseMember(s)
			if err != nil {
				_ = p.rdb.SRem(ctx, indexKey, s).Err()
				continue
			}
			// An orphan is handed to the drain workers in the script.
			if err := sweepOne(ctx, p.rdb, m); err != nil {
				return fmt.Errorf("telegram: sweep %s: %w", s, err)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	var pruned int64
	err := p.db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT prune_processed_updates($1)", p.clock.Now().Add(-48*time.Hour)).Scan(&pruned)
	})
	if err != nil {
		return fmt.Errorf("telegram: prune processed updates: %w", err)
	}
	if pruned > 0 {
		p.log.Info("telegram: pruned processed updates", "rows", pruned)
	}
	return nil
}

// setUnsubscribed records /stop for the chat.
func (p *Processor) setUnsubscribed(ctx context.Context, in *Inbound, unsubscribed bool) error {
	return p.db.InTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		if err := setUnsubscribed(ctx, tx, in.BotID, in.ChatID, unsubscribed); err != nil {
			return err
		}
		typ := "unsubscribed"
		if !unsubscribed {
			typ = "subscribed"
		}
		return addEvent(ctx, tx, in.TenantID, in.ContactID, in.BotID, typ,
			map[string]any{"update_id": in.UpdateID}, p.clock.Now())
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
