package outbox

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A message recorded in the caller's transaction is not sent while the
// transaction is open (a pump runs meanwhile and sends other work), is sent
// after the commit and AfterCommit, and its result hook finds the caller's
// row committed. Idempotency keys and validation work as in Enqueue.
func TestEnqueueTxSendsOnlyAfterCommit(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	contact := uuid.New()
	var hookSawRow atomic.Int32 // 0 no result yet, 1 row seen, 2 row missing
	f.ob.OnResult("tx", func(ctx context.Context, r Result) error {
		var n int
		if err := env.DB.InTenant(ctx, r.TenantID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE tenant_id = $1 AND id = $2`, r.TenantID, contact).Scan(&n)
		}); err != nil {
			return err
		}
		hookSawRow.Store(map[bool]int32{true: 1, false: 2}[n == 1])
		return nil
	})
	other := f.startedUser("Bob")
	m := f.text(f.user.ID, "after commit", Live)
	m.Kind, m.IdempotencyKey = "tx", "reply-1"
	var id uuid.UUID
	err := env.DB.InTenant(ctx, f.tenant, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO contacts (id, tenant_id, tg_user_id, first_name) VALUES ($1, $2, 424242, 'x')`, contact, f.tenant); err != nil {
			return err
		}
		var err error
		if id, err = f.ob.EnqueueTx(ctx, tx, m); err != nil {
			return err
		}
		if again, err := f.ob.EnqueueTx(ctx, tx, m); err != nil || again != id {
			t.Errorf("repeat with the same key = %s, %v; want %s", again, err, id)
		}
		bad := m
		bad.ChatID = 0
		if _, err := f.ob.EnqueueTx(ctx, tx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("invalid message: err = %v, want ErrInvalid", err)
		}
		// A pump runs while the transaction is open and sends other work.
		probe := f.enqueue(f.text(other.ID, "probe", Live))
		eventually(t, 5*time.Second, "a pump run during the transaction", func() bool { return f.row(probe).Status == "sent" })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.botTexts(f.user.ID); len(got) != 0 {
		t.Fatalf("sent before the caller's commit: %q", got)
	}
	if err := f.ob.AfterCommit(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "sent after commit", func() bool { return f.row(id).Status == "sent" })
	eventually(t, 2*time.Second, "result hook", func() bool { return hookSawRow.Load() != 0 })
	if hookSawRow.Load() != 1 {
		t.Fatal("the result hook ran before the caller's row was committed")
	}
	if n, _ := env.Redis.Client.HLen(ctx, f.ob.keys.pending()).Result(); n != 0 {
		t.Fatalf("%d pending entries left after AfterCommit", n)
	}
	// The key of a sent message, in a later transaction: the same id, nothing new.
	err = env.DB.InTenant(ctx, f.tenant, func(tx pgx.Tx) error {
		again, err := f.ob.EnqueueTx(ctx, tx, m)
		if err == nil && again != id {
			t.Errorf("repeat after sending = %s, want %s", again, id)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ob.AfterCommit(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := f.sb.CallCount(f.bot.ID, "sendMessage"); n != 2 {
		t.Fatalf("sendMessage calls = %d, want 2 (probe and the message once)", n)
	}
}

// A crash between the caller's commit and AfterCommit only delays the
// message: the sweeper queues it after CommitGrace. A rolled-back
// transaction's message is never sent, and forgotten after StaleAfter.
func TestEnqueueTxWithoutAfterCommitIsSweptIn(t *testing.T) {
	f := newFixture(t, fixtureOpts{tune: func(o *Options) { o.CommitGrace = 200 * time.Millisecond }})
	ctx := context.Background()
	var committed, rolledBack uuid.UUID
	if err := env.DB.InTenant(ctx, f.tenant, func(tx pgx.Tx) error {
		var err error
		committed, err = f.ob.EnqueueTx(ctx, tx, f.text(f.user.ID, "committed", Live))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	errRollback := errors.New("roll back")
	if err := env.DB.InTenant(ctx, f.tenant, func(tx pgx.Tx) error {
		var err error
		if rolledBack, err = f.ob.EnqueueTx(ctx, tx, f.text(f.user.ID, "rolled back", Live)); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "committed message swept in and sent", func() bool {
		if err := f.ob.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		return f.row(committed).Status == "sent"
	})
	if got := f.botTexts(f.user.ID); len(got) != 1 || got[0] != "committed" {
		t.Fatalf("sent %q, want only the committed message", got)
	}
	k := f.ob.keys
	if ok, _ := env.Redis.Client.HExists(ctx, k.pending(), rolledBack.String()).Result(); !ok {
		t.Fatal("the rolled-back message was forgotten before StaleAfter (its transaction might still be open)")
	}
	f.ob.opts.StaleAfter = time.Millisecond // only Sweep, called here, reads it
	if err := f.ob.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := env.Redis.Client.ZCard(ctx, k.pendingAt()).Result(); n != 0 {
		t.Fatalf("%d pending entries left after StaleAfter", n)
	}
	if got := f.botTexts(f.user.ID); len(got) != 1 {
		t.Fatalf("sent %q, want only the committed message", got)
	}
}

// A failed pump run while an enqueue's kick key is outstanding (its task
// found the lease held and went away) must not leave the bot waiting for
// asynq's retry (15 s or more) with the key holding off new kicks and the
// sweeper: the run clears the key and schedules the next one itself.
func TestFailedPumpRunKicksAgain(t *testing.T) {
	f := newFixture(t, fixtureOpts{noServer: true})
	ctx := context.Background()
	var once sync.Once
	f.ob.pumpHook = func(ctx context.Context) error {
		var err error
		once.Do(func() {
			err = env.Redis.Client.Set(ctx, f.ob.keys.kick(f.bot.ID), f.ob.clock.Now().UnixMilli(), time.Minute).Err()
			if err == nil {
				err = errors.New("injected failure")
			}
		})
		return err
	}
	id := f.enqueue(f.text(f.user.ID, "after a failed run", Live))
	f.startServer()
	eventually(t, 5*time.Second, "sent after the failed run", func() bool {
		if err := f.ob.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		return f.row(id).Status == "sent"
	})
}

// A batch is recorded in its order with one sequence reservation: repeated
// keys (within the batch and from an earlier transaction) answer the first
// message's id and are sent once; nothing is sent before AfterCommit; an
// invalid message fails the whole batch and records nothing.
func TestEnqueueBatchTx(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	bob := f.startedUser("Bob")
	var earlier uuid.UUID
	if err := env.DB.InTenant(ctx, f.tenant, func(tx pgx.Tx) error {
		m := f.text(bob.ID, "earlier", Bulk)
		m.IdempotencyKey = "k-earlier"
		var err error
		earlier, err = f.ob.EnqueueTx(ctx, tx, m)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	keyed := func(chat int64, text, key string) Message {
		m := f.text(chat, text, Bulk)
		m.IdempotencyKey = key
		return m
	}
	batch := []Message{
		keyed(f.user.ID, "one", "k1"),
		f.text(f.user.ID, "two", Bulk),
		keyed(f.user.ID, "one again", "k1"),
		keyed(bob.ID, "earlier again", "k-earlier"),
		keyed(f.user.ID, "three", "k3"),
	}
	bad := append(append([]Message(nil), batch...), f.text(0, "no chat", Bulk))
	if err := env.DB.InTenant(ctx, f.tenant, func(tx pgx.Tx) error {
		_, err := f.ob.EnqueueBatchTx(ctx, tx, bad)
		return err
	}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("batch with an invalid message: err = %v, want ErrInvalid", err)
	}
	var got []uuid.UUID
	if err := env.DB.InTenant(ctx, f.tenant, func(tx pgx.Tx) error {
		var err error
		got, err = f.ob.EnqueueBatchTx(ctx, tx, batch)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(batch) || got[2] != got[0] || got[3] != earlier || got[0] == got[1] || got[1] == got[4] {
		t.Fatalf("ids = %v (earlier %s): want repeats of k1 and k-earlier to answer the first ids", got, earlier)
	}
	if s0, s1, s4 := f.row(got[0]).Seq, f.row(got[1]).Seq, f.row(got[4]).Seq; !(s0 < s1 && s1 < s4) {
		t.Fatalf("sequences %d, %d, %d: want the batch's order", s0, s1, s4)
	}
	if n := f.statusCounts()["queued"]; n != 4 {
		t.Fatalf("queued rows = %d, want 4 (earlier, one, two, three)", n)
	}
	time.Sleep(300 * time.Millisecond)
	if texts := f.botTexts(f.user.ID); len(texts) != 0 {
		t.Fatalf("sent before AfterCommit: %q", texts)
	}
	// A Redis that lost its script cache (a restart) still takes the batch.
	if err := env.Redis.Client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.ob.AfterCommit(ctx, append(got, earlier)...); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "batch sent", func() bool { return len(f.botTexts(f.user.ID)) == 3 && len(f.botTexts(bob.ID)) == 1 })
	if texts := f.botTexts(f.user.ID); texts[0] != "one" || texts[1] != "two" || texts[2] != "three" {
		t.Fatalf("sent %q, want one, two, three in order", texts)
	}
	if texts := f.botTexts(bob.ID); texts[0] != "earlier" {
		t.Fatalf("sent to Bob %q, want the earlier message once", texts)
	}
}
