package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The throttle counts attempts per key in a fixed one-minute window. An
// attempt is reserved before any password is checked, so parallel guesses
// cannot overrun the budget, and handed back after a success, so only
// failures count. (A fixed window lets at most 2×limit through across a
// window boundary; that is fine for slowing guessing down.)
var (
	reserveScript = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("EXPIRE", KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return redis.call("PTTL", KEYS[1]) end
return 0`)
	refundScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("DECR", KEYS[1]) end
return 0`)
)

const throttleWindow = time.Minute

func limitKey(kind, value string) string {
	h := sha256.Sum256([]byte(value))
	return "auth:limit:" + kind + ":" + hex.EncodeToString(h[:12])
}

// reserve takes one attempt from key's budget; it returns how long to wait
// when the budget is spent.
func (s *Service) reserve(ctx context.Context, key string) (time.Duration, error) {
	ms, err := reserveScript.Run(ctx, s.rdb, []string{key}, s.opt.LoginMaxPerMinute, int(throttleWindow/time.Second)).Int64()
	if err != nil {
		return 0, fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	if ms <= 0 {
		return 0, nil
	}
	return max(time.Duration(ms)*time.Millisecond, time.Second), nil
}

// throttle reserves an attempt for the account and for the IP; release
// clears the account's count (the right password was given) and hands the
// IP its attempt back. A spent budget refuses even the right password.
func (s *Service) throttle(ctx context.Context, email, ip string) (release func(), err error) {
	keys := []string{limitKey("login-email", email), limitKey("login-ip", ip)}
	var wait time.Duration
	for _, k := range keys {
		w, err := s.reserve(ctx, k)
		if err != nil {
			return nil, err
		}
		wait = max(wait, w)
	}
	if wait > 0 {
		return nil, &ThrottledError{RetryAfter: wait}
	}
	return func() {
		if err := s.rdb.Del(ctx, keys[0]).Err(); err != nil {
			s.log.Warn("login throttle reset failed", "error", err)
		}
		if err := refundScript.Run(ctx, s.rdb, keys[1:]).Err(); err != nil {
			s.log.Warn("login throttle refund failed", "error", err)
		}
	}, nil
}
