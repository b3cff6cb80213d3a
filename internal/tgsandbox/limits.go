package tgsandbox

import (
	"math"
	"time"
)

// Limits are the flood limits a bot meets. The defaults are Telegram's
// documented figures; Scale multiplies every rate and burst so benchmarks can
// lift them without turning them off.
type Limits struct {
	// Enabled turns flood control on; when false every send is admitted.
	Enabled bool `json:"enabled"`
	// Scale multiplies every rate, burst and window count; 0 means 1.
	Scale float64 `json:"scale"`
	// BotPerSecond and BotBurst bound all messages one bot sends (token bucket).
	BotPerSecond float64 `json:"bot_per_second"`
	BotBurst     int     `json:"bot_burst"`
	// PrivatePerSecond and PrivateBurst bound messages into one private chat (token bucket).
	PrivatePerSecond float64 `json:"private_per_second"`
	PrivateBurst     int     `json:"private_burst"`
	// GroupPerMinute bounds messages into one group or supergroup in any
	// sliding 60 s window.
	GroupPerMinute int `json:"group_per_minute"`
}

// DefaultLimits returns Telegram's limits: 30 msg/s per bot, about 1 msg/s per
// private chat with a burst of 3, 20 msg/min per group.
func DefaultLimits() Limits {
	return Limits{Enabled: true, Scale: 1, BotPerSecond: 30, BotBurst: 30, PrivatePerSecond: 1, PrivateBurst: 3, GroupPerMinute: 20}
}

// NoLimits returns limits that admit everything.
func NoLimits() Limits { l := DefaultLimits(); l.Enabled = false; return l }

func (l Limits) scaled() Limits {
	k := l.Scale
	if k <= 0 {
		k = 1
	}
	l.BotPerSecond *= k
	l.PrivatePerSecond *= k
	l.BotBurst = max(1, int(math.Ceil(float64(l.BotBurst)*k)))
	l.PrivateBurst = max(1, int(math.Ceil(float64(l.PrivateBurst)*k)))
	l.GroupPerMinute = max(1, int(math.Ceil(float64(l.GroupPerMinute)*k)))
	return l
}

const groupWindow = time.Minute

type bucket struct {
	tokens float64
	last   time.Time
}

// refill brings the bucket to now; a fresh bucket starts full.
func (b *bucket) refill(now time.Time, rate float64, burst int) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(burst), now
		return
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+el*rate)
		b.last = now
	}
}

// wait returns how long until n messages fit: a call needing n is admitted
// once the bucket holds min(n, burst) tokens, and may then leave a debt, so
// an album larger than the burst is possible but what follows it waits.
func (b *bucket) wait(n int, rate float64, burst int) time.Duration {
	need := float64(min(n, burst))
	if b.tokens >= need {
		return 0
	}
	if rate <= 0 {
		return time.Hour
	}
	return time.Duration((need - b.tokens) / rate * float64(time.Second))
}

type limiterKey struct{ bot, chat int64 }

// limiter holds flood-control state; guarded by Server.mu.
type limiter struct {
	cfg      Limits
	eff      Limits
	bots     map[int64]*bucket
	privates map[limiterKey]*bucket
	groups   map[limiterKey][]time.Time
}

func newLimiter(l Limits) *limiter {
	lim := &limiter{}
	lim.set(l)
	lim.reset()
	return lim
}

func (l *limiter) set(cfg Limits) { l.cfg, l.eff = cfg, cfg.scaled() }

func (l *limiter) reset() {
	l.bots = map[int64]*bucket{}
	l.privates = map[limiterKey]*bucket{}
	l.groups = map[limiterKey][]time.Time{}
}

// admit charges n messages from bot into chat, or answers the 429 to give.
func (l *limiter) admit(now time.Time, botID int64, c *chat, n int) *apiError {
	if !l.cfg.Enabled || n <= 0 {
		return nil
	}
	e := l.eff
	bb := l.bots[botID]
	if bb == nil {
		bb = &bucket{}
		l.bots[botID] = bb
	}
	bb.refill(now, e.BotPerSecond, e.BotBurst)
	wait := bb.wait(n, e.BotPerSecond, e.BotBurst)
	key := limiterKey{botID, c.ID}
	var pb *bucket
	if c.isGroup() {
		wait = max(wait, l.groupWait(now, key, n, e.GroupPerMinute))
	} else {
		pb = l.privates[key]
		if pb == nil {
			pb = &bucket{}
			l.privates[key] = pb
		}
		pb.refill(now, e.PrivatePerSecond, e.PrivateBurst)
		wait = max(wait, pb.wait(n, e.PrivatePerSecond, e.PrivateBurst))
	}
	if wait > 0 {
		return tooManyRequests(int(math.Ceil(wait.Seconds())))
	}
	bb.tokens -= float64(n)
	if pb != nil {
		pb.tokens -= float64(n)
	} else {
		for range n {
			l.groups[key] = append(l.groups[key], now)
		}
	}
	return nil
}

// groupWait drops stamps older than the window and returns how long until n
// more fit into it.
func (l *limiter) groupWait(now time.Time, key limiterKey, n, limit int) time.Duration {
	stamps := l.groups[key]
	i := 0
	for i < len(stamps) && now.Sub(stamps[i]) >= groupWindow {
		i++
	}
	stamps = stamps[i:]
	l.groups[key] = stamps
	need := min(n, limit)
	over := len(stamps) + need - limit
	if over <= 0 {
		return 0
	}
	// The over-th oldest stamp must leave the window first.
	return stamps[over-1].Add(groupWindow).Sub(now)
}

// SetLimits replaces the flood limits; counters already charged are kept.
func (s *Server) SetLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limiter.set(l)
}

// CurrentLimits returns the configured limits.
func (s *Server) CurrentLimits() Limits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limiter.cfg
}
