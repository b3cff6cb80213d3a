package outbox

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/redisconn"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// Invariant 3: 30 messages to one chat arrive in the order produced while
// the sandbox answers 429 again and again (its own flood limit, which the
// outbox is deliberately configured above, plus injected 429s). 429s are
// waits, never failures.
func TestOrderPreservedUnder429Storm(t *testing.T) {
	clk := newFastClock(20)
	sbl := tgsandbox.DefaultLimits()
	f := newFixture(t, fixtureOpts{sandboxLimits: &sbl, clock: clk, clockRate: 20,
		limits: Limits{PrivatePerSecond: 4, PrivateBurst: 6}})
	if err := f.sb.FailNext(tgsandbox.Fault{BotID: f.bot.ID, Method: "sendMessage", Times: 3, Code: 429, RetryAfter: 1}); err != nil {
		t.Fatal(err)
	}
	want := texts("order", 30)
	var ids []uuid.UUID
	for _, s := range want {
		ids = append(ids, f.enqueue(f.text(f.user.ID, s, Live)))
	}
	eventually(t, 20*time.Second, "30 messages delivered", func() bool { return len(f.botTexts(f.user.ID)) >= 30 })
	if got := f.botTexts(f.user.ID); !slices.Equal(got, want) {
		t.Fatalf("transcript order:\n got %q\nwant %q", got, want)
	}
	throttled := 0
	for _, id := range ids {
		r := f.row(id)
		if r.Status != "sent" {
			t.Errorf("message %s status %q, want sent", id, r.Status)
		}
		throttled += r.Throttled
	}
	n429 := 0
	for _, c := range f.rec.snapshot() {
		if c.status == 429 {
			n429++
		}
	}
	if n429 < 4 || throttled != n429 {
		t.Fatalf("429 answers %d, throttled counted %d: want a storm (>= 4) all counted as throttled", n429, throttled)
	}
}

