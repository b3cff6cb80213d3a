package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/redisconn"
)

// Task types.
const (
	TaskPump  = "outbox:pump"  // sends one bot's queued messages
	TaskSweep = "outbox:sweep" // periodic safety net
)

type pumpPayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	BotID    int64     `json:"bot_id"`
}

// NewPumpTask builds the task that drains one bot's outbox.
func NewPumpTask(tenantID uuid.UUID, botID int64) *asynq.Task {
	b, _ := json.Marshal(pumpPayload{TenantID: tenantID, BotID: botID})
	return asynq.NewTask(TaskPump, b)
}

func (o *Outbox) enqueuePump(ctx context.Context, tenantID uuid.UUID, botID int64, in time.Duration) error {
	opts := []asynq.Option{asynq.Queue(queue.Outbound), asynq.MaxRetry(20)}
	if in > 0 {
		opts = append(opts, asynq.ProcessIn(in))
	}
	return o.q.Enqueue(ctx, NewPumpTask(tenantID, botID), opts...)
}

// Register adds the outbox's task handlers to a worker server.
func (o *Outbox) Register(srv *queue.Server) {
	srv.Handle(TaskPump, o.handlePump)
	srv.Handle(TaskSweep, o.handleSweep)
	srv.Handle(TaskHook, o.handleHook)
}

// handlePump runs the bot's pump if no other process does. Lost wake-ups
// are impossible: the kick marker is cleared before the lease is tried, and
// a holder re-checks for work after releasing the lease (also when its run
// failed).
func (o *Outbox) handlePump(ctx context.Context, t *asynq.Task) error {
	var p pumpPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID == uuid.Nil || p.BotID == 0 {
		return fmt.Errorf("outbox: pump: bad payload: %w", asynq.SkipRetry)
	}
	if err := o.rdb.Del(ctx, o.keys.kick(p.BotID)).Err(); err != nil {
		return fmt.Errorf("outbox: pump: %w", err)
	}
	// A fresh token per run: TryAcquire succeeds only if the lease was free
	// (released, or expired with a dead holder), never by extending another
	// run's lease.
	token := ids.Token(12)
	lease := redisconn.NewLease(o.rdb, o.keys.lock(p.BotID), token, o.opts.LeaseTTL)
	held, err := lease.TryAcquire(ctx)
	if err != nil {
		return fmt.Errorf("outbox: pump: lease: %w", err)
	}
	if !held {
		return nil // the holder re-checks after it lets go
	}
	resume, perr := o.run(ctx, p, lease, token)
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = lease.Release(bctx)
	if perr != nil {
		// An enqueue during the run may have left a kick key whose task found
		// the lease held and went away; it would hold off every other kick
		// and the sweeper until it expires. Clear it and schedule the next
		// run ourselves, after a pause, instead of waiting for asynq's retry.
		o.log.Error("outbox: pump failed; running again shortly", "tenant_id", p.TenantID, "bot_id", p.BotID, "error", perr)
		if err := o.rdb.Del(bctx, o.keys.kick(p.BotID)).Err(); err != nil {
			return perr
		}
		if err := o.kick(bctx, p.TenantID, p.BotID, o.clock.Now().Add(o.clockDur(pumpErrorPause))); err != nil {
			return perr // asynq retries with back-off; the sweeper is the last resort
		}
		return nil
	}
	if resume.IsZero() {
		next, err := o.nextWork(bctx, p.BotID)
		if err != nil {
			return fmt.Errorf("outbox: pump: %w", err)
		}
		switch {
		case next < 0:
			return nil
		case next == 0:
			resume = o.clock.Now()
		default:
			resume = time.UnixMilli(next)
		}
	}
	if err := o.kick(bctx, p.TenantID, p.BotID, resume); err != nil {
		return fmt.Errorf("outbox: pump: reschedule: %w", err)
	}
	return nil
}

// pumpErrorPause (real time) separates a failed pump run from the next.
const pumpErrorPause = time.Second

// run is one pump run under a freshly taken lease. Calls another token left
// in flight were made by a pump that died or lost the lease (an expired
// lease is the only way to take it while someone else held it): nobody will
// finish them, so they are freed at once and their rows resolved by the
// delivery rule, instead of waiting for a deadline.
func (o *Outbox) run(ctx context.Context, p pumpPayload, lease *redisconn.Lease, token string) (time.Time, error) {
	if o.pumpHook != nil {
		if err := o.pumpHook(ctx); err != nil {
			return time.Time{}, err
		}
	}
	n, err := o.reclaim(ctx, p.BotID, token, false)
	if err != nil {
		return time.Time{}, err
	}
	if n > 0 {
		o.log.Warn("outbox: took over sends a dead pump left in flight", "tenant_id", p.TenantID, "bot_id", p.BotID, "destinations", n)
	}
	return o.pump(ctx, p, lease, token)
}

