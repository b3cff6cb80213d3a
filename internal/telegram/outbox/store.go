package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

type rowIn struct {
	ID     uuid.UUID
	Msg    Message
	Params json.RawMessage
	Seq    int64
	Cost   cost
}

// insert records a new message in its own transaction (see insertBatchTx).
func (o *Outbox) insert(ctx context.Context, r rowIn) (uuid.UUID, string, int64, error) {
	var rec recorded
	err := o.db.InTenant(ctx, r.Msg.TenantID, func(tx pgx.Tx) error {
		got, err := insertBatchTx(ctx, tx, []rowIn{r})
		if err == nil {
			rec = got[0]
		}
		return err
	})
	if err != nil {
		return uuid.Nil, "", 0, fmt.Errorf("outbox: record message: %w", err)
	}
	return rec.ID, rec.Status, rec.Seq, nil
}

// recorded is what insertBatchTx found for one message: its own new row or
// the row already recorded under its idempotency key.
type recorded struct {
	ID     uuid.UUID
	Status string
	Seq    int64
}

// insertBatchTx records rows (one tenant) with one INSERT; a row whose
// idempotency key is already used on its bot, earlier or by a row before it
// in the batch, is not inserted and answers the existing row. Like
// insertTx it never fails on a repeated key.
func insertBatchTx(ctx context.Context, tx pgx.Tx, rows []rowIn) ([]recorded, error) {
	n := len(rows)
	var (
		idList                = make([]uuid.UUID, n)
		bots, chats, seqs     = make([]int64, n), make([]int64, n), make([]int64, n)
		threads, prios, costs = make([]int32, n), make([]int32, n), make([]int32, n)
		methodList, kinds     = make([]string, n), make([]string, n)
		refs, params          = make([]string, n), make([]string, n)
		keys                  = make([]*string, n)
	)
	for i, r := range rows {
		m := r.Msg
		idList[i], bots[i], chats[i], seqs[i] = r.ID, m.BotID, m.ChatID, r.Seq
		threads[i], prios[i], costs[i] = int32(m.ThreadID), int32(m.Priority), int32(r.Cost.chat)
		methodList[i], kinds[i], refs[i], params[i] = m.Method, m.Kind, m.Ref, string(r.Params)
		if m.IdempotencyKey != "" {
			keys[i] = &rows[i].Msg.IdempotencyKey
		}
	}
	tenantID := rows[0].Msg.TenantID
	out := make([]recorded, n)
	inserted := map[uuid.UUID]string{}
	// WITH ORDINALITY and ORDER BY keep the batch's order, so that of two
	// rows with one key the first is the one inserted.
	res, err := tx.Query(ctx, `
		INSERT INTO outbox_messages (id, tenant_id, bot_id, chat_id, thread_id, method, params, priority, kind, ref, idempotency_key, seq, cost)
		SELECT t.id, $1, t.bot, t.chat, t.thread, t.method, t.params::jsonb, t.prio, t.kind, t.ref, t.key, t.seq, t.cost
		FROM unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::int[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::int[])
			WITH ORDINALITY AS t(id, bot, chat, thread, method, params, prio, kind, ref, key, seq, cost, ord)
		ORDER BY t.ord
		ON CONFLICT (tenant_id, bot_id, idempotency_key) DO NOTHING
		RETURNING id, status`,
		tenantID, idList, bots, chats, threads, methodList, params, prios, kinds, refs, keys, seqs, costs)
	if err != nil {
		return nil, err
	}
	for res.Next() {
		var id uuid.UUID
		var status string
		if err := res.Scan(&id, &status); err != nil {
			res.Close()
			return nil, err
		}
		inserted[id] = status
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	var lookBots []int64
	var lookKeys []string
	for i, r := range rows {
		if st, ok := inserted[r.ID]; ok {
			out[i] = recorded{ID: r.ID, Status: st, Seq: r.Seq}
			continue
		}
		if keys[i] == nil {
			return nil, fmt.Errorf("message %d without a key was not recorded", i)
		}
		lookBots, lookKeys = append(lookBots, r.Msg.BotID), append(lookKeys, r.Msg.IdempotencyKey)
	}
	if len(lookKeys) == 0 {
		return out, nil
	}
	type botKey struct {
		bot int64
		key string
	}
	existing := map[botKey]recorded{}
	res, err = tx.Query(ctx, `
		SELECT o.id, o.status, o.seq, o.bot_id, o.idempotency_key
		FROM outbox_messages o JOIN unnest($2::bigint[], $3::text[]) AS k(bot, key) ON o.bot_id = k.bot AND o.idempotency_key = k.key
		WHERE o.tenant_id = $1`, tenantID, lookBots, lookKeys)
	if err != nil {
		return nil, err
	}
	for res.Next() {
		var rec recorded
		var k botKey
		if err := res.Scan(&rec.ID, &rec.Status, &rec.Seq, &k.bot, &k.key); err != nil {
			res.Close()
			return nil, err
		}
		existing[k] = rec
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	for i, r := range rows {
		if out[i].ID != uuid.Nil {
			continue
		}
		rec, ok := existing[botKey{r.Msg.BotID, r.Msg.IdempotencyKey}]
		if !ok {
			return nil, fmt.Errorf("message %d: no row under its idempotency key", i)
		}
		out[i] = rec
	}
	return out, nil
}

// claimed is a message taken for a call.
type claimed struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	BotID       int64
	ChatID      int64
	ThreadID    int
	Method      string
	Params      json.RawMessage
	Priority    Priority
	Kind, Ref   string
	Attempts    int
	Throttled   int
	Interrupted bool // the previous attempt died between 'sending' and its outcome
	MaybeDup    bool // this or an earlier attempt was interrupted
}

type claimAction int

const (
	claimSend    claimAction = iota
	claimSkip                // gone or already finished: drop from the queue
	claimUnknown             // a bulk message whose earlier call was interrupted
)

// claim switches a message to 'sending' before its call (invariant 2). A row
// already 'sending' means an earlier call was interrupted (the pump holding
// it died): bulk rows become 'unknown' and are never repeated; live rows are
// sent again and flagged maybe_duplicate (at least once).
func (o *Outbox) claim(ctx context.Context, tenantID, id uuid.UUID) (claimed, claimAction, error) {
	if c, ok, err := o.claimQueued(ctx, tenantID, id); err != nil || ok {
		if err != nil {
			return c, claimSkip, err
		}
		return c, claimSend, nil
	}
	c := claimed{ID: id, TenantID: tenantID}
	action := claimSend
	err := o.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var status string
		var prio int
		err := tx.QueryRow(ctx, `
			SELECT status, bot_id, chat_id, thread_id, method, params, priority, kind, ref, attempts, throttled, maybe_duplicate
			FROM outbox_messages WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id,
		).Scan(&status, &c.BotID, &c.ChatID, &c.ThreadID, &c.Method, &c.Params, &prio, &c.Kind, &c.Ref, &c.Attempts, &c.Throttled, &c.MaybeDup)
		if db.IsNotFound(err) {
			action = claimSkip
			return nil
		}
		if err != nil {
			return err
		}
		c.Priority = Priority(prio)
		switch {
		case status != "queued" && status != "sending":
			action = claimSkip
			return nil
		case status == "sending" && c.Priority == Bulk:
			action = claimUnknown
			hook, err := o.pendingHook(resultOf(c, interruptedOutcome, nil, 0))
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `
				UPDATE outbox_messages SET status = 'unknown', finished_at = now(),
				       error_description = $3, hook_result = $4
				WHERE tenant_id = $1 AND id = $2`, tenantID, id, interruptedOutcome.Description, hook)
			return err
		}
		c.Interrupted = status == "sending"
		c.MaybeDup = c.MaybeDup || c.Interrupted
		c.Attempts++
		_, err = tx.Exec(ctx, `
			UPDATE outbox_messages SET status = 'sending', attempts = attempts + 1, sending_at = now(),
			       maybe_duplicate = maybe_duplicate OR $3
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, c.Interrupted)
		return err
	})
	if err != nil {
		return c, claimSkip, fmt.Errorf("outbox: claim %s: %w", id, err)
	}
	return c, action, nil
}

