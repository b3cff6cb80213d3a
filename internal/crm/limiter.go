package crm

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// redisLimiter is a Limiter shared by every process (GCRA in Redis,
// go-redis/redis_rate): a CRM account's budget holds however many workers
// call it.
type redisLimiter struct {
	rl    *redis_rate.Limiter
	limit redis_rate.Limit
}

// NewRedisLimiter allows perSecond requests a second per key (burst one
// second's worth); perSecond <= 0 means no limit.
func NewRedisLimiter(rdb redis.UniversalClient, perSecond int) Limiter {
	if perSecond <= 0 {
		return noLimit{}
	}
	return &redisLimiter{rl: redis_rate.NewLimiter(rdb), limit: redis_rate.PerSecond(perSecond)}
}

// Wait blocks until key may make one request.
func (l *redisLimiter) Wait(ctx context.Context, key string) error {
	for {
		res, err := l.rl.Allow(ctx, key, l.limit)
		if err != nil {
			return fmt.Errorf("crm: rate limiter: %w", err)
		}
		if res.Allowed > 0 {
			return nil
		}
		wait := res.RetryAfter
		if wait <= 0 {
			wait = 10 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

type noLimit struct{}

func (noLimit) Wait(context.Context, string) error { return nil }
