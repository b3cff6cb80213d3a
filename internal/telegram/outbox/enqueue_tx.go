package outbox

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// EnqueueTx records m inside the caller's transaction tx — a db.InTenant
// transaction of m.TenantID in which the caller writes its own rows — with
// Enqueue's validation and idempotency key semantics. The message is not
// queued yet: after tx commits the caller calls AfterCommit with the ids, so
// no call is made, and no result hook runs, before the caller's rows exist.
// If AfterCommit never comes (a crash right after the commit, a Redis error)
// the sweeper queues the committed row after Options.CommitGrace; if tx rolls
// back nothing is sent.
func (o *Outbox) EnqueueTx(ctx context.Context, tx pgx.Tx, m Message) (uuid.UUID, error) {
	idList, err := o.EnqueueBatchTx(ctx, tx, []Message{m})
	if err != nil {
		return uuid.Nil, err
	}
	return idList[0], nil
}

// EnqueueBatchTx is EnqueueTx for many messages of one tenant at once, in
// their order: one sequence reservation, one INSERT and one Redis pipeline
// for the whole batch instead of three round trips per message (a campaign
// leader records a chunk of recipients this way). It answers the messages'
// ids in the order of ms; a message whose idempotency key is already used on
// its bot — earlier or in the same batch — answers that message's id. Any
// invalid message fails the whole batch before anything is written.
func (o *Outbox) EnqueueBatchTx(ctx context.Context, tx pgx.Tx, ms []Message) ([]uuid.UUID, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	rows, err := o.prepareBatch(ctx, ms)
	if err != nil {
		return nil, err
	}
	found, err := insertBatchTx(ctx, tx, rows)
	if err != nil {
		return nil, fmt.Errorf("outbox: record messages: %w", err)
	}
	out := make([]uuid.UUID, len(rows))
	now := float64(o.clock.Now().UnixMilli())
	noted := map[uuid.UUID]bool{}
	var pending []pendingEntry
	for i, r := range rows {
		got := found[i]
		out[i] = got.ID
		if (got.Status != "queued" && got.Status != "sending") || noted[got.ID] {
			continue // an idempotent repeat of a finished message, or of one noted already
		}
		noted[got.ID] = true
		m := r.Msg
		pending = append(pending, pendingEntry{TenantID: m.TenantID, BotID: m.BotID, ChatID: m.ChatID, ThreadID: m.ThreadID,
			entry: entry{ID: got.ID, Cost: r.Cost, Priority: m.Priority, Seq: got.Seq, Own: methods[m.Method].own}})
	}
	if len(pending) == 0 {
		return out, nil
	}
	// Noted before the commit, so that the sweeper knows the messages exist
	// even if the process dies between the commit and AfterCommit.
	fields := make([]any, 0, 2*len(pending))
	members := make([]redis.Z, 0, len(pending))
	for _, p := range pending {
		fields = append(fields, p.ID.String(), p.encode())
		members = append(members, redis.Z{Score: now, Member: p.ID.String()})
	}
	_, err = o.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, o.keys.pending(), fields...)
		pipe.ZAdd(ctx, o.keys.pendingAt(), members...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: enqueue: note pending: %w", err)
	}
	return out, nil
}

// AfterCommit queues messages recorded by EnqueueTx once the transaction
// that recorded them has committed, and wakes their bots' pumps. Ids it does
// not know (already queued by the sweeper or an earlier call, or idempotent
// repeats of finished messages) are skipped. Call it only after a successful
// commit; an error is worth a log line, not a failure of the caller's work:
// the sweeper queues the messages after Options.CommitGrace.
func (o *Outbox) AfterCommit(ctx context.Context, ids ...uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = id.String()
	}
	vals, err := o.rdb.HMGet(ctx, o.keys.pending(), fields...).Result()
	if err != nil {
		return fmt.Errorf("outbox: after commit: %w", err)
	}
	var found []pendingEntry
	for _, v := range vals {
		if s, ok := v.(string); ok {
			if p, err := parsePending(s); err == nil {
				found = append(found, p)
			}
		}
	}
	if err := o.indexPending(ctx, found); err != nil {
		return fmt.Errorf("outbox: after commit: %w", err)
	}
	if err := o.dropPending(ctx, fields...); err != nil {
		return fmt.Errorf("outbox: after commit: %w", err)
	}
	return nil
}

// indexPending puts committed messages into their queues and kicks each bot
// once.
func (o *Outbox) indexPending(ctx context.Context, ps []pendingEntry) error {
	if err := o.pushMany(ctx, ps); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	bots := map[int64]uuid.UUID{}
	for _, p := range ps {
		bots[p.BotID] = p.TenantID
	}
	for botID, tenantID := range bots {
		if err := o.kick(ctx, tenantID, botID, o.clock.Now()); err != nil {
			return fmt.Errorf("kick: %w", err)
		}
	}
	return nil
}

