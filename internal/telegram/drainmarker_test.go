package telegram_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/telegram"
)

func markerKey(bot, chat int64) string { return fmt.Sprintf("helpdesk:tg:dq:%d:%d", bot, chat) }

// The intake hands a chat over only when no drain is queued for it; the
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

func readyLen(t *testing.T) int64 {
	t.Helper()
	return env.Redis.Client.LLen(context.Background(), "helpdesk:tg:ready").Val()
}

// The intake hands a chat to the drain workers (the ready list) only when
// no drain is queued for it, in the same script that files the update; a
// worker killed after popping a chat leaves its marker set, so later
// updates are not handed over until the sweeper (or the marker's expiry)
// steps in; a stale marker is ignored and cleared by the sweeper. Every
// update is handled.
func TestDrainHandOver(t *testing.T) {
	rec := &recSender{}
	st := newStack(t, stackOpts{sender: rec, noWorker: true})
	ctx := context.Background()
	rdb := env.Redis.Client
	// Chats an earlier test left handed over would be counted as this test's.
	rdb.Del(ctx, "helpdesk:tg:ready")
	const chat, staleChat = 820001, 820002
	mb := fmt.Sprintf("helpdesk:tg:mb:%d:%d", st.bot.ID, chat)

	_, u1 := textUpdate(chat, "u1")
	if got := st.post(st.publicID, st.secret, u1); got != 200 {
		t.Fatalf("post: %d", got)
	}
	if n := readyLen(t); n != 1 || rdb.Exists(ctx, markerKey(st.bot.ID, chat)).Val() != 1 {
		t.Fatalf("after the first update: %d chats handed over (marker %d), want 1 and set", n,
			rdb.Exists(ctx, markerKey(st.bot.ID, chat)).Val())
	}
	// A drain is queued: the next update of the chat rides on it.
	_, u2 := textUpdate(chat, "u2")
	if got := st.post(st.publicID, st.secret, u2); got != 200 {
		t.Fatalf("post: %d", got)
	}
	if n := readyLen(t); n != 1 {
		t.Fatalf("%d chats handed over, want 1: a queued drain reads the second update", n)
	}

	// A worker pops the chat and dies before clearing the marker: later
	// updates (and Telegram's retries) are filed but not handed over.
	if err := rdb.RPop(ctx, "helpdesk:tg:ready").Err(); err != nil {
		t.Fatal(err)
	}
	_, u3 := textUpdate(chat, "u3")
	for range 2 {
		if got := st.post(st.publicID, st.secret, u3); got != 200 {
			t.Fatalf("post: %d", got)
		}
	}
	if n := readyLen(t); n != 0 {
		t.Fatalf("%d chats handed over while the marker was set", n)
	}
	// A stale marker on another chat: its update is filed, not handed over.
	if err := rdb.Set(ctx, markerKey(st.bot.ID, staleChat), "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, u4 := textUpdate(staleChat, "u4")
	if got := st.post(st.publicID, st.secret, u4); got != 200 {
		t.Fatalf("post: %d", got)
	}
	if n := rdb.ZCard(ctx, mb).Val(); n != 3 {
		t.Fatalf("mailbox holds %d updates, want 3", n)
	}
	// The sweeper hands both orphans over and clears their markers.
	if err := st.proc.HandleSweep(ctx, telegram.NewSweepTask()); err != nil {
		t.Fatal(err)
	}
	if n := readyLen(t); n != 2 {
		t.Fatalf("the sweeper handed over %d chats, want 2", n)
	}
	for _, c := range []int64{chat, staleChat} {
		if rdb.Exists(ctx, markerKey(st.bot.ID, c)).Val() != 0 {
			t.Fatalf("the sweeper left chat %d's marker set", c)
		}
	}

	st.startWorker()
	eventually(t, 10*time.Second, "all updates handled", func() bool {
		return len(rec.texts(chat)) >= 3 && len(rec.texts(staleChat)) >= 1
	})
	eventually(t, 5*time.Second, "the ready list emptied", func() bool { return readyLen(t) == 0 })
	if n := rdb.ZCard(ctx, mb).Val(); n != 0 {
		t.Fatalf("%d updates left in the mailbox", n)
	}

	// A marker that expired with its drain gone: Telegram's retry of an
	// update still in the mailbox (a duplicate) hands the chat over again.
	st.srv.Shutdown()
	_, u5 := textUpdate(chat, "u5")
	if got := st.post(st.publicID, st.secret, u5); got != 200 {
		t.Fatalf("post: %d", got)
	}
	if err := rdb.Del(ctx, "helpdesk:tg:ready", markerKey(st.bot.ID, chat)).Err(); err != nil {
		t.Fatal(err)
	}
	if got := st.post(st.publicID, st.secret, u5); got != 200 {
		t.Fatalf("retry: %d", got)
	}
	if n := readyLen(t); n != 1 {
		t.Fatalf("a retried duplicate with updates waiting handed over %d chats, want 1", n)
	}
	// Leave nothing for the next test's workers.
	rdb.Del(ctx, "helpdesk:tg:ready", markerKey(st.bot.ID, chat), mb)
}