// interruptedOutcome is a bulk call interrupted after it may have reached
// Telegram (never repeated).
var interruptedOutcome = outcome{Status: "unknown", Description: "interrupted: the call may or may not have reached Telegram"}

// outcome is what a call came to.
type outcome struct {
	Status      string // queued (to retry), sent, failed, unknown, blocked
	Throttled   bool
	Code        int
	Description string
	MessageIDs  []int64
	Latency     time.Duration
}

// errSuperseded: the row is no longer in the state the call claimed it in
// (another pump took the message over after this one lost its lease).
var errSuperseded = errors.New("outbox: call superseded")

// finish records an outcome, only if the row is still in the attempt the
// call claimed (else errSuperseded); a 'blocked' outcome on a private chat
// also marks the bot chat unreachable and unsubscribed and logs a
// bot_blocked event, in the same transaction. hook is the Result awaiting
// the kind's hooks (JSON text) or nil, stored in the same UPDATE.
func (o *Outbox) finish(ctx context.Context, c claimed, out outcome, hook any) error {
	throttled := 0
	if out.Throttled {
		throttled = 1
	}
	var code *int
	if out.Code != 0 {
		code = &out.Code
	}
	var desc *string
	if out.Description != "" {
		desc = &out.Description
	}
	ids := out.MessageIDs
	if ids == nil {
		ids = []int64{}
	}
	if out.Status != "blocked" {
		err := o.finishPlain(ctx, c, out.Status, throttled, code, desc, ids, int(out.Latency.Milliseconds()), hook)
		if err != nil && !errors.Is(err, errSuperseded) {
			return fmt.Errorf("outbox: record outcome of %s: %w", c.ID, err)
		}
		return err
	}
	err := o.db.InTenant(ctx, c.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE outbox_messages SET status = $3, throttled = throttled + $4, error_code = $5,
			       error_description = $6, message_ids = $7, latency_ms = $8,
			       finished_at = CASE WHEN $3 = 'queued' THEN NULL ELSE now() END,
			       hook_result = $10::jsonb
			WHERE tenant_id = $1 AND id = $2 AND status = 'sending' AND attempts = $9`,
			c.TenantID, c.ID, out.Status, throttled, code, desc, ids, int(out.Latency.Milliseconds()), c.Attempts, hook)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errSuperseded
		}
		if out.Status != "blocked" {
			return nil
		}
		var contactID uuid.UUID
		err = tx.QueryRow(ctx, `
			UPDATE bot_chats SET reachable = false, blocked_at = now(), unsubscribed = true
			WHERE tenant_id = $1 AND bot_id = $2 AND chat_id = $3 AND reachable
			RETURNING contact_id`, c.TenantID, c.BotID, c.ChatID).Scan(&contactID)
		if db.IsNotFound(err) {
			return nil // unknown chat or already marked
		}
		if err != nil {
			return err
		}
		payload, _ := json.Marshal(map[string]any{"chat_id": c.ChatID, "description": out.Description})
		_, err = tx.Exec(ctx, `
			INSERT INTO events (tenant_id, contact_id, bot_id, type, payload)
			VALUES ($1, $2, $3, 'bot_blocked', $4)`, c.TenantID, contactID, c.BotID, payload)
		return err
	})
	if err != nil && !errors.Is(err, errSuperseded) {
		return fmt.Errorf("outbox: record outcome of %s: %w", c.ID, err)
	}
	return err
}

// DayStats are one bot's counters for one UTC day.
type DayStats struct {
	BotID     int64     `json:"bot_id"`
	Day       time.Time `json:"day"`
	Sent      int64     `json:"sent"`
	Failed    int64     `json:"failed"`
	Blocked   int64     `json:"blocked"`
	Unknown   int64     `json:"unknown"`
	Pending   int64     `json:"pending"`
	Throttled int64     `json:"throttled"` // 429 answers (waits, not failures)
}

// Stats counts a tenant's calls per bot per UTC day since a time, for the
// operator and admin views.
func (o *Outbox) Stats(ctx context.Context, tenantID uuid.UUID, since time.Time) ([]DayStats, error) {
	var out []DayStats
	err := o.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT bot_id, (created_at AT TIME ZONE 'UTC')::date AS day,
			       count(*) FILTER (WHERE status = 'sent'),
			       count(*) FILTER (WHERE status = 'failed'),
			       count(*) FILTER (WHERE status = 'blocked'),
			       count(*) FILTER (WHERE status = 'unknown'),
			       count(*) FILTER (WHERE status IN ('queued', 'sending')),
			       coalesce(sum(throttled), 0)
			FROM outbox_messages
			WHERE tenant_id = $1 AND created_at >= $2
			GROUP BY 1, 2 ORDER BY 2, 1`, tenantID, since)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s DayStats
			if err := rows.Scan(&s.BotID, &s.Day, &s.Sent, &s.Failed, &s.Blocked, &s.Unknown, &s.Pending, &s.Throttled); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: stats: %w", err)
	}
	return out, nil
}

