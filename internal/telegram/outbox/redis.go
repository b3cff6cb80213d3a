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

// Redis layout, per bot B (prefix ob:b:B:). The ordering unit is a
// destination: a chat, or one forum topic of a chat ("CHAT:THREAD"; thread 0
// is plain "CHAT"), or one call ordered against nothing ("CHAT/ID": topic
// creations). Order and in-flight are per destination; budgets and 429
// pauses are per chat, shared by all the chat's destinations:
//
//	q:DEST    zset  queued messages of a destination, member "id|chatCost|botCost",
//	                score = (3-priority)<<48 + seq: best priority first, then FIFO
//	ready     zset  destinations sendable now, scored by their head message
//	delayed   zset  destinations waiting for a budget or a 429 pause, scored by
//	                the time (Clock ms) they become sendable
//	inflight  zset  destinations with a call in flight (one at most each), scored
//	                by when the call was picked (Clock ms)
//	owner     hash  destination -> lease token of the pump that made its call in
//	                flight: a pump that takes the lease frees every destination
//	                another token holds (that pump is dead or has lost the lease)
//	p:CHAT    string 429/back-off pause end (Clock ms), for every destination of the chat
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

func (k keys) bot(botID int64) string         { return k.prefix + "b:" + strconv.FormatInt(botID, 10) + ":" }
func (k keys) q(botID int64, d string) string { return k.bot(botID) + "q:" + d }

// dest names a message's ordering unit: its chat, or its forum topic. Each
// forum topic is a conversation of its own, so messages to different topics
// of one group need no order between them and may be in flight together,
// while the group's budget and 429 pauses stay the chat's.
func dest(chatID int64, threadID int) string {
	if threadID == 0 {
		return strconv.FormatInt(chatID, 10)
	}
	return strconv.FormatInt(chatID, 10) + ":" + strconv.Itoa(threadID)
}

// destChat is the chat of a destination.
func destChat(d string) (int64, error) {
	if i := strings.IndexAny(d, ":/"); i >= 0 {
		d = d[:i]
	}
	return strconv.ParseInt(d, 10, 64)
}

// destOf is an entry's destination: its chat or topic, or a destination of
// its own for calls that are ordered against nothing (a topic creation
// starts a new conversation), so that such calls into one group need not
// wait for each other's round trips.
func destOf(chatID int64, threadID int, e entry) string {
	d := dest(chatID, threadID)
	if e.Own {
		d += "/" + e.ID.String()
	}
	return d
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
func (k keys) heads(botID, chatID int64) string {
	return k.bot(botID) + "h:" + strconv.FormatInt(chatID, 10)
}
func (k keys) count(botID, chatID int64) string {
	return k.bot(botID) + "n:" + strconv.FormatInt(chatID, 10)
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
	Own      bool // a destination of its own (methodSpec.own)
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

// pushScript: KEYS q:DEST ready delayed inflight bots wake h:CHAT n:CHAT;
// ARGV member score dest bot tenant.
var pushScript = redis.NewScript(`
if redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) == 1 then
  redis.call('INCR', KEYS[8])
end
local h = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[7], h[2], ARGV[3])
if not redis.call('ZSCORE', KEYS[4], ARGV[3]) and not redis.call('ZSCORE', KEYS[3], ARGV[3]) then
  redis.call('ZADD', KEYS[2], 'LT', ARGV[2], ARGV[3])
end
redis.call('HSET', KEYS[5], ARGV[4], ARGV[5])
redis.call('LPUSH', KEYS[6], '1')
redis.call('LTRIM', KEYS[6], 0, 0)
redis.call('PEXPIRE', KEYS[6], 60000)
return 1`)

// push indexes a recorded message (idempotent: the sweeper re-pushes).
func (o *Outbox) push(ctx context.Context, tenantID uuid.UUID, botID, chatID int64, threadID int, e entry) error {
	keys, args := o.pushArgs(tenantID, botID, chatID, threadID, e)
	return pushScript.Run(ctx, o.rdb, keys, args...).Err()
}

// pushMany indexes many recorded messages in one pipeline. A Redis that
// lost its script cache (a restart) answers NOSCRIPT: the pipeline is sent
// again with the script's text (push is idempotent).
func (o *Outbox) pushMany(ctx context.Context, ps []pendingEntry) error {
	run := func(text bool) error {
		_, err := o.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, p := range ps {
				keys, args := o.pushArgs(p.TenantID, p.BotID, p.ChatID, p.ThreadID, p.entry)
				if text {
					pushScript.Eval(ctx, pipe, keys, args...)
				} else {
					pushScript.EvalSha(ctx, pipe, keys, args...)
				}
			}
			return nil
		})
		return err
	}
	err := run(false)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		err = run(true)
	}
	return err
}

