package outbox

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Redis layout, per bot B (prefix ob:b:B:):
//
//	q:CHAT    zset  queued messages of a destination, member "id|chatCost|botCost",
//	                score = (3-priority)<<48 + seq: best priority first, then FIFO
//	ready     zset  destinations sendable now, scored by their head message
//	delayed   zset  destinations waiting for a budget or a 429 pause, scored by
//	                the time (Clock ms) they become sendable
//	inflight  zset  destinations with a call in flight (one at most), scored by
//	                when the call was picked (Clock ms)
//	owner     hash  destination -> lease token of the pump that made its call in
//	                flight: a pump that takes the lease frees every destination
//	                another token holds (that pump is dead or has lost the lease)
//	p:CHAT    string 429/back-off pause end (Clock ms)
//	t:bot t:paid c:CHAT  GCRA theoretical arrival times (Clock ms)
//	w:CHAT    zset  the group's sliding-window stamps
//	lock      the pump's lease; kick: when the next pump task is due; wake: list
//	          the pump blocks on while waiting for a budget
//
// and across bots: bots (hash bot -> tenant, bots with queued work), seq (the
// sequence counter), pending (hash id -> entry of a message recorded by
// EnqueueTx and not yet indexed) with pending:at (zset id -> when, Clock ms).
//
// A destination with queued messages is in exactly one of ready, delayed or
// inflight; every move between them happens inside one script.
type keys struct{ prefix string }

func (k keys) bot(botID int64) string { return k.prefix + "b:" + strconv.FormatInt(botID, 10) + ":" }
func (k keys) q(botID, chatID int64) string {
	return k.bot(botID) + "q:" + strconv.FormatInt(chatID, 10)
}
func (k keys) ready(botID int64) string    { return k.bot(botID) + "ready" }
func (k keys) delayed(botID int64) string  { return k.bot(botID) + "delayed" }
func (k keys) inflight(botID int64) string { return k.bot(botID) + "inflight" }
func (k keys) owner(botID int64) string    { return k.bot(botID) + "owner" }
func (k keys) win(botID, chatID int64) string {
	return k.bot(botID) + "w:" + strconv.FormatInt(chatID, 10)
}
func (k keys) pause(botID, chatID int64) string {
	return k.bot(botID) + "p:" + strconv.FormatInt(chatID, 10)
}
func (k keys) lock(botID int64) string    { return k.bot(botID) + "lock" }
func (k keys) kick(botID int64) string    { return k.bot(botID) + "kick" }
func (k keys) wake(botID int64) string    { return k.bot(botID) + "wake" }
func (k keys) botTAT(botID int64) string  { return k.bot(botID) + "t:bot" }
func (k keys) paidTAT(botID int64) string { return k.bot(botID) + "t:paid" }
func (k keys) active() string             { return k.prefix + "bots" }
func (k keys) seq() string                { return k.prefix + "seq" }
func (k keys) pending() string            { return k.prefix + "pending" }
func (k keys) pendingAt() string          { return k.prefix + "pending:at" }

const prioShift = 1 << 48

// entry is one queued message as Redis knows it.
type entry struct {
	ID       uuid.UUID
	Cost     cost
	Priority Priority
	Seq      int64
}

func (e entry) member() string {
	return fmt.Sprintf("%s|%d|%d", e.ID, e.Cost.chat, e.Cost.bot)
}

func (e entry) score() float64 { return float64(int64(Live-e.Priority)*prioShift + e.Seq) }

func parseMember(s string) (uuid.UUID, cost, error) {
	parts := strings.Split(s, "|")
	if len(parts) != 3 {
		return uuid.Nil, cost{}, fmt.Errorf("outbox: bad queue member %q", s)
	}
	id, err := uuid.Parse(parts[0])
	if err != nil {
		return uuid.Nil, cost{}, fmt.Errorf("outbox: bad queue member %q", s)
	}
	c, _ := strconv.Atoi(parts[1])
	b, _ := strconv.Atoi(parts[2])
	return id, cost{chat: c, bot: b}, nil
}

var pushScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if not redis.call('ZSCORE', KEYS[4], ARGV[3]) and not redis.call('ZSCORE', KEYS[3], ARGV[3]) then
  redis.call('ZADD', KEYS[2], 'LT', ARGV[2], ARGV[3])
