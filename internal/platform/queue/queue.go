// Package queue wraps asynq: the fixed set of weighted queues, the client,
// the worker server with graceful shutdown, and a leader-elected scheduler.
// Task types are named "domain:action" and each has a NewXTask constructor
// beside its handler in the domain's tasks.go.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// The queues are fixed at start (asynq has no per-tenant queues; fairness
// between tenants is enforced in handlers).
const (
	Updates   = "updates"   // inbound Telegram updates: the live path
	Outbound  = "outbound"  // outbox drains: the live path
	Default   = "default"   // CRM calls, automation, housekeeping
	Broadcast = "broadcast" // campaign batches
)

// Weights give the live path most of the workers' attention; asynq picks a
// queue with probability proportional to its weight.
var Weights = map[string]int{Updates: 6, Outbound: 6, Default: 3, Broadcast: 2}

// Client enqueues tasks.
type Client struct{ c *asynq.Client }

// NewClient makes a client on opt.
func NewClient(opt asynq.RedisConnOpt) *Client { return &Client{c: asynq.NewClient(opt)} }

// Enqueue enqueues t; a TaskID conflict (already queued) is not an error,
// because TaskIDs are how callers make enqueues idempotent.
func (c *Client) Enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error {
	_, err := c.c.EnqueueContext(ctx, t, opts...)
	// asynq wraps these sentinels, so compare with errors.Is.
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("queue: enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// Close closes the client.
func (c *Client) Close() error { return c.c.Close() }

// ServerOptions tune the worker server.
type ServerOptions struct {
	Concurrency       int
	TaskCheckInterval time.Duration
	ShutdownTimeout   time.Duration
	Logger            *slog.Logger
}

// Server runs task handlers, and loops that feed work to handlers without
// an asynq task (Go).
type Server struct {
	srv             *asynq.Server
	mux             *asynq.ServeMux
	shutdownTimeout time.Duration

	loops    []Loop
	stopping chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// A Loop runs beside the task handlers from Start to Shutdown. It should
// stop taking new work soon after stopping is closed and return when its
// work in flight is done; ctx is cancelled only when the shutdown timeout
// has passed, to cut that work short (as asynq does to its handlers).
type Loop func(ctx context.Context, stopping <-chan struct{})

// NewServer builds a worker server. TaskCheckInterval governs the idle
// latency of every hop on the live path (DESIGN.md section 5); the delayed
// task check uses the same value so retries and scheduled sends are prompt.
func NewServer(opt asynq.RedisConnOpt, o ServerOptions) *Server {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	mux := asynq.NewServeMux()
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:              o.Concurrency,
		Queues:                   Weights,
		TaskCheckInterval:        o.TaskCheckInterval,
		DelayedTaskCheckInterval: o.TaskCheckInterval,
		ShutdownTimeout:          o.ShutdownTimeout,
		Logger:                   slogAdapter{log},
		LogLevel:                 asynq.WarnLevel,
		IsFailure:                func(err error) bool { return !IsRateLimited(err) },
		RetryDelayFunc:           retryDelay,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if IsRateLimited(err) {
				return
			}
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			log.Warn("task failed", "type", t.Type(), "retried", retried, "max_retry", maxRetry, "error", err)
		}),
	})
	timeout := o.ShutdownTimeout
	if timeout <= 0 {
		timeout = 8 * time.Second // asynq's default
	}
	return &Server{srv: srv, mux: mux, shutdownTimeout: timeout}
}

// Handle registers a handler for a task type.
func (s *Server) Handle(taskType string, h func(context.Context, *asynq.Task) error) {
	s.mux.HandleFunc(taskType, h)
}

// Go adds a loop to run from Start to Shutdown; call it before Start.
func (s *Server) Go(l Loop) { s.loops = append(s.loops, l) }

// Start starts processing in the background.
func (s *Server) Start() error {
	if err := s.srv.Start(s.mux); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.stopping = cancel, make(chan struct{})
	for _, l := range s.loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l(ctx, s.stopping)
		}()
	}
	return nil
}

// Shutdown waits for in-flight tasks and loop work up to the shutdown
// timeout, both at once; tasks still running then are re-queued by asynq,
// and loops are cancelled (their work must be safe to cut, as a task's is),
// so nothing is lost.
func (s *Server) Shutdown() {
	if s.stopping == nil {
		s.srv.Shutdown()
		return
	}
	close(s.stopping)
	loopsDone := make(chan struct{})
	go func() { s.wg.Wait(); close(loopsDone) }()
	t := time.NewTimer(s.shutdownTimeout)
	defer t.Stop()
	s.srv.Shutdown()
	select {
	case <-loopsDone:
	case <-t.C:
		s.cancel()
		<-loopsDone
	}
	s.cancel()
	s.stopping = nil
}

// RateLimitedError asks for a retry after a delay without counting the
// attempt as a failure (a Telegram 429, a CRM's 429, a busy mailbox).
type RateLimitedError struct {
	After time.Duration
	Cause error
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.After, e.Cause)
}

func (e *RateLimitedError) Unwrap() error { return e.Cause }

// IsRateLimited reports whether err is a RateLimitedError.
func IsRateLimited(err error) bool {
	_, ok := asRateLimited(err)
	return ok
}

func asRateLimited(err error) (*RateLimitedError, bool) {
	for err != nil {
		if rl, ok := err.(*RateLimitedError); ok {
			return rl, true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return nil, false
		}
		err = u.Unwrap()
	}
	return nil, false
}

func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if rl, ok := asRateLimited(err); ok {
		return rl.After
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
