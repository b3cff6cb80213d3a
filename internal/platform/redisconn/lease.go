package redisconn

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lease is a Redis lock with an owner id and a time-to-live, renewed by its
// holder. It elects one scheduler leader among many `work` processes; if the
// leader dies the lease expires and another process takes over.
type Lease struct {
	rdb   redis.Cmdable
	key   string
	owner string
	ttl   time.Duration
}

// NewLease returns a lease on key held as owner.
func NewLease(rdb redis.Cmdable, key, owner string, ttl time.Duration) *Lease {
	return &Lease{rdb: rdb, key: key, owner: owner, ttl: ttl}
}

// Compare-and-extend: only the holder may extend, and only while it holds.
var extendScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// TryAcquire takes the lease if free or extends it if already held; it
// reports whether this owner holds it now.
func (l *Lease) TryAcquire(ctx context.Context) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, l.key, l.owner, l.ttl).Result()
	if err != nil || ok {
		return ok, err
	}
	n, err := extendScript.Run(ctx, l.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int()
	return n == 1, err
}

// Release gives the lease up if held.
func (l *Lease) Release(ctx context.Context) error {
	return releaseScript.Run(ctx, l.rdb, []string{l.key}, l.owner).Err()
}