end
redis.call('HSET', KEYS[5], ARGV[4], ARGV[5])
redis.call('LPUSH', KEYS[6], '1')
redis.call('LTRIM', KEYS[6], 0, 0)
redis.call('PEXPIRE', KEYS[6], 60000)
return 1`)

// push indexes a recorded message (idempotent: the sweeper re-pushes).
func (o *Outbox) push(ctx context.Context, tenantID uuid.UUID, botID, chatID int64, e entry) error {
	k := o.keys
	return pushScript.Run(ctx, o.rdb,
		[]string{k.q(botID, chatID), k.ready(botID), k.delayed(botID), k.inflight(botID), k.active(), k.wake(botID)},
		e.member(), e.score(), chatID, botID, tenantID.String()).Err()
}

// The GCRA and window helpers are shared by the pick script. Times are Clock
// milliseconds passed in by the caller, so every process and test agrees.
const budgetLua = `
local function gcra_at(key, now, interval, burst, cost)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local need = math.min(cost, burst)
  return tat - (burst - need) * interval, tat
end
local function gcra_take(key, tat, now, interval, cost)
  local new = tat + cost * interval
  redis.call('SET', key, string.format('%.3f', new), 'PX', math.ceil(new - now) + 1000)
end
local function window_at(key, now, limit, window, cost)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - window))
  local n = redis.call('ZCARD', key)
  local over = n + math.min(cost, limit) - limit
  if over <= 0 then return now end
  local s = redis.call('ZRANGE', key, over - 1, over - 1, 'WITHSCORES')
  return tonumber(s[2]) + window
end
`

// pick: only for the lease holder (ARGV[13] is its token), promote due
// delayed destinations, then take the best ready destination whose pause
// and chat budget allow a call now, charge the bot and chat budgets and
// mark it in flight under the token. Answers
// {1, chat, member} to send, {2, at} to wait for the bot budget,
// {3, next delayed time or -1, in flight, ready left} when nothing is
// sendable, {4} when the lease is not (or no longer) the caller's.
var pickScript = redis.NewScript(budgetLua + `
if redis.call('GET', KEYS[6]) ~= ARGV[13] then return {4} end
local now = tonumber(ARGV[1])
local pfx = ARGV[2]
local function head(chat) return redis.call('ZRANGE', pfx .. 'q:' .. chat, 0, 0, 'WITHSCORES') end
local function promote(key)
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, 256)
  for _, chat in ipairs(due) do
    redis.call('ZREM', key, chat)
    local h = head(chat)
    if h[1] then redis.call('ZADD', KEYS[1], h[2], chat) end
  end
end
promote(KEYS[2])
for i = 1, tonumber(ARGV[12]) do
  local top = redis.call('ZRANGE', KEYS[1], 0, 0)
  local chat = top[1]
  if not chat then break end
  local h = head(chat)
  if not h[1] then
    redis.call('ZREM', KEYS[1], chat)
  else
    local member, score = h[1], tonumber(h[2])
    local ccost, bcost = string.match(member, '|(%d+)|(%d+)$')
    ccost, bcost = tonumber(ccost), tonumber(bcost)
    local prio = 3 - math.floor(score / 281474976710656)
    local at = tonumber(redis.call('GET', pfx .. 'p:' .. chat) or '0')
    local isgroup = tonumber(chat) < 0
    local ctat = 0
    if at <= now and ccost > 0 then
      if isgroup then
        at = window_at(pfx .. 'w:' .. chat, now, tonumber(ARGV[9]), tonumber(ARGV[10]), ccost)
      else
        at, ctat = gcra_at(pfx .. 'c:' .. chat, now, tonumber(ARGV[7]), tonumber(ARGV[8]), ccost)
      end
    end
    if at > now then
      redis.call('ZREM', KEYS[1], chat)
      redis.call('ZADD', KEYS[2], at, chat)
    else
      local bk, bi, bb = KEYS[4], tonumber(ARGV[3]), tonumber(ARGV[4])
      if prio == 0 and ARGV[11] == '1' then bk, bi, bb = KEYS[5], tonumber(ARGV[5]), tonumber(ARGV[6]) end
      local btat = now
      if bcost > 0 then
        local bat
        bat, btat = gcra_at(bk, now, bi, bb, bcost)
        if bat > now then return {2, math.ceil(bat)} end
        gcra_take(bk, btat, now, bi, bcost)
      end
      if ccost > 0 then
        if isgroup then
          local wk = pfx .. 'w:' .. chat
          for j = 1, ccost do redis.call('ZADD', wk, now, member .. ':' .. j) end
          redis.call('PEXPIRE', wk, tonumber(ARGV[10]) * 2 + 1000)
        else
          gcra_take(pfx .. 'c:' .. chat, ctat, now, tonumber(ARGV[7]), ccost)
        end
      end
      redis.call('ZREM', KEYS[1], chat)
      redis.call('ZADD', KEYS[3], now, chat)
      redis.call('HSET', KEYS[7], chat, ARGV[13])
      return {1, chat, member}
    end
  end
