package outbox

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// hookState reads a row's pending hook and failed hook runs.
func (f *fixture) hookState(id uuid.UUID) (pending bool, attempts int) {
	f.t.Helper()
	err := env.Owner.QueryRow(context.Background(),
		`SELECT hook_result IS NOT NULL, hook_attempts FROM outbox_messages WHERE id = $1`, id).Scan(&pending, &attempts)
	if err != nil {
		f.t.Fatalf("hook state %s: %v", id, err)
	}
	return pending, attempts
}

func TestHookFailingTwiceStillTakesEffect(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var calls atomic.Int32
	var got sync.Map
	f.ob.OnResult("test", func(_ context.Context, r Result) error {
		if calls.Add(1) <= 2 {
			return errors.New("database busy")
		}
		got.Store(r.ID, r)
		return nil
	})
	id := f.enqueue(f.text(f.user.ID, "hello", Live))
	eventually(t, 20*time.Second, "the hook to take effect", func() bool { _, ok := got.Load(id); return ok })
	v, _ := got.Load(id)
	r := v.(Result)
	if r.Status != "sent" || len(r.MessageIDs) != 1 || r.Kind != "test" || r.TenantID != f.tenant {
		t.Fatalf("result = %+v", r)
	}
	eventually(t, 5*time.Second, "the pending hook cleared", func() bool { p, _ := f.hookState(id); return !p })
	if _, n := f.hookState(id); n != 2 {
		t.Fatalf("hook_attempts = %d, want 2", n)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("hook ran %d times, want 3", n)
	}
	if n := f.ob.hookTasks.Load(); n < 1 {
		t.Fatal("a failed inline run was not handed to the queue")
	}
}

func TestSlowHookDoesNotDelayNextSends(t *testing.T) {
	// One call in flight per bot: a hook run in the sender would hold the
	// only slot for its whole duration.
	f := newFixture(t, fixtureOpts{tune: func(o *Options) { o.MaxInFlight = 1 }})
	started := make(chan time.Time, 4)
	f.ob.OnResult("slow", func(_ context.Context, _ Result) error {
		started <- time.Now()
		time.Sleep(2 * time.Second)
		return nil
	})
	m := f.text(f.user.ID, "first", Live)
	m.Kind = "slow"
	first := f.enqueue(m)
	var hookAt time.Time
	select {
	case hookAt = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the hook never started")
	}
	second := f.enqueue(f.text(f.user.ID, "second", Live))
	eventually(t, 10*time.Second, "the second message sent", func() bool { return f.row(second).Status == "sent" })
	if d := time.Since(hookAt); d > 1500*time.Millisecond {
		t.Fatalf("the second send waited %s behind a 2 s hook", d)
	}
	if got := f.botTexts(f.user.ID); len(got) != 2 || got[0] != "first" || got[1] != "second" {
		t.Fatalf("texts = %v", got)
	}
	eventually(t, 10*time.Second, "the slow hook finished", func() bool { p, _ := f.hookState(first); return !p })
}

func TestHookNotLostWhenEnqueueFails(t *testing.T) {
	// The process "stops" right after the outcome is recorded: the hook task
	// is never enqueued. The sweeper finds the pending hook and runs it.
	f := newFixture(t, fixtureOpts{noServer: true, tune: func(o *Options) { o.HookGrace = time.Millisecond }})
	var failEnqueue atomic.Bool
	failEnqueue.Store(true)
	f.ob.hookEnqueueHook = func(Result) error {
		if failEnqueue.Load() {
			return errors.New("process stopped")
		}
		return nil
	}
	var calls atomic.Int32
	var gotTopic atomic.Int64
	f.ob.OnResult("test", func(_ context.Context, r Result) error {
		calls.Add(1)
		gotTopic.Store(int64(len(r.MessageIDs)))
		return nil
	})
	f.startServer()
	id := f.enqueue(f.text(f.user.ID, "hello", Live))
	eventually(t, 10*time.Second, "the message sent", func() bool { return f.row(id).Status == "sent" })
	if p, _ := f.hookState(id); !p {
		t.Fatal("the sent row has no pending hook")
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("hook ran %d times before the sweep", n)
	}
	failEnqueue.Store(false)
	if err := f.ob.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the swept hook to run", func() bool { return calls.Load() == 1 })
	eventually(t, 5*time.Second, "the pending hook cleared", func() bool { p, _ := f.hookState(id); return !p })
	if gotTopic.Load() != 1 {
		t.Fatalf("swept result lost its message ids")
	}
	// A second sweep finds nothing pending: the hook is not run again.
	if err := f.ob.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a negative check: give a wrongly enqueued task time to run
	if n := calls.Load(); n != 1 {
		t.Fatalf("hook ran %d times, want 1", n)
	}
}

func TestNoHookNoPendingRow(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.ob.OnResult("other", func(context.Context, Result) error { return nil })
	id := f.enqueue(f.text(f.user.ID, "hello", Live))
	eventually(t, 10*time.Second, "the message sent", func() bool { return f.row(id).Status == "sent" })
	if p, _ := f.hookState(id); p {
		t.Fatal("a kind without hooks left a pending hook")
	}
}

func TestHookBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second}, {9, 256 * time.Second}, {10, 5 * time.Minute}, {40, 5 * time.Minute}} {
		if got := hookBackoff(tc.n); got != tc.want {
			t.Errorf("hookBackoff(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

// With a hook slot free, a result's hooks run in the sending process at
// once, with no task hop; a failed run goes to the queue (the test above).
func TestHooksRunInlineWithoutATask(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var calls atomic.Int32
	f.ob.OnResult("test", func(context.Context, Result) error { calls.Add(1); return nil })
	var sent []uuid.UUID
	for _, text := range texts("inline", 5) {
		m := f.text(f.user.ID, text, Live)
		m.Kind = "test"
		sent = append(sent, f.enqueue(m))
	}
	eventually(t, 10*time.Second, "every hook run and cleared", func() bool {
		for _, id := range sent {
			if p, _ := f.hookState(id); p {
				return false
			}
		}
		return calls.Load() == 5
	})
	if n := f.ob.hookTasks.Load(); n != 0 {
		t.Fatalf("%d hook tasks enqueued, want none (hooks run inline)", n)
	}
}
