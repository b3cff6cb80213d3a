package queue_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
)

// Two `work` processes, each with its own scheduler and worker server, run
// one periodic job exactly once per period.
func TestTwoWorkersRunPeriodicJobOncePerPeriod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, done, err := testenv.NewRedis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done()

	var mu sync.Mutex
	runs := map[int64]int{}
	const every = 500 * time.Millisecond

	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		srv := queue.NewServer(r.Asynq, queue.ServerOptions{Concurrency: 2, TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: time.Second})
		srv.Handle("test:tick", func(ctx context.Context, task *asynq.Task) error {
			id, _ := asynq.GetTaskID(ctx)
			mu.Lock()
			defer mu.Unlock()
			runs[periodOf(t, id)]++
			return nil
		})
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		client := queue.NewClient(r.Asynq)
		defer client.Close()
		s := queue.NewScheduler(client, r.Client, clock.Real{}, 50*time.Millisecond, nil)
		s.Register(queue.Periodic{Name: "tick", Every: every, Task: func() *asynq.Task { return asynq.NewTask("test:tick", nil) }})
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(ctx) }()
	}
	time.Sleep(6 * every)
	cancel()
	wg.Wait()
	time.Sleep(200 * time.Millisecond)

	mu.Lock()
	defer mu.Unlock()
	if len(runs) < 4 {
		t.Fatalf("job ran in %d periods over %s, want at least 4", len(runs), 6*every)
	}
	for period, n := range runs {
		if n != 1 {
			t.Errorf("period %d: job ran %d times, want 1", period, n)
		}
	}
}

// periodOf extracts the period start from "periodic:tick:<unix ms>".
func periodOf(t *testing.T, taskID string) int64 {
	p, err := strconv.ParseInt(strings.TrimPrefix(taskID, "periodic:tick:"), 10, 64)
	if err != nil {
		t.Errorf("unexpected task id %q", taskID)
	}
	return p
}

// A TaskID conflict means "already queued": callers rely on it being no error.
func TestEnqueueTaskIDConflictIsNotAnError(t *testing.T) {
	ctx := context.Background()
	r, done, err := testenv.NewRedis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	c := queue.NewClient(r.Asynq)
	defer c.Close()
	for i := 0; i < 2; i++ {
		if err := c.Enqueue(ctx, asynq.NewTask("test:once", nil), asynq.TaskID("same")); err != nil {
			t.Fatalf("enqueue #%d: %v", i+1, err)
		}
	}
}
