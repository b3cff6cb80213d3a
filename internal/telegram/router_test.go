package telegram_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/telegram"
)

func mailboxKeys(t *testing.T) []string {
	t.Helper()
	keys, err := env.Redis.Client.Keys(context.Background(), "helpdesk:tg:mb:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestWebhookRefusals(t *testing.T) {
	st := newStack(t, stackOpts{noWorker: true})
	_, good := textUpdate(42, "hi")
	big := []byte(`{"update_id": 5, "message": {"text": "` + strings.Repeat("x", 70<<10) + `"}}`)
	before := len(mailboxKeys(t))
	cases := []struct {
		name     string
		publicID string
		secret   string
		body     []byte
		want     int
	}{
		{"unknown bot", "no-such-bot", st.secret, good, 404},
		{"wrong secret", st.publicID, "wrong", good, 401},
		{"missing secret", st.publicID, "", good, 401},
		{"secret of the right length but wrong", st.publicID, strings.Repeat("a", len(st.secret)), good, 401},
		{"not json", st.publicID, st.secret, []byte(`{"update_id": `), 400},
		{"no update_id", st.publicID, st.secret, []byte(`{"message": {}}`), 400},
		{"zero update_id", st.publicID, st.secret, []byte(`{"update_id": 0}`), 400},
		{"trailing garbage", st.publicID, st.secret, []byte(`{"update_id": 9} x`), 400},
		{"oversized", st.publicID, st.secret, big, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := st.post(tc.publicID, tc.secret, tc.body); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
			if n := len(mailboxKeys(t)); n != before {
				t.Fatalf("a refused request filed an update (%d mailboxes)", n)
			}
		})
	}
}

func TestWebhookDropsDuplicates(t *testing.T) {
	st := newStack(t, stackOpts{noWorker: true})
	_, raw := textUpdate(4242, "once")
	for i := 0; i < 3; i++ {
		if got := st.post(st.publicID, st.secret, raw); got != 200 {
			t.Fatalf("post %d: %d", i, got)
		}
	}
	n, err := env.Redis.Client.ZCard(context.Background(), fmt.Sprintf("helpdesk:tg:mb:%d:4242", st.bot.ID)).Result()
	if err != nil || n != 1 {
		t.Fatalf("mailbox holds %d updates (%v), want 1", n, err)
	}
}

// orderSender records, per chat, the texts replied to, in the order the
// handler produced them.
type orderRecorder struct {
	mu  sync.Mutex
	got map[int64][]string
}

func (o *orderRecorder) add(chat int64, s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got[chat] = append(o.got[chat], s)
}

// 50 chats post 20 messages each, one after another, to the real webhook
// route; 8 workers with random handler delays; every chat is handled in
// the order it sent.
func TestPerChatOrderUnderConcurrency(t *testing.T) {
	rec := &recSender{}
	st := newStack(t, stackOpts{sender: rec, concurrency: 8})
	order := &orderRecorder{got: map[int64][]string{}}
	st.proc.SetFallback(func(ctx context.Context, in *telegram.Inbound) error {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		order.add(in.ChatID, in.Text)
		return in.Reply(ctx, "echo "+in.Text, nil)
	})
	const chats, perChat = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, chats)
	for c := 0; c < chats; c++ {
		wg.Add(1)
		go func(chat int64) {
			defer wg.Done()
			for i := 0; i < perChat; i++ {
				_, raw := textUpdate(chat, fmt.Sprintf("m%02d", i))
				if got := st.post(st.publicID, st.secret, raw); got != 200 {
					errs <- fmt.Errorf("chat %d msg %d: %d", chat, i, got)
					return
				}
			}
		}(int64(900000 + c))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Live updates are handled at least once: a handler retried after a
	// transient failure handles the same head update again, so a repeat
	// can only stand right after itself. Order is what must hold.
	distinct := func(v []string) []string {
		var out []string
		for _, s := range v {
			if len(out) == 0 || out[len(out)-1] != s {
				out = append(out, s)
			}
		}
		return out
	}
	eventually(t, 45*time.Second, "all messages handled", func() bool {
		order.mu.Lock()
		defer order.mu.Unlock()
		for c := 0; c < chats; c++ {
			if len(distinct(order.got[int64(900000+c)])) < perChat {
				return false
			}
		}
		return true
	})
	repeats := 0
	for c := 0; c < chats; c++ {
		chat := int64(900000 + c)
		order.mu.Lock()
		all := append([]string(nil), order.got[chat]...)
		order.mu.Unlock()
		got := distinct(all)
		repeats += len(all) - len(got)
		for i := 0; i < perChat; i++ {
			if i >= len(got) || got[i] != fmt.Sprintf("m%02d", i) {
				t.Fatalf("chat %d handled out of order: %v", chat, all)
			}
		}
		if len(got) != perChat {
			t.Fatalf("chat %d handled %d messages, want %d: %v", chat, len(got), perChat, got)
		}
		// The outbox drops a repeat by its idempotency key; this fake
		// records it, so compare repeat-free.
		replies := distinct(rec.texts(chat))
		for i, r := range replies {
			if r != fmt.Sprintf("sendMessage:echo m%02d", i) {
				t.Fatalf("chat %d replies out of order: %v", chat, replies)
			}
		}
	}
	t.Logf("%d updates handled again after a transient failure", repeats)
}

// A worker dies holding a chat's lock mid-update (its lock stays until the
// TTL; the update is still in the mailbox because it is removed only after
// handling). Nothing is lost: once the lock expires the sweeper re-drains.
func TestKilledWorkerLosesNothing(t *testing.T) {
	rec := &recSender{}
	st := newStack(t, stackOpts{sender: rec, noWorker: true, procOpts: telegram.ProcessorOptions{LockTTL: 300 * time.Millisecond}})
	ctx := context.Background()
	const chat = 31337
	// The dead worker's lock (nobody renews it).
	lock := fmt.Sprintf("helpdesk:tg:lock:%d:%d", st.bot.ID, chat)
	if err := env.Redis.Client.Set(ctx, lock, "dead-worker", 700*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, raw := textUpdate(chat, fmt.Sprintf("k%d", i))
		if got := st.post(st.publicID, st.secret, raw); got != 200 {
			t.Fatalf("post: %d", got)
		}
	}
	st.startWorker()
	// The drain the webhook handed over finds the lock held and exits.
	eventually(t, 5*time.Second, "the handed-over drain to give up", func() bool {
		return readyLen(t) == 0 && env.Redis.Client.Exists(ctx, markerKey(st.bot.ID, chat)).Val() == 0
	})
	if n := len(rec.texts(chat)); n != 0 {
		t.Fatalf("handled %d updates while another worker held the chat", n)
	}
	eventually(t, 5*time.Second, "dead lock expiry", func() bool {
		return env.Redis.Client.Exists(ctx, lock).Val() == 0
	})
	// The sweeper (run by the scheduler in production) finds the orphan.
	if err := st.proc.HandleSweep(ctx, telegram.NewSweepTask()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "re-drained updates", func() bool { return len(rec.texts(chat)) == 3 })
	want := []string{"sendMessage:" + textValues[telegram.TextGreeting]}
	if got := rec.texts(chat); got[0] != want[0] {
		t.Fatalf("replies %v", got)
	}
}