func (o *Outbox) dropPending(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	_, err := o.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HDel(ctx, o.keys.pending(), ids...)
		pipe.ZRem(ctx, o.keys.pendingAt(), members...)
		return nil
	})
	return err
}

// sweepPending queues messages recorded by EnqueueTx whose AfterCommit has
// not come within CommitGrace, once their rows are committed. A row still
// invisible is an open or rolled-back transaction: it is looked at again on
// the next sweep and forgotten after StaleAfter (a row committed later than
// that is older than StaleAfter, so reindexStale finds it).
func (o *Outbox) sweepPending(ctx context.Context) error {
	now := o.clock.Now()
	due, err := o.rdb.ZRangeByScoreWithScores(ctx, o.keys.pendingAt(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.Add(-o.opts.CommitGrace).UnixMilli(), 10), Count: 500,
	}).Result()
	if err != nil || len(due) == 0 {
		return err
	}
	fields := make([]string, len(due))
	noted := map[string]time.Time{}
	for i, z := range due {
		fields[i] = z.Member.(string)
		noted[fields[i]] = time.UnixMilli(int64(z.Score))
	}
	vals, err := o.rdb.HMGet(ctx, o.keys.pending(), fields...).Result()
	if err != nil {
		return err
	}
	var drop []string
	byTenant := map[uuid.UUID][]pendingEntry{}
	for i, v := range vals {
		s, _ := v.(string)
		p, err := parsePending(s)
		if err != nil {
			drop = append(drop, fields[i]) // half-written or malformed
			continue
		}
		byTenant[p.TenantID] = append(byTenant[p.TenantID], p)
	}
	for tenantID, ps := range byTenant {
		idList := make([]uuid.UUID, len(ps))
		for i, p := range ps {
			idList[i] = p.ID
		}
		status := map[uuid.UUID]string{}
		err := o.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id, status FROM outbox_messages WHERE tenant_id = $1 AND id = ANY($2)`, tenantID, idList)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id uuid.UUID
				var st string
				if err := rows.Scan(&id, &st); err != nil {
					return err
				}
				status[id] = st
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		var open []pendingEntry
		for _, p := range ps {
			st, ok := status[p.ID]
			switch {
			case st == "queued" || st == "sending":
				open = append(open, p)
				drop = append(drop, p.ID.String())
			case ok || now.Sub(noted[p.ID.String()]) > o.opts.StaleAfter:
				drop = append(drop, p.ID.String())
			}
		}
		if len(open) > 0 {
			o.log.Warn("outbox: queued messages whose AfterCommit never came", "tenant_id", tenantID, "messages", len(open))
		}
		if err := o.indexPending(ctx, open); err != nil {
			return err
		}
	}
	return o.dropPending(ctx, drop...)
}

// pendingEntry is what the sweeper and AfterCommit need to queue a message
// recorded by EnqueueTx.
type pendingEntry struct {
	TenantID uuid.UUID
	BotID    int64
	ChatID   int64
	ThreadID int
	entry
}

// encode: tenant|bot|chat|id|chatCost|botCost|priority|seq|thread|own
// (entries written before destinations had threads end after seq).
func (p pendingEntry) encode() string {
	own := 0
	if p.Own {
		own = 1
	}
	return fmt.Sprintf("%s|%d|%d|%s|%d|%d|%d|%d|%d|%d", p.TenantID, p.BotID, p.ChatID, p.ID, p.Cost.chat, p.Cost.bot, p.Priority, p.Seq, p.ThreadID, own)
}

func parsePending(s string) (pendingEntry, error) {
	f := strings.Split(s, "|")
	bad := fmt.Errorf("outbox: bad pending entry %q", s)
	if len(f) != 8 && len(f) != 10 {
		return pendingEntry{}, bad
	}
	var p pendingEntry
	var err error
	n := make([]int64, 0, 6)
	for _, i := range []int{1, 2, 4, 5, 6, 7} {
		v, perr := strconv.ParseInt(f[i], 10, 64)
		if perr != nil {
			return pendingEntry{}, bad
		}
		n = append(n, v)
	}
	if p.TenantID, err = uuid.Parse(f[0]); err != nil {
		return pendingEntry{}, bad
	}
	if p.ID, err = uuid.Parse(f[3]); err != nil {
		return pendingEntry{}, bad
	}
	p.BotID, p.ChatID = n[0], n[1]
	p.Cost = cost{chat: int(n[2]), bot: int(n[3])}
	p.Priority, p.Seq = Priority(n[4]), n[5]
	if len(f) == 10 {
		t, perr := strconv.Atoi(f[8])
		if perr != nil || t < 0 || (f[9] != "0" && f[9] != "1") {
			return pendingEntry{}, bad
		}
		p.ThreadID, p.Own = t, f[9] == "1"
	}
	if !p.Priority.valid() || p.BotID <= 0 {
		return pendingEntry{}, bad
	}
	return p, nil
}
