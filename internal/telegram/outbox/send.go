package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	ta "github.com/mymmrac/telego/telegoapi"
)

// Result is what a result hook is told after a call finished; it is also
// the payload of the "outbox:hook" task (JSON).
type Result struct {
	ID       uuid.UUID `json:"id"`
	TenantID uuid.UUID `json:"tenant_id"`
	BotID    int64     `json:"bot_id"`
	ChatID   int64     `json:"chat_id"`
	ThreadID int       `json:"thread_id"`
	Method   string    `json:"method"`
	Kind     string    `json:"kind"`
	Ref      string    `json:"ref"`
	Priority Priority  `json:"priority"`
	// Status is sent, failed, blocked or unknown.
	Status string `json:"status"`
	// MessageIDs are the messages the call produced (one for a send,
	// several for albums and copyMessages); TopicID the created topic's
	// message_thread_id for createForumTopic.
	MessageIDs []int64 `json:"message_ids,omitempty"`
	TopicID    int     `json:"topic_id,omitempty"`
	// Response is Telegram's result object, for anything else.
	Response        json.RawMessage `json:"response,omitempty"`
	ErrorCode       int             `json:"error_code,omitempty"`
	Description     string          `json:"description,omitempty"`
	MigrateToChatID int64           `json:"migrate_to_chat_id,omitempty"`
	Attempts        int             `json:"attempts"`
	// MaybeDuplicate: an earlier attempt was interrupted after it may have
	// reached Telegram, so the user may have this message twice.
	MaybeDuplicate bool `json:"maybe_duplicate,omitempty"`
}

// ThreadNotFound reports Telegram's answer for a deleted forum topic: the
// caller recreates the topic and sends again.
func (r Result) ThreadNotFound() bool {
	return r.ErrorCode == 400 && strings.Contains(strings.ToLower(r.Description), "message thread not found")
}

// ChatNotFound reports a chat the bot cannot reach any more.
func (r Result) ChatNotFound() bool {
	return r.ErrorCode == 400 && strings.Contains(strings.ToLower(r.Description), "chat not found")
}

// sendOne makes the call for a picked destination's head message and
// records its outcome: row first, then the Redis queue, then hooks.
func (o *Outbox) sendOne(ctx context.Context, p pumpPayload, pk picked) {
	// The logger with the call's attributes is built only when a line is
	// written: slog's With formats them at once, which cost 4% of the
	// process at 2,700 calls a second.
	log := func() *slog.Logger {
		return o.log.With("tenant_id", p.TenantID, "bot_id", p.BotID, "chat_id", pk.chatID)
	}
	// Book-keeping outlives a cancelled call (shutdown): the outcome of a
	// call that was made must be recorded.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	id, cst, err := parseMember(pk.member)
	if err != nil {
		log().Error("outbox: dropping malformed queue entry", "error", err)
		_ = o.done(bctx, p.BotID, pk, 0, true, time.Time{})
		return
	}
	retryLater := func(d time.Duration) {
		if err := o.done(bctx, p.BotID, pk, cst.chat, false, o.clock.Now().Add(d)); err != nil {
			log().Error("outbox: requeue", "error", err)
		}
	}
	cl, err := o.bots.get(ctx, p.BotID)
	if err != nil {
		log().Warn("outbox: no client for bot; retrying later", "error", err)
		retryLater(5 * time.Second)
		return
	}
	c, action, err := o.claim(ctx, p.TenantID, id)
	if err != nil {
		log().Error("outbox: claim", "message_id", id, "error", err)
		retryLater(time.Second)
		return
	}
	switch action {
	case claimSkip:
		_ = o.done(bctx, p.BotID, pk, 0, true, time.Time{})
		return
	case claimUnknown:
		log().Warn("outbox: bulk message interrupted mid-call marked unknown", "message_id", id)
		_ = o.done(bctx, p.BotID, pk, 0, true, time.Time{})
		if o.hasHooks(c.Kind) {
			o.enqueueHook(bctx, resultOf(c, interruptedOutcome, nil, 0))
		}
		return
	}
	paid := false
	if c.Priority == Bulk {
		paid, _ = o.paidBroadcast(ctx, p.TenantID, p.BotID)
	}
	payload, err := body(c.Method, c.ChatID, c.ThreadID, c.Params, paid)
	if err != nil { // recorded params are always an object; be safe anyway
		o.record(bctx, c, pk, outcome{Status: "failed", Description: "params: " + err.Error()}, nil, 0, time.Time{})
		return
	}
	pk.serviceBound = o.serviceBound(ctx, c)
	callCtx, cancelCall := context.WithTimeout(ctx, o.opts.CallTimeout)
	began := time.Now()
	resp, err := o.bots.call(callCtx, cl, c.Method, payload)
	cancelCall()
	out, pause, result, migrate := o.classify(c, resp, err)
	out.Latency = time.Since(began)
	if out.Code == 401 {
		o.bots.drop(p.BotID) // a replaced token is re-read on the next call
	}
	if out.Throttled {
		log().Info("outbox: 429, destination paused", "retry_after", pause, "method", c.Method)
	} else if out.Status != "sent" {
		log().Warn("outbox: call not sent", "method", c.Method, "status", out.Status, "code", out.Code, "description", out.Description)
	}
	var until time.Time
	if pause > 0 {
		until = o.clock.Now().Add(pause)
	}
	o.record(bctx, c, pk, out, result, migrate, until)
}