func (o *Outbox) pushArgs(tenantID uuid.UUID, botID, chatID int64, threadID int, e entry) ([]string, []any) {
	k := o.keys
	d := destOf(chatID, threadID, e)
	return []string{k.q(botID, d), k.ready(botID), k.delayed(botID), k.inflight(botID), k.active(), k.wake(botID),
			k.heads(botID, chatID), k.count(botID, chatID)},
		[]any{e.member(), e.score(), d, botID, tenantID.String()}
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
// delayed destinations, then take the best ready destination whose chat's
// pause and budget allow a call now, charge the bot and chat budgets and
// mark it in flight under the token; repeated for up to ARGV[14] calls, in
// the order single picks would take them (one round trip for a pump's free
// slots instead of one per call). Answers
// {1, dest, member, dest, member ...} to send, {2, at} to wait for the bot budget,
// {3, next delayed time or -1, in flight, ready left} when nothing is
// sendable, {4} when the lease is not (or no longer) the caller's.
//
// Priority across the destinations of one group: a lower-priority message
// (a topic creation, an icon edit) does not take one of the group's window
// slots while a better message for another destination of the group waits
// (in flight, or delayed) and the window's free slots do not cover the
// group's queue: it is parked (delayed) for one slot's time and looked at
// again. With slots to spare it goes at once, so a busy group's topic
// creations are not starved by a steady stream of relays.
var pickScript = redis.NewScript(budgetLua + `
if redis.call('GET', KEYS[6]) ~= ARGV[13] then return {4} end
local now = tonumber(ARGV[1])
local pfx = ARGV[2]
local glimit, gwindow = tonumber(ARGV[9]), tonumber(ARGV[10])
local function head(d) return redis.call('ZRANGE', pfx .. 'q:' .. d, 0, 0, 'WITHSCORES') end
local function promote(key)
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, 256)
  for _, d in ipairs(due) do
    redis.call('ZREM', key, d)
    local h = head(d)
    if h[1] then redis.call('ZADD', KEYS[1], h[2], d) end
  end
end
-- better: whether another destination of the chat has a queued message of
-- a better priority than prio (stale head entries are dropped on the way).
local function better(chat, d, prio)
  local hk = pfx .. 'h:' .. chat
  local bound = (3 - prio) * 281474976710656
  for _ = 1, 8 do
    local b = redis.call('ZRANGEBYSCORE', hk, '-inf', '(' .. bound, 'WITHSCORES', 'LIMIT', 0, 2)
    local other = b[1]
    if other == d then other = b[3] end
    if not other then return false end
    local h = head(other)
    if h[1] then
      if tonumber(h[2]) < bound then return true end
      redis.call('ZADD', hk, h[2], other)
    else
      redis.call('ZREM', hk, other)
    end
  end
  return true
end
promote(KEYS[2])
local sent, maxn = {1}, tonumber(ARGV[14])
for i = 1, tonumber(ARGV[12]) do
  local top = redis.call('ZRANGE', KEYS[1], 0, 0)
  local d = top[1]
  if not d then break end
  local chat = string.match(d, '^(-?%d+)')
  local h = head(d)
  if not h[1] then
    redis.call('ZREM', KEYS[1], d)
    redis.call('ZREM', pfx .. 'h:' .. chat, d)
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
        local wk = pfx .. 'w:' .. chat
        at = window_at(wk, now, glimit, gwindow, ccost)
        if at <= now and prio < 3 then
          local free = glimit - redis.call('ZCARD', wk) - ccost
          local queued = tonumber(redis.call('GET', pfx .. 'n:' .. chat) or '0')
          if free < queued and better(chat, d, prio) then at = now + math.ceil(gwindow / glimit) end
        end
      else
        at, ctat = gcra_at(pfx .. 'c:' .. chat, now, tonumber(ARGV[7]), tonumber(ARGV[8]), ccost)
      end
    end
    if at > now then
      redis.call('ZREM', KEYS[1], d)
      redis.call('ZADD', KEYS[2], at, d)
    else
      local bk, bi, bb = KEYS[4], tonumber(ARGV[3]), tonumber(ARGV[4])
      if prio == 0 and ARGV[11] == '1' then bk, bi, bb = KEYS[5], tonumber(ARGV[5]), tonumber(ARGV[6]) end
      local btat = now
      if bcost > 0 then
        local bat
        bat, btat = gcra_at(bk, now, bi, bb, bcost)
        if bat > now then
          if #sent > 1 then return sent end
          return {2, math.ceil(bat)}
        end
        gcra_take(bk, btat, now, bi, bcost)
      end
      if ccost > 0 then
        if isgroup then
          local wk = pfx .. 'w:' .. chat
          for j = 1, ccost do redis.call('ZADD', wk, now, member .. ':' .. j) end
          redis.call('PEXPIRE', wk, gwindow * 2 + 1000)
        else
          gcra_take(pfx .. 'c:' .. chat, ctat, now, tonumber(ARGV[7]), ccost)
        end
      end
      redis.call('ZREM', KEYS[1], d)
      redis.call('ZADD', KEYS[3], now, d)
      redis.call('HSET', KEYS[7], d, ARGV[13])
      sent[#sent + 1] = d
      sent[#sent + 1] = member
      if (#sent - 1) / 2 >= maxn then return sent end
    end
  end
end
if #sent > 1 then return sent end
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
	dest     string // the destination: chat, or chat:thread
	chatID   int64
	member   string
	owner    string // the lease token the call is in flight under
	at       int64  // wait: bot budget frees; idle: next delayed destination (-1 none)
	inflight int64
	ready    int64
	// serviceBound: for a forum topic change whose service message is to be
	// deleted, the highest message id known in the group before the call
	// (-1 otherwise); see service.go.
	serviceBound int64
}

func (o *Outbox) pick(ctx context.Context, botID int64, token string, paid bool, now time.Time) (picked, error) {
	ps, err := o.pickN(ctx, botID, token, paid, now, 1)
	if err != nil {
		return picked{}, err
	}
	return ps[0], nil
}

// pickN picks up to n calls at once. It answers either calls to send (kind
// pickSend, one or more) or one entry saying why there is none.
func (o *Outbox) pickN(ctx context.Context, botID int64, token string, paid bool, now time.Time, n int) ([]picked, error) {
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
		pv.intervalMs, pv.burst, gc, gw, paidFlag, 64, token, max(1, n)).Slice()
	if err != nil {
		return nil, fmt.Errorf("outbox: pick: %w", err)
	}
	p := picked{kind: pickKind(res[0].(int64)), owner: token}
	switch p.kind {
	case pickSend:
		var out []picked
		for i := 1; i+1 < len(res); i += 2 {
			q := picked{kind: pickSend, owner: token, dest: res[i].(string), member: res[i+1].(string)}
			q.chatID, err = destChat(q.dest)
			if err != nil {
				return nil, fmt.Errorf("outbox: pick: bad destination %q", q.dest)
			}
			out = append(out, q)
		}
		return out, nil
	case pickWait:
		p.at = res[1].(int64)
	case pickIdle:
		p.at, p.inflight, p.ready = res[1].(int64), res[2].(int64), res[3].(int64)
	}
	return []picked{p}, nil
}

// done finishes a call: drops the message from its queue when finished,
// stamps the group window with the completion time (never earlier than when
// Telegram counted it), pauses the chat (every destination of it) if asked,
// and puts the destination back into ready or delayed. A destination no
// longer in flight under the caller's token (freed by a pump that took the
// lease over) is left to whoever holds it now.
//
// KEYS ready delayed inflight q:DEST w:CHAT p:CHAT wake owner h:CHAT n:CHAT;
// ARGV chat member remove pause now chatCost token dest.
var doneScript = redis.NewScript(`
local now = tonumber(ARGV[5])
local d = ARGV[8]
if ARGV[3] == '1' and redis.call('ZREM', KEYS[4], ARGV[2]) == 1 then
  if redis.call('DECR', KEYS[10]) <= 0 then redis.call('DEL', KEYS[10]) end
end
local h = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if h[1] then redis.call('ZADD', KEYS[9], h[2], d) else redis.call('ZREM', KEYS[9], d) end
local ccost = tonumber(ARGV[6])
if ccost > 0 and tonumber(ARGV[1]) < 0 then
  for j = 1, ccost do redis.call('ZADD', KEYS[5], 'XX', now, ARGV[2] .. ':' .. j) end
end
local pause = tonumber(ARGV[4])
if pause > now then
  local cur = tonumber(redis.call('GET', KEYS[6]) or '0')
  if pause > cur then redis.call('SET', KEYS[6], ARGV[4], 'PX', math.ceil(pause - now) + 1000) end
end
if redis.call('HGET', KEYS[8], d) == ARGV[7] then
  redis.call('HDEL', KEYS[8], d)
  redis.call('ZREM', KEYS[3], d)
  if h[1] then
    if pause > now then redis.call('ZADD', KEYS[2], pause, d) else redis.call('ZADD', KEYS[1], h[2], d) end
  end
end
redis.call('LPUSH', KEYS[7], '1')
redis.call('LTRIM', KEYS[7], 0, 0)
redis.call('PEXPIRE', KEYS[7], 60000)
return 1`)

// done finishes the call picked as pk (see doneScript).
func (o *Outbox) done(ctx context.Context, botID int64, pk picked, chatCost int, remove bool, pauseUntil time.Time) error {
	k := o.keys
	rm := "0"
	if remove {
		rm = "1"
	}
	var pause int64
	if !pauseUntil.IsZero() {
		pause = pauseUntil.UnixMilli()
	}
	chatID := pk.chatID
	return doneScript.Run(ctx, o.rdb,
		[]string{k.ready(botID), k.delayed(botID), k.inflight(botID), k.q(botID, pk.dest), k.win(botID, chatID),
			k.pause(botID, chatID), k.wake(botID), k.owner(botID), k.heads(botID, chatID), k.count(botID, chatID)},
		chatID, pk.member, rm, pause, o.clock.Now().UnixMilli(), chatCost, pk.owner, pk.dest).Err()
}

// reclaimScript frees destinations in flight under another token than
// ARGV[2] (every one when ARGV[3] is '1'): their calls' pump is dead or has
// lost the lease, so nobody will finish them. Each goes back to ready with
// its head message, whose row the next claim finds 'sending' and resolves
// by the delivery rule.
var reclaimScript = redis.NewScript(`
local n = 0
for _, d in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if ARGV[3] == '1' or redis.call('HGET', KEYS[3], d) ~= ARGV[2] then
    redis.call('ZREM', KEYS[2], d)
    redis.call('HDEL', KEYS[3], d)
    local h = redis.call('ZRANGE', ARGV[1] .. 'q:' .. d, 0, 0, 'WITHSCORES')
    if h[1] then redis.call('ZADD', KEYS[1], h[2], d) end
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
