package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/redisconn"
)

// Periodic is a job enqueued once per period.
type Periodic struct {
	Name  string        // unique; part of each period's TaskID
	Every time.Duration // periods are aligned to the Unix epoch
	Task  func() *asynq.Task
	Queue string
}

// Scheduler enqueues periodic jobs. Several `work` processes may run one
// each: a Redis lease elects the one that enqueues, and each period's task
// carries a TaskID derived from the period start, so even two processes that
// both believe they lead (a lease lost mid-tick) enqueue a period once.
type Scheduler struct {
	client *Client
	lease  *redisconn.Lease
	clock  clock.Clock
	tick   time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	jobs []Periodic
	last map[string]time.Time
}

// NewScheduler makes a scheduler; tick is how often it checks (about a
// second in production, less in tests).
func NewScheduler(client *Client, rdb redis.Cmdable, clk clock.Clock, tick time.Duration, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{
		client: client,
		lease:  redisconn.NewLease(rdb, "helpdesk:scheduler:leader", ids.Token(12), 5*tick+2*time.Second),
		clock:  clk,
		tick:   tick,
		log:    log,
		last:   map[string]time.Time{},
	}
}

// Register adds a periodic job.
func (s *Scheduler) Register(p Periodic) {
	if p.Queue == "" {
		p.Queue = Default
	}
	s.mu.Lock()
	s.jobs = append(s.jobs, p)
	s.mu.Unlock()
}

// Run ticks until ctx ends, then gives the lease up.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	defer func() { _ = s.lease.Release(context.Background()) }()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick enqueues every job whose current period has not been enqueued yet,
// if this process holds the lease.
func (s *Scheduler) Tick(ctx context.Context) {
	leader, err := s.lease.TryAcquire(ctx)
	if err != nil {
		s.log.Warn("scheduler: lease", "error", err)
		return
	}
	if !leader {
		return
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		period := now.Truncate(j.Every)
		if s.last[j.Name].Equal(period) {
			continue
		}
		taskID := fmt.Sprintf("periodic:%s:%d", j.Name, period.UnixMilli())
		err := s.client.Enqueue(ctx, j.Task(), asynq.TaskID(taskID), asynq.Queue(j.Queue),
			asynq.Retention(max(j.Every, time.Minute)))
		if err != nil {
			s.log.Warn("scheduler: enqueue", "job", j.Name, "error", err)
			continue
		}
		s.last[j.Name] = period
	}
}
