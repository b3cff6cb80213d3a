package telegram

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Redis layout of the inbound path (single Redis node; the keys of one
// script are not hash-tagged for a cluster):
//
//	helpdesk:tg:seen:<bot>:<update_id>  dedupe marker, kept SeenTTL (> Telegram's 24 h)
//	helpdesk:tg:mb:<bot>:<chat>         the chat's mailbox: ZSET of raw updates scored by update_id
//	helpdesk:tg:mbx                     SET of "<tenant>:<bot>:<chat>" mailboxes that may hold updates
//	helpdesk:tg:lock:<bot>:<chat>       the drain lock (owner token, PX TTL, renewed)
//	helpdesk:tg:dq:<bot>:<chat>         "a drain is queued" marker (PX pendingTTL), see docs/webhooks.md
//	helpdesk:tg:ready                   LIST of mailbox members handed to the drain workers (LPUSH, BRPOP)
//	helpdesk:tg:fail:<bot>:<chat>       HASH update_id -> failed attempts
//	helpdesk:tg:dead                    LIST of updates given up on (capped)
//	helpdesk:tg:wm:<bot>                the bot's update_id watermark: every id up to it has arrived (or was given up on)
//	helpdesk:tg:ooo:<bot>               ZSET of ids that arrived above a gap, scored by update_id, member "<arrival ms>:<id>"
const (
	keyPrefix = "helpdesk:tg:"
	indexKey  = keyPrefix + "mbx"
	readyKey  = keyPrefix + "ready"
	deadKey   = keyPrefix + "dead"
	deadCap   = 10000
)

func seenKey(bot, update int64) string  { return fmt.Sprintf("%sseen:%d:%d", keyPrefix, bot, update) }
func mailboxKey(bot, chat int64) string { return fmt.Sprintf("%smb:%d:%d", keyPrefix, bot, chat) }
func lockKey(bot, chat int64) string    { return fmt.Sprintf("%slock:%d:%d", keyPrefix, bot, chat) }
func failKey(bot, chat int64) string    { return fmt.Sprintf("%sfail:%d:%d", keyPrefix, bot, chat) }
func pendingKey(bot, chat int64) string { return fmt.Sprintf("%sdq:%d:%d", keyPrefix, bot, chat) }
func watermarkKey(bot int64) string     { return fmt.Sprintf("%swm:%d", keyPrefix, bot) }
func aboveGapKey(bot int64) string      { return fmt.Sprintf("%sooo:%d", keyPrefix, bot) }

// pendingTTL bounds a "drain queued" marker whose drain never ran (a worker
// killed between popping the chat and clearing the marker): after it, the
// next update hands the chat over again. The sweeper does not wait for it.
const pendingTTL = time.Minute

// mailbox names one chat's queue of updates.
type mailbox struct {
	TenantID uuid.UUID `json:"t"`
	BotID    int64     `json:"b"`
	ChatID   int64     `json:"c"`
}

func (m mailbox) member() string {
	return m.TenantID.String() + ":" + strconv.FormatInt(m.BotID, 10) + ":" + strconv.FormatInt(m.ChatID, 10)
}

func parseMember(s string) (mailbox, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return mailbox{}, errors.New("bad mailbox member")
	}
	t, err := uuid.Parse(parts[0])
	if err != nil {
		return mailbox{}, err
	}
	b, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return mailbox{}, err
	}
	c, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return mailbox{}, err
	}
	return mailbox{TenantID: t, BotID: b, ChatID: c}, nil
}