end
local nx = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local nxt = -1
if nx[1] then nxt = math.ceil(tonumber(nx[2])) end
return {3, nxt, redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[1])}`)

type pickKind int

const (
	pickSend pickKind = 1
	pickWait pickKind = 2
	pickIdle pickKind = 3
	pickLost pickKind = 4
)

type picked struct {
	kind     pickKind
	chatID   int64
	member   string
	owner    string // the lease token the call is in flight under
	at       int64  // wait: bot budget frees; idle: next delayed destination (-1 none)
	inflight int64
	ready    int64
}

func (o *Outbox) pick(ctx context.Context, botID int64, token string, paid bool, now time.Time) (picked, error) {
	k, l := o.keys, o.opts.Limits
	bot, pd, pv := l.bot(), l.paid(), l.private()
	gc, gw := l.group()
	paidFlag := "0"
	if paid {
		paidFlag = "1"
	}
	res, err := pickScript.Run(ctx, o.rdb,
		[]string{k.ready(botID), k.delayed(botID), k.inflight(botID), k.botTAT(botID), k.paidTAT(botID), k.lock(botID), k.owner(botID)},
		now.UnixMilli(), k.bot(botID), bot.intervalMs, bot.burst, pd.intervalMs, pd.burst,
		pv.intervalMs, pv.burst, gc, gw, paidFlag, 64, token).Slice()
	if err != nil {
		return picked{}, fmt.Errorf("outbox: pick: %w", err)
	}
	p := picked{kind: pickKind(res[0].(int64)), owner: token}
	switch p.kind {
	case pickSend:
		p.chatID, _ = strconv.ParseInt(res[1].(string), 10, 64)
		p.member = res[2].(string)
	case pickWait:
		p.at = res[1].(int64)
	case pickIdle:
		p.at, p.inflight, p.ready = res[1].(int64), res[2].(int64), res[3].(int64)
	}
	return p, nil
}

// done finishes a call: drops the message from its queue when finished,
// stamps the group window with the completion time (never earlier than when
// Telegram counted it), pauses the destination if asked, and puts the
// destination back into ready or delayed. A destination no longer in flight
// under the caller's token (freed by a pump that took the lease over) is
// left to whoever holds it now.
var doneScript = redis.NewScript(`
local now = tonumber(ARGV[5])
if ARGV[3] == '1' then redis.call('ZREM', KEYS[4], ARGV[2]) end
local ccost = tonumber(ARGV[6])
if ccost > 0 and tonumber(ARGV[1]) < 0 then
  for j = 1, ccost do redis.call('ZADD', KEYS[5], 'XX', now, ARGV[2] .. ':' .. j) end
