package bots

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
)

// maxNegative bounds the remembered unknown public ids, so a flood of
// random webhook URLs costs one database look-up per id per TTL at most
// and cannot grow memory without bound.
const maxNegative = 10000

type targetEntry struct {
	t       Target
	found   bool
	expires time.Time
}

type tokenEntry struct {
	token   string
	expires time.Time
}

// cache holds look-ups made on hot paths. Entries go when a bot changes
// (pub/sub) and after ttl in any case.
type cache struct {
	clock clock.Clock
	ttl   time.Duration

	mu       sync.Mutex
	targets  map[string]targetEntry // by public id
	negative int
	tokens   map[int64]tokenEntry
}

func newCache(c clock.Clock, ttl time.Duration) *cache {
	return &cache{clock: c, ttl: ttl, targets: map[string]targetEntry{}, tokens: map[int64]tokenEntry{}}
}

func (c *cache) target(publicID string) (targetEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.targets[publicID]
	if !ok || c.clock.Now().After(e.expires) {
		return targetEntry{}, false
	}
	return e, true
}

func (c *cache) putTarget(publicID string, e targetEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !e.found {
		if c.negative >= maxNegative {
			for k, v := range c.targets {
				if !v.found {
					delete(c.targets, k)
				}
			}
			c.negative = 0
		}
		c.negative++
	}
	e.expires = c.clock.Now().Add(c.ttl)
	c.targets[publicID] = e
}

func (c *cache) token(botID int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tokens[botID]
	if !ok || c.clock.Now().After(e.expires) {
		return "", false
	}
	return e.token, true
}

func (c *cache) putToken(botID int64, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[botID] = tokenEntry{token: token, expires: c.clock.Now().Add(c.ttl)}
}

func (c *cache) drop(botID int64, publicID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tokens, botID)
	if publicID != "" {
		delete(c.targets, publicID)
	}
	for k, v := range c.targets {
		if v.found && v.t.BotID == botID {
			delete(c.targets, k)
		}
	}
}

func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.targets = map[string]targetEntry{}
	c.tokens = map[int64]tokenEntry{}
	c.negative = 0
}

// WebhookTarget resolves a webhook URL's public id. It is served from
// memory; a miss reads the database once (concurrent misses share the read)
// through the bot_webhook_target SECURITY DEFINER function. An unknown id is
// ErrNotFound (and remembered briefly, too).
func (s *Service) WebhookTarget(ctx context.Context, publicID string) (Target, error) {
	if e, ok := s.cache.target(publicID); ok {
		if !e.found {
			return Target{}, ErrNotFound
		}
		return e.t, nil
	}
	v, err, _ := s.group.Do("t:"+publicID, func() (any, error) {
		var e targetEntry
		err := s.db.InTx(ctx, func(tx pgx.Tx) error {
			botID, tenantID, sealed, err := lookupTarget(ctx, tx, publicID)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			secret, err := s.keys.Open(sealed, secretAAD(botID))
			if err != nil {
				return fmt.Errorf("open secret of %d: %w", botID, err)
			}
			e = targetEntry{t: Target{BotID: botID, TenantID: tenantID, Secret: string(secret)}, found: true}
			return nil
		})
		if err != nil {
			return nil, err
		}
		s.cache.putTarget(publicID, e)
		return e, nil
	})
	if err != nil {
		return Target{}, fmt.Errorf("bots: webhook target: %w", err)
	}
	e := v.(targetEntry)
	if !e.found {
		return Target{}, ErrNotFound
	}
	return e.t, nil
}

// BotToken returns a bot's token in the clear for sending (the outbox's
// token source). It is cached in memory; callers must never log it.
func (s *Service) BotToken(ctx context.Context, botID int64) (string, error) {
	if t, ok := s.cache.token(botID); ok {
		return t, nil
	}
	v, err, _ := s.group.Do("k:"+strconv.FormatInt(botID, 10), func() (any, error) {
		var sealed []byte
		err := s.db.InTx(ctx, func(tx pgx.Tx) error {
			var err error
			sealed, err = lookupToken(ctx, tx, botID)
			return err
		})
		if err != nil {
			return nil, err
		}
		plain, err := s.keys.Open(sealed, tokenAAD(botID))
		if err != nil {
			return nil, fmt.Errorf("open token of %d: %w", botID, err)
		}
		s.cache.putToken(botID, string(plain))
		return string(plain), nil
	})
	if err != nil {
		return "", fmt.Errorf("bots: token of %d: %w", botID, err)
	}
	return v.(string), nil
}

// Subscribed is closed once Run listens for invalidations (readiness, and
// tests that must not race the first subscription's cache clear).
func (s *Service) Subscribed() <-chan struct{} { return s.subscribed }

// invalidate drops the bot from this process's cache and tells the others.
// A failed publish is logged: the TTL still bounds staleness.
func (s *Service) invalidate(ctx context.Context, botID int64, publicID string) {
	s.cache.drop(botID, publicID)
	msg := strconv.FormatInt(botID, 10) + ":" + publicID
	if err := s.rdb.Publish(ctx, InvalidationChannel, msg).Err(); err != nil {
		s.log.Warn("bots: publish invalidation", "bot_id", botID, "error", err)
	}
}

// Run listens for invalidations from other processes until ctx ends. Every
// (re)subscription clears the whole cache, since messages published while
// disconnected are lost. The lead runs it once per process that serves
// webhooks or sends.
func (s *Service) Run(ctx context.Context) {
	ps := s.rdb.Subscribe(ctx, InvalidationChannel)
	// Receive does not watch ctx while it waits on the socket; closing the
	// subscription is what unblocks it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	defer ps.Close()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.cache.clear()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			s.cache.clear()
			s.subscribedOnce.Do(func() { close(s.subscribed) })
		case *redis.Message:
			idText, publicID, _ := strings.Cut(m.Payload, ":")
			if id, err := strconv.ParseInt(idText, 10, 64); err == nil {
				s.cache.drop(id, publicID)
			}
		}
	}
}