// acceptScript dedupes and files an update in one atomic step: either the
// update is new and lands in its mailbox (and the mailbox in the index the
// sweeper walks), or it was seen and nothing is filed. With AOF the script
// is persisted as a whole.
//
// It also hands the chat to the drain workers, in the same step, when no
// drain is queued that has not yet started: it sets the chat's "drain
// queued" marker (KEYS[4]) and pushes the mailbox onto the ready list
// (KEYS[7]) that drain workers pop from. A drain clears the marker before it
// looks at the mailbox, so an update filed while the marker is set is read by
// that drain. A duplicate whose mailbox still holds updates may hand the chat
// over too (the marker expired without a drain: a worker killed after its
// pop), so Telegram's retry does what the sweeper would.
//
// Result: bit 0 = filed (new update), bit 1 = handed to the drain workers.
//
// Telegram numbers a bot's updates sequentially (one sequence for all its
// chats), so the script also keeps the bot's watermark: the highest
// update_id up to which every update has arrived. An update that arrives
// right above it moves it on (and over the ids already waiting above it); one
// that arrives above a gap is noted with its arrival time (Redis TIME, one
// clock for every process). A drain uses it to wait briefly for a gap below
// its head (see gapScript).
var acceptScript = redis.NewScript(`
local filed = 0
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
	redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
	redis.call('SADD', KEYS[3], ARGV[4])
	filed = 1
	local id = tonumber(ARGV[2])
	local wm = tonumber(redis.call('GET', KEYS[5]) or (id - 1))
	if id == wm + 1 then
		wm = id
		while true do
			local h = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
			if not h[1] or tonumber(h[2]) > wm + 1 then break end
			redis.call('ZREM', KEYS[6], h[1])
			if tonumber(h[2]) == wm + 1 then wm = wm + 1 end
		end
		redis.call('SET', KEYS[5], wm, 'EX', ARGV[1])
	elseif id > wm + 1 then
		local t = redis.call('TIME')
		redis.call('ZADD', KEYS[6], id, (t[1] * 1000 + math.floor(t[2] / 1000)) .. ':' .. id)
		redis.call('EXPIRE', KEYS[6], ARGV[1])
		redis.call('SET', KEYS[5], wm, 'EX', ARGV[1])
	end
elseif redis.call('ZCARD', KEYS[2]) == 0 then
	return 0
end
if redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5]) then
	redis.call('LPUSH', KEYS[7], ARGV[4])
	return filed + 2
end
return filed`)

// accept files raw into its mailbox; filed is false for a duplicate, and
// handed tells whether this call pushed the chat onto the ready list.
func accept(ctx context.Context, rdb redis.Scripter, m mailbox, updateID int64, raw []byte, seenTTL time.Duration) (filed, handed bool, err error) {
	n, err := acceptScript.Run(ctx, rdb,
		[]string{seenKey(m.BotID, updateID), mailboxKey(m.BotID, m.ChatID), indexKey, pendingKey(m.BotID, m.ChatID),
			watermarkKey(m.BotID), aboveGapKey(m.BotID), readyKey},
		int64(seenTTL/time.Second), updateID, raw, m.member(), pendingTTL.Milliseconds()).Int()
	if err != nil {
		return false, false, fmt.Errorf("mailbox: accept: %w", err)
	}
	return n&1 != 0, n&2 != 0, nil
}

// headScript answers the mailbox's lowest update {member, update_id, wait}
// ({} when empty), where wait (ms) is how long a drain should still wait
// before handling it because a lower update of the bot has not arrived.
// Telegram delivers over up to max_connections parallel requests, so update
// N of a chat can arrive after N+1; as long as some id below the head has
// not arrived, it may be this chat's. Which chat a missing id belongs to is
// not knowable, so any gap below the head counts, but only for ARGV[1] ms
// after the first update above it arrived: then the gap is given up on
// (filtered update kinds, an update Telegram dropped, a delivery still
// failing) and the watermark moves over it, so a gap delays at most that
// long once. Reading the head in the same script matters: an update that
// fills the gap is filed atomically with the watermark, so when there is no
// gap below the head, no lower update of the chat can still come in.
var headScript = redis.NewScript(`
local h = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if not h[1] then return {} end
local head = tonumber(h[2])
local wm = tonumber(redis.call('GET', KEYS[1]) or '-1')
if wm < 0 or head <= wm + 1 then return {h[1], h[2], 0} end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local wait = 0
while wm + 1 < head do
	local g = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
	if not g[1] then break end
	local id = tonumber(g[2])
	local at = tonumber(string.match(g[1], '^(%d+):'))
	if id > wm + 1 and now - at < tonumber(ARGV[1]) then
		wait = at + tonumber(ARGV[1]) - now
		break
	end
	redis.call('ZREM', KEYS[2], g[1])
	if id > wm then wm = id end
end
redis.call('SET', KEYS[1], wm, 'KEEPTTL')
return {h[1], h[2], wait}`)

