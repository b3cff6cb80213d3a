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

// Requests arriving while a tenant's flushes run go together in the next
// batch, each caller gets its own result, no more than maxActive batches of
// a tenant run at once, other tenants are not held up, and a failed batch
// fails exactly its own requests.
func TestCoalescerBatchesPerTenant(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	release := make(chan struct{})
	var active, maxActive, batches, biggest atomic.Int32
	var mu sync.Mutex
	seen := map[uuid.UUID]int{}
	c := newCoalescer(8, 2, func(_ context.Context, tenant uuid.UUID, reqs []int) ([]int, error) {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			m := maxActive.Load()
			if n <= m || maxActive.CompareAndSwap(m, n) {
				break
			}
		}
		batches.Add(1)
		if int32(len(reqs)) > biggest.Load() {
			biggest.Store(int32(len(reqs)))
		}
		mu.Lock()
		seen[tenant] += len(reqs)
		mu.Unlock()
		if tenant == a {
			<-release
		}
		out := make([]int, len(reqs))
		for i, r := range reqs {
			if r < 0 {
				return nil, errors.New("bad request in batch")
			}
			out[i] = r * 10
		}
		return out, nil
	})
	// Tenant b is answered while tenant a's batches are held.
	if got, err := c.do(b, 7); err != nil || got != 70 {
		t.Fatalf("tenant b: %d, %v", got, err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.do(a, i)
			if err != nil || got != i*10 {
				errs <- errors.New("wrong result")
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // all 40 queued behind the held batches
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if maxActive.Load() > 2 {
		t.Fatalf("%d batches of one tenant at once, want at most 2", maxActive.Load())
	}
	if biggest.Load() != 8 || batches.Load() > 1+2+n/8+1 {
		t.Fatalf("biggest batch %d of %d batches: want full batches of 8 while flushes were held", biggest.Load(), batches.Load())
	}
	if seen[a] != n || seen[b] != 1 {
		t.Fatalf("requests run: %v", seen)
	}
	c.mu.Lock()
	left := len(c.groups)
	c.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d idle groups kept", left)
	}
	// A failed batch answers its error to each of its requests.
	if _, err := c.do(b, -1); err == nil {
		t.Fatal("a failed batch answered no error")
	}
}

// One bad request in a batch fails only itself: the batch is run again one
// request at a time.
func TestCoalescerIsolatesAFailingRequest(t *testing.T) {
	tenant := uuid.New()
	release := make(chan struct{})
	var first atomic.Bool
	c := newCoalescer(16, 1, func(_ context.Context, _ uuid.UUID, reqs []int) ([]int, error) {
		if first.CompareAndSwap(false, true) {
			<-release // hold the first batch so the rest queue together
		}
		out := make([]int, len(reqs))
		for i, r := range reqs {
			if r < 0 {
				return nil, errors.New("bad request in batch")
			}
			out[i] = r
		}
		return out, nil
	})
	var wg sync.WaitGroup
	results := make([]error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := i
			if i == 3 {
				v = -1
			}
			_, results[i] = c.do(tenant, v)
		}()
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range results {
		if (err != nil) != (i == 3) {
			t.Fatalf("request %d: err = %v; only request 3 should fail", i, err)
		}
	}
}
