package outbox

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// One round trip per book-keeping step.
//
// db.InTenant costs three round trips for one statement (BEGIN with
// set_config, the statement, COMMIT) and holds a pool connection for all of
// them. The
// claim and the outcome of an ordinary call are each one statement, so they
// go as a pipeline instead (db.InTenantPipeline): set_config(..., true) and
// the statement are sent together with one Sync, which PostgreSQL runs as one implicit transaction
// (the tenant setting lasts until it ends, so row-level security applies to
// the statement exactly as in InTenant). One round trip, the connection held
// for that long only. Anything unusual (a row not 'queued' at claim, a
// 'blocked' outcome with its bot_chats and events writes) takes the
// transactional path.

// claimQueued is claim's common case in one round trip: a 'queued' row
// becomes 'sending'. ok is false when the row is not 'queued' (gone,
// finished, or left 'sending' by an interrupted call): claim then decides.
// Concurrent claims of one tenant go as one statement (coalesce.go).
func (o *Outbox) claimQueued(ctx context.Context, tenantID, id uuid.UUID) (claimed, bool, error) {
	if err := ctx.Err(); err != nil {
		return claimed{ID: id, TenantID: tenantID}, false, fmt.Errorf("outbox: claim %s: %w", id, err)
	}
	r, err := o.claims.do(tenantID, id)
	if err != nil {
		return claimed{ID: id, TenantID: tenantID}, false, fmt.Errorf("outbox: claim %s: %w", id, err)
	}
	return r.c, r.ok, nil
}

type claimResult struct {
	c  claimed
	ok bool
}

// claimBatch switches the 'queued' rows among idList to 'sending' in one
// statement; a row it did not switch answers ok false.
func (o *Outbox) claimBatch(ctx context.Context, tenantID uuid.UUID, idList []uuid.UUID) ([]claimResult, error) {
	got := make(map[uuid.UUID]claimed, len(idList))
	b := &pgx.Batch{}
	b.Queue(`
		UPDATE outbox_messages SET status = 'sending', attempts = attempts + 1, sending_at = now()
		WHERE tenant_id = $1 AND id = ANY($2) AND status = 'queued'
		RETURNING id, bot_id, chat_id, thread_id, method, params, priority, kind, ref, attempts, throttled, maybe_duplicate`, tenantID, idList)
	err := o.db.InTenantPipeline(ctx, tenantID, b, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := claimed{TenantID: tenantID}
			var prio int
			if err := rows.Scan(&c.ID, &c.BotID, &c.ChatID, &c.ThreadID, &c.Method, &c.Params, &prio, &c.Kind, &c.Ref, &c.Attempts, &c.Throttled, &c.MaybeDup); err != nil {
				return err
			}
			c.Priority = Priority(prio)
			got[c.ID] = c
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]claimResult, len(idList))
	for i, id := range idList {
		c, ok := got[id]
		if !ok {
			out[i] = claimResult{c: claimed{ID: id, TenantID: tenantID}}
			continue
		}
		delete(got, id) // a repeated id is claimed once
		out[i] = claimResult{c: c, ok: true}
	}
	return out, nil
}

// finishReq is one outcome for finishBatch.
type finishReq struct {
	id        uuid.UUID
	attempts  int
	status    string
	throttled int
	code      *int
	desc      *string
	ids       []int64
	latencyMS int
	hook      *string
}

// finishPlain records an outcome other than 'blocked' in one round trip
// (see finish); concurrent outcomes of one tenant go as one statement.
func (o *Outbox) finishPlain(_ context.Context, c claimed, status string, throttled int, code *int, desc *string, ids []int64, latencyMS int, hook any) error {
	req := finishReq{id: c.ID, attempts: c.Attempts, status: status, throttled: throttled, code: code, desc: desc, ids: ids, latencyMS: latencyMS}
	if h, ok := hook.(string); ok {
		req.hook = &h
	}
	ok, err := o.finishes.do(c.TenantID, req)
	if err != nil {
		return err
	}
	if !ok {
		return errSuperseded
	}
	return nil
}

// finishBatch records outcomes in one statement, each only if its row is
// still in the attempt the call claimed; ok false for a row that was not.
func (o *Outbox) finishBatch(ctx context.Context, tenantID uuid.UUID, reqs []finishReq) ([]bool, error) {
	n := len(reqs)
	var (
		idList            = make([]uuid.UUID, n)
		statuses, idTexts = make([]string, n), make([]string, n)
		thr, lat, att     = make([]int32, n), make([]int32, n), make([]int32, n)
		codes             = make([]*int32, n)
		descs, hooks      = make([]*string, n), make([]*string, n)
	)
	for i, r := range reqs {
		idList[i], statuses[i], descs[i], hooks[i] = r.id, r.status, r.desc, r.hook
		thr[i], lat[i], att[i] = int32(r.throttled), int32(r.latencyMS), int32(r.attempts)
		if r.code != nil {
			v := int32(*r.code)
			codes[i] = &v
		}
		idTexts[i] = int64Array(r.ids)
	}
	// Keyed on the attempt too: two outcomes of one message (a pump that
	// lost its lease mid-call and the one that took over) may share a batch,
	// and only the current attempt's is recorded.
	type attempt struct {
		id uuid.UUID
		n  int32
	}
	done := make(map[attempt]bool, n)
	b := &pgx.Batch{}
	b.Queue(`
		UPDATE outbox_messages m SET status = v.status, throttled = m.throttled + v.thr, error_code = v.code,
		       error_description = v.descr, message_ids = v.ids::bigint[], latency_ms = v.lat,
		       finished_at = CASE WHEN v.status = 'queued' THEN NULL ELSE now() END,
		       hook_result = v.hook::jsonb
		FROM unnest($2::uuid[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[], $8::int[], $9::int[], $10::text[])
		     AS v(id, status, thr, code, descr, ids, lat, att, hook)
		WHERE m.tenant_id = $1 AND m.id = v.id AND m.status = 'sending' AND m.attempts = v.att
		RETURNING m.id, m.attempts`,
		tenantID, idList, statuses, thr, codes, descs, idTexts, lat, att, hooks)
	err := o.db.InTenantPipeline(ctx, tenantID, b, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a attempt
			if err := rows.Scan(&a.id, &a.n); err != nil {
				return err
			}
			done[a] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]bool, n)
	for i, r := range reqs {
		out[i] = done[attempt{r.id, int32(r.attempts)}]
	}
	return out, nil
}

// int64Array is a PostgreSQL array literal of ids ({} for none).
func int64Array(v []int64) string {
	b := make([]byte, 0, 2+len(v)*11)
	b = append(b, '{')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return string(append(b, '}'))
}