// classify maps a call's answer to an outcome and, for calls to repeat, the
// pause before the destination's next call (Clock time).
func (o *Outbox) classify(c claimed, resp *ta.Response, err error) (outcome, time.Duration, json.RawMessage, int64) {
	failures := c.Attempts - c.Throttled
	if err != nil {
		var te *transportError
		if !errors.As(err, &te) {
			te = &transportError{sent: true, msg: "bot api: " + err.Error()}
		}
		return o.retryOrGiveUp(c, failures, te.sent, te.status, te.msg), backoff(failures), nil, 0
	}
	if resp.Ok {
		ids, _ := resultIDs(resp.Result)
		return outcome{Status: "sent", MessageIDs: ids}, 0, json.RawMessage(resp.Result), 0
	}
	e := resp.Error
	var migrate int64
	retryAfter := 0
	if e.Parameters != nil {
		migrate, retryAfter = e.Parameters.MigrateToChatID, e.Parameters.RetryAfter
	}
	out := outcome{Code: e.ErrorCode, Description: e.Description}
	switch {
	case e.ErrorCode == 429:
		out.Status, out.Throttled = "queued", true
		return out, time.Duration(max(1, retryAfter)) * time.Second, nil, migrate
	case e.ErrorCode >= 500:
		return o.retryOrGiveUp(c, failures, true, e.ErrorCode, e.Description), backoff(failures), nil, migrate
	case e.ErrorCode == 403 && c.ChatID > 0:
		out.Status = "blocked"
	default:
		out.Status = "failed"
	}
	return out, 0, nil, migrate
}

// retryOrGiveUp applies the delivery rule to a call without an answer: one
// that certainly did not reach Telegram is repeated; one that may have is
// repeated for live traffic (at least once) and reported 'unknown' for
// bulk (at most once). Repeats stop after MaxAttempts.
func (o *Outbox) retryOrGiveUp(c claimed, failures int, sent bool, code int, msg string) outcome {
	out := outcome{Code: code, Description: msg}
	switch {
	case sent && c.Priority == Bulk:
		out.Status = "unknown"
	case failures >= o.opts.MaxAttempts && sent:
		out.Status = "unknown"
	case failures >= o.opts.MaxAttempts:
		out.Status = "failed"
	default:
		out.Status = "queued"
	}
	return out
}

func backoff(failures int) time.Duration {
	return time.Duration(math.Min(60, math.Pow(2, float64(max(0, failures-1))))) * time.Second
}

// record writes the outcome (with the Result for the kind's hooks, if
// any), then updates the Redis queue, then enqueues the hook task.
func (o *Outbox) record(ctx context.Context, c claimed, pk picked, out outcome, result json.RawMessage, migrate int64, pauseUntil time.Time) {
	log := func() *slog.Logger {
		return o.log.With("tenant_id", c.TenantID, "bot_id", c.BotID, "chat_id", c.ChatID, "message_id", c.ID)
	}
	_, cst, _ := parseMember(pk.member)
	res := resultOf(c, out, result, migrate)
	var hook any
	if out.Status != "queued" {
		var err error
		if hook, err = o.pendingHook(res); err != nil {
			log().Error("outbox: result for hooks", "error", err)
		}
	}
	if err := o.finish(ctx, c, out, hook); errors.Is(err, errSuperseded) {
		// This pump lost the lease during the call and another one has taken
		// the message over (and resolved this call by the delivery rule):
		// the row and the queue are its business now.
		log().Warn("outbox: outcome of a call taken over by another pump dropped", "status", out.Status)
		return
	} else if err != nil {
		// The row stays 'sending' and the message stays queued: the next
		// pick resolves it by the interrupted-call rule.
		log().Error("outbox: record outcome", "error", err)
		_ = o.done(ctx, c.BotID, pk, cst.chat, false, o.clock.Now().Add(time.Second))
		return
	}
	final := out.Status != "queued"
	if err := o.done(ctx, c.BotID, pk, cst.chat, final, pauseUntil); err != nil {
		log().Error("outbox: update queue", "error", err)
	}
	if out.Status == "sent" {
		o.afterSent(ctx, c, pk.serviceBound, result)
	}
	if final && hook != nil {
		o.enqueueHook(ctx, res)
	}
}