// paidCache remembers which bots have paid broadcasts enabled.
type paidCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[int64]paidEntry
}

type paidEntry struct {
	paid bool
	at   time.Time
}

func (o *Outbox) paidBroadcast(ctx context.Context, tenantID uuid.UUID, botID int64) (bool, error) {
	o.paid.mu.Lock()
	e, ok := o.paid.m[botID]
	o.paid.mu.Unlock()
	if ok && time.Since(e.at) < o.paid.ttl {
		return e.paid, nil
	}
	var paid bool
	err := o.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT paid_broadcast FROM bots WHERE tenant_id = $1 AND id = $2`, tenantID, botID).Scan(&paid)
		if db.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("outbox: bot %d settings: %w", botID, err)
	}
	o.paid.mu.Lock()
	o.paid.m[botID] = paidEntry{paid: paid, at: time.Now()}
	o.paid.mu.Unlock()
	return paid, nil
}

// InFlightTx reports whether the message recorded under an idempotency key
// of a bot is still under way: queued, being sent, or sent with its result
// hooks not yet run. A feature that asks for something again after a while
// (support: a topic creation whose result did not come) checks it first, so
// a call that is only waiting for its budget is not asked for twice. tx is
// a db.InTenant transaction of the message's tenant.
func InFlightTx(ctx context.Context, tx pgx.Tx, botID int64, idempotencyKey string) (bool, error) {
	var open bool
	err := tx.QueryRow(ctx, `SELECT status IN ('queued', 'sending') OR hook_result IS NOT NULL
		FROM outbox_messages WHERE tenant_id = app_tenant() AND bot_id = $1 AND idempotency_key = $2`,
		botID, idempotencyKey).Scan(&open)
	if db.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("outbox: in flight: %w", err)
	}
	return open, nil
}
