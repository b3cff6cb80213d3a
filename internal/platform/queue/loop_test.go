package queue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
)

// A loop runs from Start to Shutdown: Shutdown signals it to stop and waits
// for its work in flight; work that outlasts the shutdown timeout has its
// context cancelled, and Shutdown still returns.
func TestServerLoopsStopWithTheServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, done, err := testenv.NewRedis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done()

	t.Run("finishes work in flight", func(t *testing.T) {
		srv := queue.NewServer(r.Asynq, queue.ServerOptions{Concurrency: 1, TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
		var started, finished atomic.Bool
		srv.Go(func(ctx context.Context, stopping <-chan struct{}) {
			started.Store(true)
			<-stopping
			select { // work in flight after the stop signal
			case <-time.After(200 * time.Millisecond):
				finished.Store(true)
			case <-ctx.Done():
			}
		})
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for !started.Load() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if !started.Load() {
			t.Fatal("the loop did not start with the server")
		}
		srv.Shutdown()
		if !finished.Load() {
			t.Fatal("Shutdown returned before the loop's work in flight finished")
		}
	})

	t.Run("cuts work past the timeout", func(t *testing.T) {
		srv := queue.NewServer(r.Asynq, queue.ServerOptions{Concurrency: 1, TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: 300 * time.Millisecond})
		var cut atomic.Bool
		srv.Go(func(ctx context.Context, stopping <-chan struct{}) {
			<-stopping
			select {
			case <-time.After(time.Minute):
			case <-ctx.Done():
				cut.Store(true)
			}
		})
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		srv.Shutdown()
		if !cut.Load() {
			t.Fatal("the loop's context was not cancelled at the shutdown timeout")
		}
		if took := time.Since(begin); took > 10*time.Second {
			t.Fatalf("Shutdown took %s", took)
		}
	})
}
