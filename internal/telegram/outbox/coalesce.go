package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// A coalescer runs the one-statement book-keeping steps of concurrent calls
// (claims, outcomes) of one tenant together: one statement for many rows
// instead of one per row. Nothing waits for a batch to fill: a step is
// flushed at once when fewer than maxActive flushes of its tenant are
// running, so an idle outbox pays what it paid before; under load, steps
// arriving while flushes run go together in the next one. At 1,500 calls a
// second this took the per-call statements, and the implicit transactions
// and WAL flushes that come with them, from two per call to a few per
// batch, and PostgreSQL's CPU was what bounded the many-bots broadcast
// (docs/benchmarks.md).
type coalescer[Req, Res any] struct {
	maxBatch, maxActive int
	timeout             time.Duration
	// run executes one batch of one tenant and answers one result per
	// request, in order; an error fails the whole batch.
	run func(ctx context.Context, tenantID uuid.UUID, reqs []Req) ([]Res, error)

	mu     sync.Mutex
	groups map[uuid.UUID]*coalesceGroup[Req, Res]
}

type coalesceGroup[Req, Res any] struct {
	pending []*coalesceCall[Req, Res]
	active  int
}

type coalesceCall[Req, Res any] struct {
	req  Req
	res  Res
	err  error
	done chan struct{}
}

func newCoalescer[Req, Res any](maxBatch, maxActive int, run func(context.Context, uuid.UUID, []Req) ([]Res, error)) *coalescer[Req, Res] {
	return &coalescer[Req, Res]{maxBatch: maxBatch, maxActive: maxActive, timeout: 15 * time.Second, run: run,
		groups: map[uuid.UUID]*coalesceGroup[Req, Res]{}}
}

// do runs req in the next batch of its tenant and answers its result. The
// batch runs under its own deadline, not ctx: book-keeping outlives a
// cancelled caller (the call it records was made), and the other requests
// of the batch are not the caller's to cancel.
func (c *coalescer[Req, Res]) do(tenantID uuid.UUID, req Req) (Res, error) {
	cl := &coalesceCall[Req, Res]{req: req, done: make(chan struct{})}
	c.mu.Lock()
	g := c.groups[tenantID]
	if g == nil {
		g = &coalesceGroup[Req, Res]{}
		c.groups[tenantID] = g
	}
	g.pending = append(g.pending, cl)
	start := g.active < c.maxActive
	if start {
		g.active++
	}
	c.mu.Unlock()
	if start {
		go c.flush(tenantID, g)
	}
	<-cl.done
	return cl.res, cl.err
}

// flush runs the group's pending requests batch by batch until none are
// left.
func (c *coalescer[Req, Res]) flush(tenantID uuid.UUID, g *coalesceGroup[Req, Res]) {
	for {
		c.mu.Lock()
		n := min(len(g.pending), c.maxBatch)
		if n == 0 {
			g.active--
			if g.active == 0 {
				delete(c.groups, tenantID)
			}
			c.mu.Unlock()
			return
		}
		batch := append([]*coalesceCall[Req, Res](nil), g.pending[:n]...)
		g.pending = append(g.pending[:0], g.pending[n:]...)
		c.mu.Unlock()
		reqs := make([]Req, n)
		for i, cl := range batch {
			reqs[i] = cl.req
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		res, err := c.run(ctx, tenantID, reqs)
		cancel()
		if err != nil && len(batch) > 1 {
			// One bad request must not fail the others: each alone.
			for _, cl := range batch {
				ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
				one, err := c.run(ctx, tenantID, []Req{cl.req})
				cancel()
				if err != nil {
					cl.err = err
				} else {
					cl.res = one[0]
				}
				close(cl.done)
			}
			continue
		}
		for i, cl := range batch {
			if err != nil {
				cl.err = err
			} else {
				cl.res = res[i]
			}
			close(cl.done)
		}
	}
}
