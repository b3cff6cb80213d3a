package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/redisconn"
)

// The one-round-trip claim and outcome run under the tenant's row-level
// security (the app role sees the row only with app.tenant_id set), and the
// setting does not outlive the pipeline on the pooled connection.
func TestPipelinedClaimAndOutcome(t *testing.T) {
	f := newFixture(t, fixtureOpts{noServer: true})
	ctx := context.Background()
	id := f.enqueue(f.text(f.user.ID, "hello", Live))
	c, ok, err := f.ob.claimQueued(ctx, f.tenant, id)
	if err != nil || !ok {
		t.Fatalf("claimQueued = %v, %v; want the queued row claimed", ok, err)
	}
	if c.Attempts != 1 || c.Method != "sendMessage" || c.ChatID != f.user.ID {
		t.Fatalf("claimed = %+v", c)
	}
	if r := f.row(id); r.Status != "sending" || r.Attempts != 1 {
		t.Fatalf("row after claim = %+v", r)
	}
	// Not queued any more: the fast path declines, claim's slow path decides.
	if _, ok, err := f.ob.claimQueued(ctx, f.tenant, id); err != nil || ok {
		t.Fatalf("second claimQueued = %v, %v; want declined", ok, err)
	}
	if err := f.ob.finish(ctx, c, outcome{Status: "sent", MessageIDs: []int64{7}}, nil); err != nil {
		t.Fatal(err)
	}
	if r := f.row(id); r.Status != "sent" {
		t.Fatalf("row after outcome = %+v", r)
	}
	// The same outcome again: the row is no longer in that attempt.
	if err := f.ob.finish(ctx, c, outcome{Status: "sent"}, nil); err != errSuperseded {
		t.Fatalf("repeated outcome = %v; want errSuperseded", err)
	}
	// The tenant setting was local to the pipeline's implicit transaction.
	conn, err := f.ob.db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("SELECT set_config('app.tenant_id', $1, true)", f.tenant.String())
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	var after string
	if err := conn.QueryRow(ctx, "SELECT coalesce(current_setting('app.tenant_id', true), '')").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != "" {
		t.Fatalf("app.tenant_id after the pipeline = %q; want unset", after)
	}
}

// One pick for several free slots takes the calls in the order single picks
// would: the best priority first, FIFO within it, one per destination, and
// stops at the bot budget.
func TestPickSeveralInPriorityOrder(t *testing.T) {
	f := newFixture(t, fixtureOpts{noServer: true, limits: Limits{BotPerSecond: 1, BotBurst: 4}})
	ctx := context.Background()
	a, b, c := f.startedUser("A"), f.startedUser("B"), f.startedUser("C")
	bulkA := f.enqueue(f.text(a.ID, "bulk a", Bulk))
	f.enqueue(f.text(a.ID, "bulk a 2", Bulk)) // same destination: waits for the first
	bulkB := f.enqueue(f.text(b.ID, "bulk b", Bulk))
	live := f.enqueue(f.text(c.ID, "live c", Live))
	lease := redisconn.NewLease(env.Redis.Client, f.ob.keys.lock(f.bot.ID), "pump", time.Minute)
	if held, err := lease.TryAcquire(ctx); err != nil || !held {
		t.Fatalf("lease: %v %v", held, err)
	}
	ps, err := f.ob.pickN(ctx, f.bot.ID, "pump", false, f.ob.clock.Now(), 16)
	if err != nil {
		t.Fatal(err)
	}
	var got []uuid.UUID
	for _, p := range ps {
		if p.kind != pickSend {
			t.Fatalf("pick = %+v", p)
		}
		id, _, err := parseMember(p.member)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	want := []uuid.UUID{live, bulkA, bulkB}
	if len(got) != len(want) {
		t.Fatalf("picked %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("picked %v; want %v", got, want)
		}
	}
	// Everything sendable is in flight: nothing more now.
	if ps, err := f.ob.pickN(ctx, f.bot.ID, "pump", false, f.ob.clock.Now(), 16); err != nil || ps[0].kind == pickSend {
		t.Fatalf("second pick = %+v, %v; want nothing to send", ps, err)
	}
}
