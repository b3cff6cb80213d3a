package telegram_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tgdesk/helpdesk/internal/telegram"
)

func markerKey(bot, chat int64) string { return fmt.Sprintf("helpdesk:tg:dq:%d:%d", bot, chat) }

// The router enqueues a drain only when none is queued for the chat; the
// drain clears the marker before it looks. Each chat sends bursts of 1-4
// updates with random gaps, so they arrive while drains sit at every stage
// (marker cleared, lock held, lock released before the re-check or the
// yield after a small batch), widened by random delays; then it waits for
// its burst to be handled. No sweeper runs: the last update of a burst left
// in a mailbox with no drain coming fails the round's deadline.
func TestDrainMarkersStrandNothing(t *testing.T) {
	st := newStack(t, stackOpts{sender: &recSender{}, concurrency: 8, noWorker: true,
		procOpts: telegram.ProcessorOptions{Batch: 3}})
	var stages sync.Map // stage -> *atomic.Int64, to show the windows were hit
	telegram.SetDrainHook(st.proc, func(stage string) {
		n, _ := stages.LoadOrStore(stage, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		time.Sleep(jitter())
	})
	order := &orderRecorder{got: map[int64][]string{}}
	st.proc.SetFallback(func(_ context.Context, in *telegram.Inbound) error {
		time.Sleep(jitter())
		order.add(in.ChatID, in.Text)
		return nil
	})
	st.startWorker()

	// Handling is at least once: a repeat can only stand right after itself.
	handled := func(chat int64) []string {
		order.mu.Lock()
		defer order.mu.Unlock()
		var out []string
		for _, s := range order.got[chat] {
			if len(out) == 0 || out[len(out)-1] != s {
				out = append(out, s)
			}
		}
		return out
	}
	const chats, rounds = 30, 15
	var wg sync.WaitGroup
	var total atomic.Int64
	errs := make(chan error, chats)
	for c := 0; c < chats; c++ {
		wg.Add(1)
		go func(chat int64) {
			defer wg.Done()
			sent := 0
			for r := 0; r < rounds; r++ {
				for k := 1 + rand.IntN(4); k > 0; k-- {
					time.Sleep(time.Duration(rand.IntN(2500)) * time.Microsecond)
					_, raw := textUpdate(chat, fmt.Sprintf("m%03d", sent))
					if got := st.post(st.publicID, st.secret, raw); got != 200 {
						errs <- fmt.Errorf("chat %d msg %d: %d", chat, sent, got)
						return
					}
					sent++
				}
				deadline := time.Now().Add(10 * time.Second)
				for len(handled(chat)) < sent {
					if time.Now().After(deadline) {
						ctx := context.Background()
						n := env.Redis.Client.ZCard(ctx, fmt.Sprintf("helpdesk:tg:mb:%d:%d", st.bot.ID, chat)).Val()
						errs <- fmt.Errorf("chat %d round %d: %d of %d updates handled, %d stranded in its mailbox (marker set: %d)",
							chat, r, len(handled(chat)), sent, n, env.Redis.Client.Exists(ctx, markerKey(st.bot.ID, chat)).Val())
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
			total.Add(int64(sent))
			for i, s := range handled(chat) {
				if s != fmt.Sprintf("m%03d", i) {
					errs <- fmt.Errorf("chat %d handled out of order: %v", chat, handled(chat))
					return
				}
			}
		}(int64(810000 + c))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, s := range []string{"cleared", "locked", "released"} {
		n, ok := stages.Load(s)
		if !ok || n.(*atomic.Int64).Load() == 0 {
			t.Fatalf("no drain passed stage %q", s)
		}
	}
	c, _ := stages.Load("cleared")
	t.Logf("%d updates in %d bursts, %d drains", total.Load(), chats*rounds, c.(*atomic.Int64).Load())
}

// jitter is mostly short, sometimes longer than a worker's poll, so that
// other drains of the chat meet a held lock.
func jitter() time.Duration {
	if rand.IntN(10) == 0 {
		return time.Duration(5000+rand.IntN(15000)) * time.Microsecond
	}
	return time.Duration(rand.IntN(1500)) * time.Microsecond
}

// flakyQueue fails enqueues while fail is set and counts the calls.
type flakyQueue struct {
	telegram.Enqueuer
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *flakyQueue) Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) error {
	f.calls.Add(1)
	if f.fail.Load() {
		return errors.New("queue down")
	}
	return f.Enqueuer.Enqueue(ctx, task, opts...)
}

// A request sets the marker and its enqueue fails: the marker is cleared
// and the answer is 503, so Telegram's retry (a duplicate) enqueues the
// drain; while a drain is queued later updates skip the enqueue; a stale
// marker (a worker killed before clearing it) is ignored and cleared by the
// sweeper. Every update is handled.
func TestDrainMarkerAfterFailedEnqueue(t *testing.T) {
	fq := &flakyQueue{}
	rec := &recSender{}
	st := newStack(t, stackOpts{sender: rec, noWorker: true,
		routerQueue: func(q telegram.Enqueuer) telegram.Enqueuer { fq.Enqueuer = q; return fq }})
	ctx := context.Background()
	rdb := env.Redis.Client
	insp := asynq.NewInspector(env.Redis.Asynq)
	defer insp.Close()
	pending := func() int {
		t.Helper()
		qi, err := insp.GetQueueInfo("updates")
		if err != nil {
			return 0 // the queue does not exist until a task was enqueued
		}
		return qi.Pending
	}
	// Drains an earlier test left queued (a yield after its last batch)
	// would be counted as this test's.
	_, _ = insp.DeleteAllPendingTasks("updates")
	const chat, staleChat = 820001, 820002
	mb := fmt.Sprintf("helpdesk:tg:mb:%d:%d", st.bot.ID, chat)

	fq.fail.Store(true)
	_, u1 := textUpdate(chat, "u1")
	if got := st.post(st.publicID, st.secret, u1); got != 503 {
		t.Fatalf("failed enqueue answered %d, want 503", got)
	}
	if n := rdb.ZCard(ctx, mb).Val(); n != 1 {
		t.Fatalf("mailbox holds %d updates, want 1 (filed before the enqueue)", n)
	}
	if rdb.Exists(ctx, markerKey(st.bot.ID, chat)).Val() != 0 {
		t.Fatal("the marker of a failed enqueue was left set: later updates would not enqueue a drain")
	}
	if pending() != 0 {
		t.Fatal("a drain is queued although the enqueue failed")
	}

	// Telegram retries the refused update: a duplicate, but its mailbox
	// still holds updates and no drain is queued, so it enqueues one.
	fq.fail.Store(false)
	if got := st.post(st.publicID, st.secret, u1); got != 200 {
		t.Fatalf("retry answered %d", got)
	}
	if pending() != 1 || rdb.Exists(ctx, markerKey(st.bot.ID, chat)).Val() != 1 {
		t.Fatalf("retry queued %d drains (marker %d), want 1 and set", pending(), rdb.Exists(ctx, markerKey(st.bot.ID, chat)).Val())
	}

	// A drain is queued: the next update of the chat does not enqueue.
	fq.fail.Store(true)
	calls := fq.calls.Load()
	_, u2 := textUpdate(chat, "u2")
	if got := st.post(st.publicID, st.secret, u2); got != 200 {
		t.Fatalf("update with a drain queued answered %d", got)
	}
	if fq.calls.Load() != calls {
		t.Fatal("enqueued a drain although one was queued")
	}
	fq.fail.Store(false)

	// A stale marker: its drain died before clearing it. The update is
	// filed and acknowledged without an enqueue; the sweeper drains it.
	if err := rdb.Set(ctx, markerKey(st.bot.ID, staleChat), "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, u3 := textUpdate(staleChat, "u3")
	if got := st.post(st.publicID, st.secret, u3); got != 200 {
		t.Fatalf("post: %d", got)
	}
	if pending() != 1 {
		t.Fatalf("%d drains queued, want 1", pending())
	}
	if err := st.proc.HandleSweep(ctx, telegram.NewSweepTask()); err != nil {
		t.Fatal(err)
	}
	if rdb.Exists(ctx, markerKey(st.bot.ID, staleChat)).Val() != 0 {
		t.Fatal("the sweeper left a stale marker on an orphaned mailbox")
	}

	st.startWorker()
	eventually(t, 10*time.Second, "all updates handled", func() bool {
		return len(rec.texts(chat)) >= 2 && len(rec.texts(staleChat)) >= 1
	})
	if n := rdb.ZCard(ctx, mb).Val(); n != 0 {
		t.Fatalf("%d updates left in the mailbox", n)
	}
}
