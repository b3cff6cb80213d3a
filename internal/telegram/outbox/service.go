package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Deleting the service messages a bot's own forum topic changes post
// (editForumTopic, closeForumTopic, reopenForumTopic each post "topic
// edited/closed/reopened" into the topic).
//
// The bot is never told their message ids: the call answers true, and a bot
// gets no update for its own messages. Message ids in a supergroup are
// sequential, so the id is found by elimination. Per group the outbox keeps
// the ids it knows (its own sends' results, and every message the feature
// reports with SeenInChat — the updates the bot receives) and, per service
// call, a lower bound: the highest id known when the call returned. Once a
// later id is known and SettleFor has passed (late updates of messages
// posted before the call have come in), the unknown ids between the lowest
// bound and the highest known id are exactly the service messages if their
// number equals the number of service calls waiting; then they are deleted
// (deleteMessages, Bulk priority: bot budget only, after everything else, no
// group budget). If there are more unknown ids (another bot's message, a call
// still in flight, an update not yet received), nothing is deleted yet; after
// GiveUpAfter the calls are forgotten. A message of someone else is therefore
// never deleted unless its update never reached the platform and the count
// matched by chance — rare, and Telegram's deleteMessages skips what is gone.

// DeleteServiceMessagesOf makes the outbox delete the service messages that
// successful forum topic calls (edit, close, reopen) of kind post. Register
// in every process that runs the outbox, before the first Enqueue.
func (o *Outbox) DeleteServiceMessagesOf(kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.serviceKinds == nil {
		o.serviceKinds = map[string]bool{}
	}
	o.serviceKinds[kind] = true
}

func (o *Outbox) deletesService(kind string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.serviceKinds[kind]
}

// Service-message bookkeeping per bot B and group C (prefix ob:b:B:):
//
//	sk:C  zset  message ids known in the group (score = id), the latest 2,000
//	sp:C  zset  service calls waiting for their message's id: member a unique
//	            token, score = the lower bound; sp:C:at hash token -> when (ms)
func (k keys) svcKnown(botID, chatID int64) string {
	return k.bot(botID) + "sk:" + strconv.FormatInt(chatID, 10)
}
func (k keys) svcPending(botID, chatID int64) string {
	return k.bot(botID) + "sp:" + strconv.FormatInt(chatID, 10)
}
func (k keys) svcPendingAt(botID, chatID int64) string {
	return k.svcPending(botID, chatID) + ":at"
}

// svcScript: ARGV[1] mode ("known" ids in ARGV[5..], or "service" with a
// token in ARGV[5] and its lower bound in ARGV[6]), ARGV[2] now (ms),
// ARGV[3] settle (ms), ARGV[4] give up (ms). Records, then answers the ids
// to delete (may be empty).
var svcScript = redis.NewScript(`
local now, settle, giveup = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if ARGV[1] == 'known' then
  for i = 5, #ARGV do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i]) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -2001)
  redis.call('PEXPIRE', KEYS[1], 86400000)
else
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
  redis.call('HSET', KEYS[3], ARGV[5], now)
  redis.call('PEXPIRE', KEYS[2], giveup * 2)
  redis.call('PEXPIRE', KEYS[3], giveup * 2)
  return {}
end
local pend = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
if not pend[1] then return {} end
local n = #pend / 2
local low = tonumber(pend[2])
local newest, oldest = 0, now
for i = 1, #pend, 2 do
  local at = tonumber(redis.call('HGET', KEYS[3], pend[i]) or '0')
  if at > newest then newest = at end
  if at < oldest then oldest = at end
end
local function forget()
  redis.call('DEL', KEYS[2], KEYS[3])
  return {}
end
if now - oldest > giveup then return forget() end
if now - newest < settle then return {} end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if not top[1] then return {} end
local high = tonumber(top[2])
if low <= 0 or high - low > 1000 then return forget() end
local known = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. low, high)
local unknown = (high - low) - #known
if unknown ~= n then return {} end
local seen = {}
for _, id in ipairs(known) do seen[tonumber(id)] = true end
local out = {}
for id = low + 1, high do
  if not seen[id] then out[#out + 1] = id end
end
redis.call('DEL', KEYS[2], KEYS[3])
return out`)