// pump sends until the bot has nothing sendable soon, its run time is up or
// ctx ends. It answers when to run again (zero: ask Redis).
func (o *Outbox) pump(ctx context.Context, p pumpPayload, lease *redisconn.Lease, token string) (time.Time, error) {
	paid, err := o.paidBroadcast(ctx, p.TenantID, p.BotID)
	if err != nil {
		return time.Time{}, err
	}
	wake, stopWake := o.waker(ctx, p.BotID)
	defer stopWake()
	fin := make(chan struct{}, o.opts.MaxInFlight)
	running := 0
	defer func() {
		for ; running > 0; running-- {
			<-fin
		}
	}()
	start, renewed := time.Now(), time.Now()
	renewEvery := o.opts.LeaseTTL / 3
	// wait blocks for up to d of Clock time, or until a call finishes or
	// new work is announced, and never past when the lease is due for
	// renewal: a lapsed lease hands the bot, and the calls in flight, to
	// another pump.
	wait := func(d time.Duration) {
		t := time.NewTimer(max(min(o.realDur(d), renewEvery-time.Since(renewed)), time.Millisecond))
		defer t.Stop()
		select {
		case <-t.C:
		case <-wake:
		case <-fin:
			running--
		case <-ctx.Done():
		}
	}
	for {
		if ctx.Err() != nil || time.Since(start) > o.opts.PumpRun {
			return time.Time{}, nil
		}
		if time.Since(renewed) >= renewEvery {
			held, err := lease.TryAcquire(ctx)
			if err != nil || !held {
				return time.Time{}, nil // another pump took over after our lease lapsed
			}
			renewed = time.Now()
		}
		for drained := false; !drained; {
			select {
			case <-fin:
				running--
			default:
				drained = true
			}
		}
		if running >= o.opts.MaxInFlight {
			wait(time.Hour)
			continue
		}
		now := o.clock.Now()
		pks, err := o.pickN(ctx, p.BotID, token, paid, now, o.opts.MaxInFlight-running)
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, nil
			}
			return time.Time{}, err
		}
		pk := pks[0]
		switch pk.kind {
		case pickLost:
			return time.Time{}, nil // another pump took over after our lease lapsed
		case pickSend:
			for _, pk := range pks {
				running++
				go func() {
					defer func() { fin <- struct{}{} }()
					o.sendOne(ctx, p, pk)
				}()
			}
		case pickWait:
			d := time.UnixMilli(pk.at).Sub(now)
			if d > o.opts.InlineWait && running == 0 {
				return time.UnixMilli(pk.at), nil
			}
			wait(min(d, o.opts.InlineWait))
		case pickIdle:
			if pk.ready > 0 {
				continue
			}
			if running == 0 && pk.inflight > 0 {
				// Every call of this run has finished and only this run
				// picks: what is still in flight was left by failed
				// book-keeping. Free it.
				if _, err := o.reclaim(ctx, p.BotID, token, true); err != nil {
					return time.Time{}, err
				}
				continue
			}
			d := o.opts.InlineWait
			if pk.at >= 0 {
				d = min(d, time.UnixMilli(pk.at).Sub(now))
			}
			if running == 0 {
				if pk.at < 0 {
					return time.Time{}, nil
				}
				if time.UnixMilli(pk.at).Sub(now) > o.opts.InlineWait {
					return time.UnixMilli(pk.at), nil
				}
			}
			wait(d)
		}
	}
}

// waker turns pushes to the bot's wake list into a channel signal, so a
// pump waiting for a budget notices a new live message at once.
func (o *Outbox) waker(ctx context.Context, botID int64) (<-chan struct{}, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{}, 1)
	key := o.keys.wake(botID)
	go func() {
		for ctx.Err() == nil {
			// Raw BLPOP: go-redis rounds BLPop timeouts up to a second.
			err := o.wakeRdb.Do(ctx, "BLPOP", key, "0.25").Err()
			switch {
			case err == nil:
				select {
				case ch <- struct{}{}:
				default:
				}
			case errors.Is(err, redis.Nil):
			default:
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	return ch, cancel
}
