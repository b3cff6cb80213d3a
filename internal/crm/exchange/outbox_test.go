package exchange_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm/exchange"
)

func publish(t *testing.T, tenant uuid.UUID, typ string, payload any) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	err := env.DB.InTenant(context.Background(), tenant, func(tx pgx.Tx) error {
		var err error
		id, err = exchange.Publish(context.Background(), tx, tenant, typ, payload)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pullUntil pulls (HTTP) until n events arrived after the cursor or the
// deadline passes: events become visible once every older transaction in
// the database has ended.
func (r *rig) pullUntil(key, after string, limit, n int) exchange.Page {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var page exchange.Page
		path := fmt.Sprintf("/api/v1/exchange/events?after=%s&limit=%d", after, limit)
		if code, raw := r.call("GET", path, key, nil, &page); code != 200 {
			r.t.Fatalf("pull: %d %s", code, raw)
		}
		if len(page.Events) >= n || time.Now().After(deadline) {
			return page
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func types(p exchange.Page) []string {
	var out []string
	for _, e := range p.Events {
		out = append(out, e.Type)
	}
	return out
}

func TestOutboxCursorPagingAndAck(t *testing.T) {
	r := newRig(t)
	tenant, key := r.tenant("Vending")
	var idsOf []uuid.UUID
	for i := 1; i <= 5; i++ {
		idsOf = append(idsOf, publish(t, tenant, exchange.EventFeedbackCreated, map[string]any{"n": i, "terminal_id": "T-17"}))
	}
	p1 := r.pullUntil(key, "", 2, 2)
	if len(p1.Events) != 2 || p1.Events[0].ID != idsOf[0] || p1.Events[1].ID != idsOf[1] || p1.NextCursor != p1.Events[1].Cursor {
		t.Fatalf("first page: %+v", p1)
	}
	if string(p1.Events[0].Payload) != `{"n":1,"terminal_id":"T-17"}` {
		t.Fatalf("payload %s", p1.Events[0].Payload)
	}
	p2 := r.pullUntil(key, p1.NextCursor, 2, 2)
	if len(p2.Events) != 2 || p2.Events[0].ID != idsOf[2] || p2.Events[1].ID != idsOf[3] {
		t.Fatalf("second page: %+v", p2)
	}
	// Acknowledge the first page only.
	var ack struct{ Acknowledged int64 }
	if code, raw := r.call("POST", "/api/v1/exchange/events/ack", key, map[string]any{"cursor": p1.NextCursor}, &ack); code != 200 || ack.Acknowledged != 2 {
		t.Fatalf("ack: %d %s", code, raw)
	}
	// From the start again: acknowledged events are gone, unacknowledged
	// ones (3, 4, 5) come back.
	again := r.pullUntil(key, "", 10, 3)
	if len(again.Events) != 3 || again.Events[0].ID != idsOf[2] || again.Events[2].ID != idsOf[4] {
		t.Fatalf("after ack: %+v", again)
	}
	// Acknowledge 5 by id, then 3 and 4 by cursor; twice is harmless.
	r.call("POST", "/api/v1/exchange/events/ack", key, map[string]any{"ids": []uuid.UUID{idsOf[4]}}, &ack)
	if ack.Acknowledged != 1 {
		t.Fatalf("ack by id: %d", ack.Acknowledged)
	}
	r.call("POST", "/api/v1/exchange/events/ack", key, map[string]any{"cursor": p2.NextCursor}, &ack)
	if ack.Acknowledged != 2 {
		t.Fatalf("ack 3 and 4: %d", ack.Acknowledged)
	}
	r.call("POST", "/api/v1/exchange/events/ack", key, map[string]any{"cursor": p2.NextCursor}, &ack)
	if ack.Acknowledged != 0 {
		t.Fatalf("ack again: %d", ack.Acknowledged)
	}
	var empty exchange.Page
	r.call("GET", "/api/v1/exchange/events", key, nil, &empty)
	if len(empty.Events) != 0 || empty.NextCursor != "0" {
		t.Fatalf("all acknowledged: %+v", empty)
	}
	// Bad requests name their field.
	for _, tc := range []struct{ method, path, body, field string }{
		{"GET", "/api/v1/exchange/events?after=xyz", "", "after"},
		{"GET", "/api/v1/exchange/events?limit=0", "", "limit"},
		{"GET", "/api/v1/exchange/events?limit=5000", "", "limit"},
		{"POST", "/api/v1/exchange/events/ack", `{}`, "cursor"},
		{"POST", "/api/v1/exchange/events/ack", `{"cursor":"1-x"}`, "cursor"},
		{"POST", "/api/v1/exchange/events/ack", `{"cursor":"-5"}`, "cursor"},
		{"POST", "/api/v1/exchange/events/ack", `{"ids":["nope"]}`, "ids[0]"},
	} {
		var p problemBody
		var body any
		if tc.body != "" {
			body = tc.body
		}
		code, raw := r.call(tc.method, tc.path, key, body, &p)
		if code != 422 || len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, code, raw)
		}
	}
}

// A transaction that published first but commits last cannot land behind
// a cursor: while it is open, later committed events are held back.
func TestOutboxSlowTransactionIsNotSkipped(t *testing.T) {
	r := newRig(t)
	tenant, key := r.tenant("Slow Tx")
	ctx := context.Background()
	slow, err := env.DB.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	if _, err := slow.Exec(ctx, "SELECT set_config('app.tenant_id', $1, true)", tenant.String()); err != nil {
		t.Fatal(err)
	}
	first, err := exchange.Publish(ctx, slow, tenant, exchange.EventOrderTaken, map[string]any{"order": "first"})
	if err != nil {
		t.Fatal(err)
	}
	second := publish(t, tenant, exchange.EventOrderTaken, map[string]any{"order": "second"})
	// The second is committed, but the first's transaction is open.
	var page exchange.Page
	r.call("GET", "/api/v1/exchange/events", key, nil, &page)
	if len(page.Events) != 0 {
		t.Fatalf("served past an open transaction: %+v", page)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	page = r.pullUntil(key, "", 10, 2)
	if len(page.Events) != 2 || page.Events[0].ID != first || page.Events[1].ID != second {
		t.Fatalf("after commit: %+v", page)
	}
}

// Many producers publish concurrently (some transactions slow, some rolled
// back) while a consumer pages with its cursor, never going back: it sees
// every committed event exactly once and no rolled-back one.
func TestOutboxConcurrentProducersNeverSkip(t *testing.T) {
	r := newRig(t)
	tenant, key := r.tenant("Busy")
	ctx := context.Background()
	const producers, each = 8, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed := map[uuid.UUID]bool{}
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var id uuid.UUID
				rollback := (p+i)%7 == 0
				err := env.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
					var err error
					if id, err = exchange.Publish(ctx, tx, tenant, exchange.EventSurveyAnswered, map[string]any{"p": p, "i": i}); err != nil {
						return err
					}
					if (p+i)%3 == 0 {
						// A slow transaction: others commit meanwhile.
						if _, err := tx.Exec(ctx, "SELECT pg_sleep(0.02)"); err != nil {
							return err
						}
					}
					if rollback {
						return fmt.Errorf("rolled back on purpose")
					}
					return nil
				})
				if rollback {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed[id] = true
				mu.Unlock()
			}
		}(p)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[uuid.UUID]int{}
	cursor := ""
	deadline := time.Now().Add(40 * time.Second)
	finished := false
	for {
		var page exchange.Page
		if code, raw := r.call("GET", "/api/v1/exchange/events?limit=7&after="+cursor, key, nil, &page); code != 200 {
			t.Fatalf("pull: %d %s", code, raw)
		}
		for _, e := range page.Events {
			seen[e.ID]++
		}
		cursor = page.NextCursor
		if len(page.Events) > 0 {
			continue
		}
		select {
		case <-done:
			finished = true
		default:
		}
		mu.Lock()
		all := finished && len(seen) >= len(committed)
		mu.Unlock()
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range committed {
		if seen[id] != 1 {
			t.Errorf("event %s seen %d times", id, seen[id])
		}
	}
	for id := range seen {
		if !committed[id] {
			t.Errorf("event %s was never committed", id)
		}
	}
	if len(committed) == 0 {
		t.Fatal("nothing committed")
	}
}

func TestOutboxAndKeysAreTenantScoped(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a, keyA := r.tenant("Tenant A")
	b, keyB := r.tenant("Tenant B")
	evB := publish(t, b, exchange.EventCallbackRequested, map[string]any{"phone": "+79161234567"})
	publish(t, a, exchange.EventFeedbackCreated, map[string]any{"text": "the coffee machine is broken"})
	pageA := r.pullUntil(keyA, "", 10, 1)
	if len(pageA.Events) != 1 || pageA.Events[0].Type != exchange.EventFeedbackCreated {
		t.Fatalf("A sees %+v", pageA)
	}
	// A cannot acknowledge B's event, by id or by a cursor past it.
	var ack struct{ Acknowledged int64 }
	r.call("POST", "/api/v1/exchange/events/ack", keyA, map[string]any{"ids": []uuid.UUID{evB}, "cursor": "9223372036854775807"}, &ack)
	if ack.Acknowledged != 1 { // its own event only
		t.Fatalf("A acknowledged %d", ack.Acknowledged)
	}
	pageB := r.pullUntil(keyB, "", 10, 1)
	if len(pageB.Events) != 1 || pageB.Events[0].ID != evB {
		t.Fatalf("B's event after A's attempts: %+v", pageB)
	}
	// Pushes land in the pusher's tenant only.
	r.call("POST", "/api/v1/exchange/terminals", keyA, `{"terminals":[{"id":"T-1","name":"A's terminal"}]}`, nil)
	if ts, _ := r.svc.Terminals(ctx, b); len(ts) != 0 {
		t.Fatalf("B sees A's terminals: %+v", ts)
	}
	// Keys: B's key id is not A's to revoke or see.
	keysB, _ := r.svc.Keys(ctx, b)
	if err := r.svc.RevokeKey(ctx, a, keysB[0].ID); err != exchange.ErrNotFound {
		t.Fatalf("A revoked B's key: %v", err)
	}
	if keysA, _ := r.svc.Keys(ctx, a); len(keysA) != 1 {
		t.Fatalf("A lists %d keys", len(keysA))
	}
	if code, _ := r.call("GET", "/api/v1/exchange/events", keyB, nil, nil); code != 200 {
		t.Fatalf("B's key after A's attempt: %d", code)
	}
}