end
local pause = tonumber(ARGV[4])
if pause > now then redis.call('SET', KEYS[6], ARGV[4], 'PX', math.ceil(pause - now) + 1000) end
if redis.call('HGET', KEYS[8], ARGV[1]) == ARGV[7] then
  redis.call('HDEL', KEYS[8], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  local h = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
  if h[1] then
    if pause > now then redis.call('ZADD', KEYS[2], pause, ARGV[1]) else redis.call('ZADD', KEYS[1], h[2], ARGV[1]) end
  end
end
redis.call('LPUSH', KEYS[7], '1')
redis.call('LTRIM', KEYS[7], 0, 0)
redis.call('PEXPIRE', KEYS[7], 60000)
return 1`)

func (o *Outbox) done(ctx context.Context, botID, chatID int64, owner, member string, chatCost int, remove bool, pauseUntil time.Time) error {
	k := o.keys
	rm := "0"
	if remove {
		rm = "1"
	}
	var pause int64
	if !pauseUntil.IsZero() {
		pause = pauseUntil.UnixMilli()
	}
	return doneScript.Run(ctx, o.rdb,
		[]string{k.ready(botID), k.delayed(botID), k.inflight(botID), k.q(botID, chatID), k.win(botID, chatID), k.pause(botID, chatID), k.wake(botID), k.owner(botID)},
		chatID, member, rm, pause, o.clock.Now().UnixMilli(), chatCost, owner).Err()
}

// reclaimScript frees destinations in flight under another token than
// ARGV[2] (every one when ARGV[3] is '1'): their calls' pump is dead or has
// lost the lease, so nobody will finish them. Each goes back to ready with
// its head message, whose row the next claim finds 'sending' and resolves
// by the delivery rule.
var reclaimScript = redis.NewScript(`
local n = 0
for _, chat in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if ARGV[3] == '1' or redis.call('HGET', KEYS[3], chat) ~= ARGV[2] then
    redis.call('ZREM', KEYS[2], chat)
    redis.call('HDEL', KEYS[3], chat)
    local h = redis.call('ZRANGE', ARGV[1] .. 'q:' .. chat, 0, 0, 'WITHSCORES')
    if h[1] then redis.call('ZADD', KEYS[1], h[2], chat) end
    n = n + 1
  end
end
return n`)

// reclaim frees the destinations another pump left in flight (all of them
// when all is set: the caller knows none of its own calls is running) and
// answers how many.
func (o *Outbox) reclaim(ctx context.Context, botID int64, token string, all bool) (int, error) {
	k := o.keys
	flag := "0"
	if all {
		flag = "1"
	}
	n, err := reclaimScript.Run(ctx, o.rdb, []string{k.ready(botID), k.inflight(botID), k.owner(botID)}, k.bot(botID), token, flag).Int()
	if err != nil {
		return 0, fmt.Errorf("outbox: reclaim in-flight sends: %w", err)
	}
	return n, nil
}

// idle reports when the bot has work next: 0 now, a Clock ms time, or -1
// for none (then the bot leaves the active set, atomically with the check).
// A destination still in flight counts as work due when it was picked, so a
// run that ends with one left over (failed book-keeping, or a pump that
// lost its lease) is followed at once by a run that takes it over.
var idleScript = redis.NewScript(`
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
local best = -1
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  local h = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if h[1] then
    local t = math.ceil(tonumber(h[2]))
    if best < 0 or t < best then best = t end
  end
end
if best < 0 then redis.call('HDEL', KEYS[4], ARGV[1]) end
return best`)

func (o *Outbox) nextWork(ctx context.Context, botID int64) (int64, error) {
	k := o.keys
	return idleScript.Run(ctx, o.rdb, []string{k.ready(botID), k.delayed(botID), k.inflight(botID), k.active()}, botID).Int64()
}

// kickScript records that a pump task is due at ARGV[1] unless one is
// already due no later; it answers whether to enqueue one.
var kickScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) <= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// kick makes sure a pump task for the bot runs no later than at.
func (o *Outbox) kick(ctx context.Context, tenantID uuid.UUID, botID int64, at time.Time) error {
	in := o.realDur(at.Sub(o.clock.Now()))
	ttl := in + time.Minute
	n, err := kickScript.Run(ctx, o.rdb, []string{o.keys.kick(botID)}, at.UnixMilli(), ttl.Milliseconds()).Int()
	if err != nil || n == 0 {
		return err
	}
	if err := o.enqueuePump(ctx, tenantID, botID, in); err != nil {
		// No task stands behind the key: drop it so the next kick (or the
		// sweeper) is not held off by it.
		_ = o.rdb.Del(context.WithoutCancel(ctx), o.keys.kick(botID)).Err()
		return err
	}
	return nil
}
