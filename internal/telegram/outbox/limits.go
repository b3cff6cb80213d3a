package outbox

import (
	"math"
	"time"
)

// Limits are the budgets the outbox keeps below Telegram's flood limits.
// Bursts are smaller than Telegram's so that network jitter (a call charged
// when picked but counted by Telegram when it arrives) never makes a 429.
type Limits struct {
	// Scale multiplies every rate, burst and per-window count (benchmarks
	// lift limits this way; the sandbox has the same knob). 0 means 1.
	Scale float64
	// BotPerSecond/BotBurst: all calls of one bot (Telegram: ~30/s).
	BotPerSecond float64
	BotBurst     int
	// PaidPerSecond/PaidBurst: Bulk messages of bots with paid broadcasts
	// enabled (allow_paid_broadcast, up to 1000/s).
	PaidPerSecond float64
	PaidBurst     int
	// PrivatePerSecond/PrivateBurst: one private chat (Telegram: ~1/s, small bursts).
	PrivatePerSecond float64
	PrivateBurst     int
	// GroupPerWindow messages in any sliding GroupWindow into one group,
	// supergroup or channel (Telegram: 20 per minute).
	GroupPerWindow int
	GroupWindow    time.Duration
}

// DefaultLimits are safe under Telegram's documented limits.
func DefaultLimits() Limits {
	return Limits{
		Scale:        1,
		BotPerSecond: 30, BotBurst: 20,
		PaidPerSecond: 1000, PaidBurst: 100,
		PrivatePerSecond: 1, PrivateBurst: 2,
		GroupPerWindow: 20, GroupWindow: time.Minute,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.Scale <= 0 {
		l.Scale = d.Scale
	}
	if l.BotPerSecond <= 0 {
		l.BotPerSecond, l.BotBurst = d.BotPerSecond, d.BotBurst
	}
	if l.PaidPerSecond <= 0 {
		l.PaidPerSecond, l.PaidBurst = d.PaidPerSecond, d.PaidBurst
	}
	if l.PrivatePerSecond <= 0 {
		l.PrivatePerSecond, l.PrivateBurst = d.PrivatePerSecond, d.PrivateBurst
	}
	if l.GroupPerWindow <= 0 {
		l.GroupPerWindow = d.GroupPerWindow
	}
	if l.GroupWindow <= 0 {
		l.GroupWindow = d.GroupWindow
	}
	l.BotBurst = max(1, l.BotBurst)
	l.PaidBurst = max(1, l.PaidBurst)
	l.PrivateBurst = max(1, l.PrivateBurst)
	return l
}

// bucket is a GCRA budget in Lua's terms: the emission interval and burst.
type bucket struct {
	intervalMs float64
	burst      int
}

func (l Limits) scaledBucket(perSecond float64, burst int) bucket {
	return bucket{intervalMs: 1000 / (perSecond * l.Scale), burst: max(1, int(math.Ceil(float64(burst)*l.Scale)))}
}

func (l Limits) bot() bucket     { return l.scaledBucket(l.BotPerSecond, l.BotBurst) }
func (l Limits) paid() bucket    { return l.scaledBucket(l.PaidPerSecond, l.PaidBurst) }
func (l Limits) private() bucket { return l.scaledBucket(l.PrivatePerSecond, l.PrivateBurst) }
func (l Limits) group() (count int, windowMs int64) {
	return max(1, int(math.Ceil(float64(l.GroupPerWindow)*l.Scale))), l.GroupWindow.Milliseconds()
}