// Outcomes for a 200, a 429 and a 403: the 429 pauses the destination for
// exactly retry_after and is not a failure; the 403 marks the bot chat
// unreachable with an event; Stats report them; hooks hear final results.
func TestOutcomes200And429And403(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	var mu sync.Mutex
	results := map[uuid.UUID]Result{}
	f.ob.OnResult("test", func(_ context.Context, r Result) error {
		mu.Lock()
		results[r.ID] = r
		mu.Unlock()
		return nil
	})

	ok := f.enqueue(f.text(f.user.ID, "hello", Live))
	eventually(t, 5*time.Second, "first send", func() bool { return f.row(ok).Status == "sent" })

	if err := f.sb.FailNext(tgsandbox.Fault{BotID: f.bot.ID, Method: "sendMessage", Times: 1, Code: 429, RetryAfter: 1}); err != nil {
		t.Fatal(err)
	}
	throttled := f.enqueue(f.text(f.user.ID, "after a pause", Live))
	eventually(t, 5*time.Second, "throttled message sent", func() bool { return f.row(throttled).Status == "sent" })
	r := f.row(throttled)
	if r.Throttled != 1 || r.Attempts != 2 || r.Code != nil {
		t.Fatalf("throttled row = %+v, want sent after one throttled attempt", r)
	}
	var at429, atNext time.Time
	for _, c := range f.rec.snapshot() {
		if c.method == "sendMessage" && c.status == 429 {
			at429 = c.at
		} else if c.method == "sendMessage" && !at429.IsZero() && atNext.IsZero() {
			atNext = c.at
		}
	}
	if gap := atNext.Sub(at429); gap < time.Second || gap > 1500*time.Millisecond {
		t.Fatalf("pause after a 429 with retry_after 1 = %s, want 1 s (+ queue latency)", gap)
	}

	if err := f.sb.BlockBot(f.user.ID, f.bot.ID); err != nil {
		t.Fatal(err)
	}
	blocked := f.enqueue(f.text(f.user.ID, "are you there?", Live))
	eventually(t, 5*time.Second, "blocked outcome", func() bool { return f.row(blocked).Status == "blocked" })
	var reachable, unsubscribed bool
	var blockedAt *time.Time
	if err := env.Owner.QueryRow(ctx, `SELECT reachable, unsubscribed, blocked_at FROM bot_chats WHERE bot_id = $1 AND chat_id = $2`,
		f.bot.ID, f.user.ID).Scan(&reachable, &unsubscribed, &blockedAt); err != nil {
		t.Fatal(err)
	}
	if reachable || !unsubscribed || blockedAt == nil {
		t.Fatalf("bot chat after 403: reachable=%v unsubscribed=%v blocked_at=%v", reachable, unsubscribed, blockedAt)
	}
	var events int
	if err := env.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE tenant_id = $1 AND type = 'bot_blocked'`, f.tenant).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Fatalf("bot_blocked events = %d, want 1", events)
	}

	missing := f.enqueue(f.text(987654321, "nobody", Live))
	eventually(t, 5*time.Second, "chat not found outcome", func() bool { return f.row(missing).Status == "failed" })

	stats, err := f.ob.Stats(ctx, f.tenant, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].Sent != 2 || stats[0].Throttled != 1 || stats[0].Blocked != 1 || stats[0].Failed != 1 {
		t.Fatalf("stats = %+v, want sent 2, throttled 1, blocked 1, failed 1", stats)
	}
	eventually(t, 2*time.Second, "hooks", func() bool { mu.Lock(); defer mu.Unlock(); return len(results) == 4 })
	mu.Lock()
	defer mu.Unlock()
	if res := results[ok]; res.Status != "sent" || len(res.MessageIDs) != 1 || res.MessageIDs[0] == 0 {
		t.Errorf("hook result for a send = %+v, want the Telegram message id", res)
	}
	if res := results[missing]; !res.ChatNotFound() {
		t.Errorf("hook result for a missing chat = %+v, want ChatNotFound", res)
	}
	if res := results[blocked]; res.Status != "blocked" || res.ErrorCode != 403 {
		t.Errorf("hook result for a blocked chat = %+v", res)
	}
}

// Invariant 4: with a backlog of bulk messages on a bot, a live message is
// the next one sent (at most the call already in flight goes before it).
func TestLivePreemptsBulkBacklog(t *testing.T) {
	f := newFixture(t, fixtureOpts{limits: Limits{BotPerSecond: 20, BotBurst: 1}})
	var users []tgsandbox.User
	for i := range 40 {
		users = append(users, f.startedUser(fmt.Sprintf("U%02d", i)))
	}
	for i, u := range users {
		f.enqueue(f.text(u.ID, fmt.Sprintf("bulk %02d", i), Bulk))
	}
	eventually(t, 5*time.Second, "bulk under way", func() bool { return len(f.rec.snapshot()) >= 4 })
	before := len(f.rec.snapshot())
	f.enqueue(f.text(f.user.ID, "live reply", Live))
	eventually(t, 5*time.Second, "live sent", func() bool { return len(f.botTexts(f.user.ID)) == 1 })
	calls := f.rec.snapshot()
	pos := slices.IndexFunc(calls, func(c call) bool { return strings.Contains(c.body, "live reply") })
	if pos > before+1 {
		t.Fatalf("live message was call %d; %d calls had been made when it was enqueued: bulk went first", pos, before)
	}
	if pos >= 30 {
		t.Fatalf("the bulk backlog was already drained (%d calls) — the test proves nothing", pos)
	}
}

// Invariant 4: 25 messages to a group under Telegram's 20 per minute (a
// fast shared clock makes the minute 2 s) arrive in order with no 429.
func TestGroupBudgetAvoids429(t *testing.T) {
	clk := newFastClock(30)
	sbl := tgsandbox.DefaultLimits()
	f := newFixture(t, fixtureOpts{sandboxLimits: &sbl, clock: clk, clockRate: 30})
	g := f.sb.CreateSupergroup("Staff", f.user.ID)
	if err := f.sb.AddBotToChat(f.bot.ID, g.ID, nil); err != nil {
		t.Fatal(err)
	}
	want := texts("group", 25)
	for _, s := range want {
		f.enqueue(f.text(g.ID, s, Live))
	}
	eventually(t, 20*time.Second, "25 group messages", func() bool { return len(f.botTexts(g.ID)) >= 25 })
	if got := f.botTexts(g.ID); !slices.Equal(got, want) {
		t.Fatalf("group order:\n got %q\nwant %q", got, want)
	}
	for _, c := range f.rec.snapshot() {
		if c.status == 429 {
			t.Fatalf("the outbox triggered a 429 itself: %+v", c)
		}
	}
	if n := f.sb.CallCount(f.bot.ID, "sendMessage"); n != 25 {
		t.Fatalf("sendMessage calls = %d, want 25 (none repeated)", n)
	}
}

// Invariant 2: a worker stopped abruptly mid-drain (no grace: asynq
// cancels the pump's context at once, aborting the call in flight) loses
// nothing; a second worker finishes the queue in order, repeating at most
// the interrupted live call.
func TestStoppedWorkerLosesNothing(t *testing.T) {
	f := newFixture(t, fixtureOpts{shutdown: time.Millisecond, limits: Limits{PrivatePerSecond: 200, PrivateBurst: 50}})
	f.sb.SetLatency(f.bot.ID, "sendMessage", 40*time.Millisecond)
	want := texts("kill", 20)
	var ids []uuid.UUID
	for _, s := range want {
		ids = append(ids, f.enqueue(f.text(f.user.ID, s, Live)))
	}
	eventually(t, 5*time.Second, "a few sent", func() bool { return len(f.botTexts(f.user.ID)) >= 3 })
	f.srv.Shutdown()
	f.srv = nil
	if n := len(f.botTexts(f.user.ID)); n >= 20 {
		t.Fatalf("all %d sent before the stop; the test proves nothing", n)
	}
	f.startServer()
	eventually(t, 20*time.Second, "all rows finished", func() bool { return f.statusCounts()["sent"] == 20 })
	got := f.botTexts(f.user.ID)
	var firsts []string
	for _, s := range got {
		if !slices.Contains(firsts, s) {
			firsts = append(firsts, s)
		}
	}
	if !slices.Equal(firsts, want) {
		t.Fatalf("after restart:\n got %q\nwant %q", got, want)
	}
	if len(got) > 21 {
		t.Fatalf("%d messages for 20 produced: more than the one interrupted call repeated", len(got))
	}
}

// Invariant 2: a pump that died between 'sending' and the outcome leaves
// rows that are resolved, never guessed: the bulk one is reported unknown
// and not sent again; the live one is sent (at least once) and flagged. The
// next pump takes the dead one's sends over as soon as it gets the lease,
// not after a deadline derived from CallTimeout (here 5 s: the deadline
// used to be 2×5+10 = 20 s away), and before a backlog of other work.
func TestDeadPumpResolvesInterruptedCalls(t *testing.T) {
	f := newFixture(t, fixtureOpts{noServer: true, limits: Limits{BotPerSecond: 5, BotBurst: 2}})
	ctx := context.Background()
	other := f.startedUser("Bob")
	live := f.enqueue(f.text(f.user.ID, "live", Live))
	bulk := f.enqueue(f.text(other.ID, "bulk", Bulk))
	// Play the dead pump: under its lease, take both calls and vanish
	// without an outcome.
	k := f.ob.keys
	dead := redisconn.NewLease(env.Redis.Client, k.lock(f.bot.ID), "dead-pump", time.Minute)
	if held, err := dead.TryAcquire(ctx); err != nil || !held {
		t.Fatalf("lease: %v %v", held, err)
	}
	now := f.ob.clock.Now()
	for range 2 {
		pk, err := f.ob.pick(ctx, f.bot.ID, "dead-pump", false, now)
		if err != nil || pk.kind != pickSend {
			t.Fatalf("pick = %+v, %v", pk, err)
		}
		id, _, _ := parseMember(pk.member)
		if _, action, err := f.ob.claim(ctx, f.tenant, id); err != nil || action != claimSend {
			t.Fatalf("claim: %v %v", action, err)
		}
	}
	// Only the lease holder picks.
	if pk, err := f.ob.pick(ctx, f.bot.ID, "someone-else", false, now); err != nil || pk.kind != pickLost {
		t.Fatalf("pick without the lease = %+v, %v; want lost", pk, err)
	}
	// A backlog of 6 s at the bot's budget: the new pump is never idle
	// before the dead pump's sends are resolved.
	for i := range 30 {
		f.enqueue(f.text(f.startedUser(fmt.Sprintf("B%02d", i)).ID, "backlog", Bulk))
	}
	// Its lease expires; the sweeper kicks the bot.
	if err := env.Redis.Client.Del(ctx, k.lock(f.bot.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	f.startServer()
	if err := f.ob.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "rows resolved", func() bool {
		return f.row(live).Status == "sent" && f.row(bulk).Status == "unknown"
	})
	if r := f.row(live); !r.MaybeDup || r.Attempts != 2 {
		t.Fatalf("live row = %+v, want maybe_duplicate after 2 attempts", r)
	}
	if got := f.botTexts(other.ID); len(got) != 0 {
		t.Fatalf("bulk message was sent again after an interrupted call: %q", got)
	}
	eventually(t, 15*time.Second, "backlog sent, nothing left in flight", func() bool {
		n, _ := env.Redis.Client.ZCard(ctx, k.inflight(f.bot.ID)).Result()
		o, _ := env.Redis.Client.HLen(ctx, k.owner(f.bot.ID)).Result()
		return n == 0 && o == 0 && f.statusCounts()["sent"] == 31
	})
}

// Invariant 2 when a pump is only stalled, not dead: its lease lapsed, a
// new pump took the message over and claimed it again; the stalled pump's
// late outcome must neither overwrite the row nor move the destination.
func TestLateOutcomeOfTakenOverCallIsDropped(t *testing.T) {
	f := newFixture(t, fixtureOpts{noServer: true})
	ctx := context.Background()
	id := f.enqueue(f.text(f.user.ID, "live", Live))
	k := f.ob.keys
	lock := func(token string) {
		if err := env.Redis.Client.Set(ctx, k.lock(f.bot.ID), token, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	lock("stalled")
	now := f.ob.clock.Now()
	pkA, err := f.ob.pick(ctx, f.bot.ID, "stalled", false, now)
	if err != nil || pkA.kind != pickSend {
		t.Fatalf("pick = %+v, %v", pkA, err)
	}
	cA, _, err := f.ob.claim(ctx, f.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	// The lease lapses and a new pump takes over.
	lock("fresh")
	if n, err := f.ob.reclaim(ctx, f.bot.ID, "fresh", false); err != nil || n != 1 {
		t.Fatalf("reclaim = %d, %v; want the stalled pump's destination", n, err)
	}
	pkB, err := f.ob.pick(ctx, f.bot.ID, "fresh", false, now)
	if err != nil || pkB.kind != pickSend {
		t.Fatalf("pick = %+v, %v", pkB, err)
	}
	if _, action, err := f.ob.claim(ctx, f.tenant, id); err != nil || action != claimSend {
		t.Fatalf("claim: %v %v", action, err)
	}
	// The stalled pump's call comes back.
	f.ob.record(ctx, cA, pkA, outcome{Status: "sent", MessageIDs: []int64{1}}, nil, 0, time.Time{})
	if r := f.row(id); r.Status != "sending" || r.Attempts != 2 || !r.MaybeDup {
		t.Fatalf("row after the late outcome = %+v, want the new pump's attempt 2 still sending", r)
	}
	if owner, _ := env.Redis.Client.HGet(ctx, k.owner(f.bot.ID), strconv.FormatInt(f.user.ID, 10)).Result(); owner != "fresh" {
		t.Fatalf("destination owner = %q, want still the new pump's", owner)
	}
	if n, _ := env.Redis.Client.ZCard(ctx, k.q(f.bot.ID, dest(f.user.ID, 0))).Result(); n != 1 {
		t.Fatalf("queue length = %d, want the message still queued for the new pump", n)
	}
	if !strings.Contains(f.logs.String(), "taken over by another pump") {
		t.Fatalf("no log line for the dropped outcome:\n%s", f.logs.String())
	}
}

// Invariant 5: even when the API is unreachable (the HTTP client's error
// names the URL, which carries the token) no token reaches the logs. Every
// fixture also checks its logs at cleanup.
func TestTokenNeverLogged(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	_ = l.Close()
	f := newFixture(t, fixtureOpts{apiURL: dead})
	id := f.enqueue(f.text(f.user.ID, "into the void", Bulk))
	eventually(t, 5*time.Second, "a failed attempt", func() bool { r := f.row(id); return r.Desc != nil })
	eventually(t, 2*time.Second, "a log line", func() bool { return strings.Contains(f.logs.String(), "outbox: call not sent") })
	secret := strings.SplitN(f.bot.Token, ":", 2)[1]
	r := f.row(id)
	if strings.Contains(*r.Desc, secret) || strings.Contains(f.logs.String(), secret) {
		t.Fatalf("token leaked: row %q", *r.Desc)
	}
	if r.Status != "queued" {
		t.Fatalf("a connection refused before sending is retried, got status %q", r.Status)
	}
}

// The same idempotency key is never sent twice.
func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	m := f.text(f.user.ID, "once", Bulk)
	m.IdempotencyKey = "campaign-1:alice"
	a := f.enqueue(m)
	eventually(t, 5*time.Second, "sent", func() bool { return f.row(a).Status == "sent" })
	b := f.enqueue(m)
	if a != b {
		t.Fatalf("second enqueue id %s, want the first %s", b, a)
	}
	// A later message to the same chat is sent after any repeat would be.
	c := f.enqueue(f.text(f.user.ID, "later", Bulk))
	eventually(t, 5*time.Second, "later sent", func() bool { return f.row(c).Status == "sent" })
	if got := f.botTexts(f.user.ID); !slices.Equal(got, []string{"once", "later"}) {
		t.Fatalf("sent %q, want once then later", got)
	}
}
