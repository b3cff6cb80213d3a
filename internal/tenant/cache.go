package tenant

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
)

// state is everything the renderer and Settings need about one tenant.
type state struct {
	settings     Settings
	textDefaults map[string]map[string]string // the template's layer
	overrides    map[string]map[string]string // the tenant's own texts
}

// stateCache keeps tenants in memory so a bot's hot path does not query
// PostgreSQL for every text. It is trusted only while the invalidation
// subscriber (Run) is connected: a change published while we were
// disconnected would otherwise be missed, so every (re)subscription flushes
// everything. Generations stop a load that raced with an invalidation from
// storing the stale value it read.
type stateCache struct {
	mu      sync.Mutex
	live    bool
	global  uint64
	gen     map[uuid.UUID]uint64
	entries map[uuid.UUID]cacheEntry
	ttl     time.Duration
	clock   clock.Clock
}

type cacheEntry struct {
	st     *state
	loaded time.Time
}

type loadToken struct{ global, gen uint64 }

func newStateCache(ttl time.Duration) *stateCache {
	return &stateCache{gen: map[uuid.UUID]uint64{}, entries: map[uuid.UUID]cacheEntry{}, ttl: ttl, clock: clock.Real{}}
}

func (c *stateCache) get(id uuid.UUID) (*state, loadToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tok := loadToken{c.global, c.gen[id]}
	if !c.live {
		return nil, tok, false
	}
	e, ok := c.entries[id]
	if !ok || c.clock.Now().Sub(e.loaded) > c.ttl {
		return nil, tok, false
	}
	return e.st, tok, true
}

func (c *stateCache) put(id uuid.UUID, st *state, tok loadToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || tok.global != c.global || tok.gen != c.gen[id] {
		return
	}
	c.entries[id] = cacheEntry{st: st, loaded: c.clock.Now()}
}

func (c *stateCache) invalidate(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen[id]++
	delete(c.entries, id)
}

// reset drops everything and sets whether the cache may be trusted.
func (c *stateCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.global++
	c.live = live
	clear(c.entries)
}

func (c *stateCache) isLive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// state returns the tenant's state from the cache or PostgreSQL.
func (s *Service) state(ctx context.Context, tenantID uuid.UUID) (*state, error) {
	cached, tok, ok := s.cache.get(tenantID)
	if ok {
		return cached, nil
	}
	st := &state{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		r, err := loadRow(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		st.settings = settingsOf(r)
		st.textDefaults = r.TextDefaults
		st.overrides, err = loadOverrides(ctx, tx, tenantID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cache.put(tenantID, st, tok)
	return st, nil
}

// invalidate drops the tenant here at once and tells every other process.
// A failed publish is logged: the other processes' TTL bounds the staleness.
func (s *Service) invalidate(ctx context.Context, tenantID uuid.UUID) {
	s.cache.invalidate(tenantID)
	if s.rdb == nil {
		return
	}
	if err := s.rdb.Publish(ctx, s.channel, tenantID.String()).Err(); err != nil {
		s.log.ErrorContext(ctx, "tenant: publish invalidation failed", "tenant_id", tenantID, "error", err)
	}
}

// Run keeps the in-memory cache correct across processes: it subscribes to
// the invalidation channel and drops tenants as their ids arrive. Until it
// is subscribed (and whenever the connection drops) the cache is bypassed.
// It returns when ctx ends. Run it in every process that renders texts
// (serve and work); without it everything still works, uncached.
func (s *Service) Run(ctx context.Context) error {
	if s.rdb == nil {
		<-ctx.Done()
		return nil
	}
	ps := s.rdb.Subscribe(ctx, s.channel)
	// A blocked Receive does not watch ctx: closing the subscription is
	// what ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		s.cache.reset(false)
		_ = ps.Close()
	}()
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			s.cache.reset(false)
			if ctx.Err() != nil {
				return nil
			}
			s.log.WarnContext(ctx, "tenant: invalidation subscription lost; cache off until it is back", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// (Re)subscribed: anything published meanwhile is lost, so
				// start from empty.
				s.cache.reset(true)
			}
		case *redis.Message:
			if id, err := uuid.Parse(m.Payload); err == nil {
				s.cache.invalidate(id)
			}
		}
	}
}

// CacheLive reports whether the cache is in use (the subscriber is connected).
func (s *Service) CacheLive() bool { return s.cache.isLive() }