// Service-message timing (real time).
const (
	serviceSettle = 2 * time.Second
	serviceGiveUp = 10 * time.Minute
)

// SeenInChat tells the outbox that message ids exist in a group (the bot
// received them as updates): they are not service messages of its own.
func (o *Outbox) SeenInChat(ctx context.Context, tenantID uuid.UUID, botID, chatID int64, msgIDs ...int64) error {
	if chatID >= 0 || len(msgIDs) == 0 {
		return nil
	}
	args := make([]any, 0, len(msgIDs))
	for _, id := range msgIDs {
		args = append(args, id)
	}
	return o.serviceStep(ctx, tenantID, botID, chatID, "known", args...)
}

// serviceStep runs svcScript and enqueues the deletion it finds.
func (o *Outbox) serviceStep(ctx context.Context, tenantID uuid.UUID, botID, chatID int64, mode string, extra ...any) error {
	k := o.keys
	settle := serviceSettle
	if o.serviceSettle != nil {
		settle = *o.serviceSettle
	}
	argv := append([]any{mode, time.Now().UnixMilli(), settle.Milliseconds(), serviceGiveUp.Milliseconds()}, extra...)
	ids, err := svcScript.Run(ctx, o.rdb, []string{k.svcKnown(botID, chatID), k.svcPending(botID, chatID), k.svcPendingAt(botID, chatID)}, argv...).Int64Slice()
	if err != nil {
		return fmt.Errorf("outbox: service messages: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	params, _ := json.Marshal(map[string]any{"message_ids": ids})
	_, err = o.Enqueue(ctx, Message{TenantID: tenantID, BotID: botID, ChatID: chatID, Method: "deleteMessages",
		Params: params, Priority: Bulk, Kind: KindServiceDelete})
	return err
}

// KindServiceDelete is the kind of the deletions of service messages.
const KindServiceDelete = "outbox.service_delete"

// serviceBound answers, before a forum topic change of a kind whose
// service messages are deleted, the highest message id known in the group:
// the service message the call posts has a higher id. -1: not such a call.
func (o *Outbox) serviceBound(ctx context.Context, c claimed) int64 {
	if c.ChatID >= 0 || !methods[c.Method].service || !o.deletesService(c.Kind) {
		return -1
	}
	top, err := o.rdb.ZRevRangeWithScores(ctx, o.keys.svcKnown(c.BotID, c.ChatID), 0, 0).Result()
	if err != nil || len(top) == 0 {
		return 0 // unknown: the deletion is given up on
	}
	return int64(top[0].Score)
}

// afterSent records what a sent call means for service-message deletion:
// ids it produced in a group are known (a created topic's id is its first
// message's); a forum topic change of a kind that asked for it waits for its
// service message's id, above bound (serviceBound before the call).
func (o *Outbox) afterSent(ctx context.Context, c claimed, bound int64, result json.RawMessage) {
	if c.ChatID >= 0 {
		return
	}
	ids, topicID := resultIDs(result)
	if topicID != 0 {
		ids = append(ids, int64(topicID))
	}
	var err error
	switch {
	case bound >= 0:
		err = o.serviceStep(ctx, c.TenantID, c.BotID, c.ChatID, "service", c.ID.String(), bound)
	case len(ids) > 0:
		err = o.SeenInChat(ctx, c.TenantID, c.BotID, c.ChatID, ids...)
	}
	if err != nil {
		o.log.Warn("outbox: service message bookkeeping", "tenant_id", c.TenantID, "bot_id", c.BotID, "chat_id", c.ChatID, "error", err)
	}
}