// headAfterGap is head for a drain that waits up to bound for a missing
// lower update_id of the bot (see headScript); wait > 0 means look again
// after it.
func headAfterGap(ctx context.Context, rdb redis.Scripter, m mailbox, bound time.Duration) (raw string, updateID int64, wait time.Duration, ok bool, err error) {
	res, err := headScript.Run(ctx, rdb, []string{watermarkKey(m.BotID), aboveGapKey(m.BotID), mailboxKey(m.BotID, m.ChatID)},
		bound.Milliseconds()).Slice()
	if err != nil {
		return "", 0, 0, false, fmt.Errorf("mailbox: head: %w", err)
	}
	if len(res) != 3 {
		return "", 0, 0, false, nil
	}
	raw, _ = res[0].(string)
	score, _ := res[1].(string)
	updateID, err = strconv.ParseInt(score, 10, 64)
	if err != nil {
		return "", 0, 0, false, fmt.Errorf("mailbox: head: bad score %q", score)
	}
	w, _ := res[2].(int64)
	return raw, updateID, time.Duration(w) * time.Millisecond, true, nil
}

// sweepScript looks at one indexed mailbox: empty ones leave the index
// (atomically with respect to accept, which re-adds), held ones are left to
// their holder, and orphaned non-empty ones are pushed onto the ready list.
// An orphan's "drain queued" marker is ignored and cleared: it may be stale
// (its drain died before clearing it), and if it is not (the chat waits in
// the ready list behind a backlog), one more drain is harmless.
var sweepScript = redis.NewScript(`
if redis.call('ZCARD', KEYS[1]) == 0 then
	redis.call('SREM', KEYS[3], ARGV[1])
	return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
	return 1
end
redis.call('DEL', KEYS[4])
redis.call('LPUSH', KEYS[5], ARGV[1])
return 2`)

func sweepOne(ctx context.Context, rdb redis.Scripter, m mailbox) error {
	return sweepScript.Run(ctx, rdb, []string{mailboxKey(m.BotID, m.ChatID), lockKey(m.BotID, m.ChatID), indexKey,
		pendingKey(m.BotID, m.ChatID), readyKey}, m.member()).Err()
}

// handOver pushes the mailbox onto the ready list without touching its
// marker: a drain that yields the chat after a full batch, or carries on
// after burying an update.
func handOver(ctx context.Context, rdb redis.Cmdable, m mailbox) error {
	if err := rdb.LPush(ctx, readyKey, m.member()).Err(); err != nil {
		return fmt.Errorf("mailbox: hand over: %w", err)
	}
	return nil
}

// head returns the mailbox's lowest update, or ok=false when it is empty.
func head(ctx context.Context, rdb redis.Cmdable, m mailbox) (raw string, updateID int64, ok bool, err error) {
	zs, err := rdb.ZRangeWithScores(ctx, mailboxKey(m.BotID, m.ChatID), 0, 0).Result()
	if err != nil {
		return "", 0, false, fmt.Errorf("mailbox: head: %w", err)
	}
	if len(zs) == 0 {
		return "", 0, false, nil
	}
	return zs[0].Member.(string), int64(zs[0].Score), true, nil
}

// done removes a handled update (and its failure count).
func done(ctx context.Context, rdb redis.Cmdable, m mailbox, raw string, updateID int64) error {
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, mailboxKey(m.BotID, m.ChatID), raw)
		p.HDel(ctx, failKey(m.BotID, m.ChatID), strconv.FormatInt(updateID, 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("mailbox: remove handled update: %w", err)
	}
	return nil
}

// failed counts a failed attempt at an update and returns the count.
func failed(ctx context.Context, rdb redis.Cmdable, m mailbox, updateID int64) (int64, error) {
	key := failKey(m.BotID, m.ChatID)
	n, err := rdb.HIncrBy(ctx, key, strconv.FormatInt(updateID, 10), 1).Result()
	if err == nil {
		err = rdb.Expire(ctx, key, 48*time.Hour).Err()
	}
	return n, err
}

// bury moves an update that keeps failing out of the way, so one poisonous
// update does not block its chat for ever; it stays inspectable.
func bury(ctx context.Context, rdb redis.Cmdable, m mailbox, raw string, updateID int64, cause error) error {
	entry := fmt.Sprintf(`{"tenant_id":%q,"bot_id":%d,"chat_id":%d,"update_id":%d,"error":%q,"update":%s}`,
		m.TenantID, m.BotID, m.ChatID, updateID, cause.Error(), raw)
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, deadKey, entry)
		p.LTrim(ctx, deadKey, 0, deadCap-1)
		p.ZRem(ctx, mailboxKey(m.BotID, m.ChatID), raw)
		p.HDel(ctx, failKey(m.BotID, m.ChatID), strconv.FormatInt(updateID, 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("mailbox: bury: %w", err)
	}
	return nil
}
