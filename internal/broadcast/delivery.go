package broadcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/redisconn"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Delivery, listmonk-style: one leader per campaign (a Redis lease) runs
// short steps, each an asynq task "broadcast:deliver" that enqueues the
// next one (see tasks.go). A step
//
//  1. copies the outcomes the outbox recorded into the campaign's delivery
//     rows (one UPDATE ... FROM outbox_messages for the whole window) and
//     asks the campaign's survey of those just sent;
//  2. tops the window up: takes the next recipients after the checkpoint,
//     writes their delivery rows ('queued') with their outbox rows (Bulk,
//     idempotency key per campaign and bot chat) in the same transactions,
//     then moves the checkpoint. A recipient recorded twice (a crash before
//     the checkpoint moved) is still one row and one message; the outbox
//     sends each row at most once ('sending' before the call, a call
//     interrupted in between becomes 'unknown', never repeated).
//
// The window — messages of the campaign queued in the outbox and not yet
// finished — is about WindowSpan of the bot's rate. The outbox sends a
// bot's Bulk messages in enqueue order at the bot's budget; because each
// campaign only ever has a window queued and refills it as it drains,
// campaigns on one bot interleave and each gets an equal share, while a
// live message (higher priority) goes before all of them. Different bots
// have different budgets and pumps, so they do not slow each other.

type leaderState struct {
	TenantID     uuid.UUID
	ID           uuid.UUID
	BotID        int64
	Paid         bool
	SegmentID    *uuid.UUID
	Topic        string
	Content      Content
	SurveyID     *uuid.UUID
	SurveyRunID  *uuid.UUID
	Status       string
	Checkpoint   uuid.UUID
	Exhausted    bool
	AudienceSize *int
}

func (s *Service) loadState(ctx context.Context, tenantID, id uuid.UUID) (leaderState, error) {
	st := leaderState{TenantID: tenantID, ID: id}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT c.bot_id, b.paid_broadcast, c.segment_id, c.topic, c.content, c.survey_id, c.survey_run_id,
				c.status, c.checkpoint, c.exhausted, c.audience_size
			FROM campaigns c JOIN bots b ON b.id = c.bot_id WHERE c.tenant_id = $1 AND c.id = $2`, tenantID, id).
			Scan(&st.BotID, &st.Paid, &st.SegmentID, &st.Topic, &st.Content, &st.SurveyID, &st.SurveyRunID,
				&st.Status, &st.Checkpoint, &st.Exhausted, &st.AudienceSize)
	})
	if db.IsNotFound(err) {
		return st, ErrNotFound
	}
	return st, err
}

// window is how many messages a campaign keeps queued in the outbox.
func (s *Service) window(paid bool) int {
	l := s.opts.Limits
	rate := l.BotPerSecond * l.Scale
	if paid {
		rate = l.PaidPerSecond * l.Scale
	}
	return max(s.opts.MinWindow, int(math.Ceil(rate*s.opts.WindowSpan.Seconds())))
}

func (st leaderState) segment() uuid.UUID {
	if st.SegmentID == nil {
		return uuid.Nil
	}
	return *st.SegmentID
}

// stepResult says whether the leader goes on.
type stepResult int

const (
	stepAgain stepResult = iota // run the next step after Options.Step
	stepFull                    // the window is full (or only outcomes are awaited): the next step after half a window
	stepStop                    // nothing more to do (done, paused and drained, cancelled and drained)
	stepBusy                    // another leader holds the campaign
)

// Step runs one step of a campaign's leader (exported for tests and the
// benchmarks; the worker calls it through the deliver task).
func (s *Service) Step(ctx context.Context, tenantID, id uuid.UUID) (bool, error) {
	r, err := s.step(ctx, tenantID, id)
	return r == stepAgain || r == stepFull, err
}

func (s *Service) step(ctx context.Context, tenantID, id uuid.UUID) (stepResult, error) {
	lease := redisconn.NewLease(s.rdb, leaseKey(id), ids.Token(12), s.opts.LeaseTTL)
	held, err := lease.TryAcquire(ctx)
	if err != nil {
		return stepAgain, fmt.Errorf("broadcast: step: lease: %w", err)
	}
	if !held {
		return stepBusy, nil
	}
	defer func() {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lease.Release(bctx)
	}()
	st, err := s.loadState(ctx, tenantID, id)
	if errors.Is(err, ErrNotFound) {
		return stepStop, nil // deleted
	}
	if err != nil {
		return stepAgain, fmt.Errorf("broadcast: step: load: %w", err)
	}
	log := s.log.With("tenant_id", tenantID, "campaign_id", id, "bot_id", st.BotID)
	if st.Status == StatusSending {
		if err := s.prepare(ctx, &st); err != nil {
			return stepAgain, err
		}
	}
	sent, open, err := s.reconcile(ctx, st)
	if err != nil {
		return stepAgain, err
	}
	s.askSurvey(ctx, st, sent, log)
	if st.Status != StatusSending {
		if open > 0 {
			return stepFull, nil // let the last window's outcomes come in
		}
		return stepStop, nil
	}
	if st.Exhausted && open == 0 {
		err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE campaigns SET status = 'done', finished_at = $3, updated_at = now()
				WHERE tenant_id = $1 AND id = $2 AND status = 'sending'`, tenantID, id, s.clock.Now())
			return err
		})
		if err != nil {
			return stepAgain, fmt.Errorf("broadcast: step: finish: %w", err)
		}
		log.Info("broadcast: campaign done")
		return stepStop, nil
	}
	room := s.window(st.Paid) - open
	if st.Exhausted || room <= 0 {
		return stepFull, nil
	}
	page, err := s.audience.Page(ctx, tenantID, st.BotID, st.segment(), st.Topic, st.Checkpoint, min(room, s.opts.PageMax))
	if errors.Is(err, audience.ErrNotFound) || errors.Is(err, audience.ErrUnknownTopic) {
		// The segment or topic went away mid-campaign: no step will ever
		// page again, so the campaign waits, paused, for an admin.
		log.Error("broadcast: the campaign's audience is gone; pausing it", "error", err)
		if err := s.transition(ctx, tenantID, id, []string{StatusSending}, StatusPaused, "", nil); err != nil && !errors.Is(err, ErrState) {
			return stepAgain, err
		}
		return stepFull, nil
	}
	if err != nil {
		return stepAgain, fmt.Errorf("broadcast: step: audience: %w", err)
	}
	if err := s.queue(ctx, st, page, len(page) < min(room, s.opts.PageMax)); err != nil {
		return stepAgain, err
	}
	if room > s.opts.PageMax {
		return stepAgain, nil // more room than one page: come back soon
	}
	return stepFull, nil
}

// prepare does the once-per-campaign work of the first step: the audience
// size (what the stats compare against) and the survey run.
func (s *Service) prepare(ctx context.Context, st *leaderState) error {
	if st.AudienceSize == nil {
		n, err := s.audience.Count(ctx, st.TenantID, st.BotID, st.segment(), st.Topic)
		if err != nil {
			return fmt.Errorf("broadcast: step: audience size: %w", err)
		}
		st.AudienceSize = &n
		if err := s.db.InTenant(ctx, st.TenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE campaigns SET audience_size = $3 WHERE tenant_id = $1 AND id = $2 AND audience_size IS NULL`, st.TenantID, st.ID, n)
			return err
		}); err != nil {
			return fmt.Errorf("broadcast: step: audience size: %w", err)
		}
	}
	if st.SurveyID != nil && st.SurveyRunID == nil && s.surveys != nil {
		run, err := s.surveys.StartRun(ctx, st.TenantID, *st.SurveyID, survey.RunSpec{Source: SurveySource, Ref: st.ID.String()})
		if errors.Is(err, survey.ErrNotFound) {
			// Deleted since the campaign was written: send without it.
			s.log.Warn("broadcast: the campaign's survey is gone; sending without it", "tenant_id", st.TenantID, "campaign_id", st.ID)
			st.SurveyID = nil
			return s.db.InTenant(ctx, st.TenantID, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE campaigns SET survey_id = NULL WHERE tenant_id = $1 AND id = $2`, st.TenantID, st.ID)
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("broadcast: step: survey run: %w", err)
		}
		// The lease makes this leader the only one; the condition keeps a
		// run that a lost lease raced with from being replaced.
		if err := s.db.InTenant(ctx, st.TenantID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `UPDATE campaigns SET survey_run_id = COALESCE(survey_run_id, $3) WHERE tenant_id = $1 AND id = $2
				RETURNING survey_run_id`, st.TenantID, st.ID, run).Scan(&st.SurveyRunID)
		}); err != nil {
			return fmt.Errorf("broadcast: step: survey run: %w", err)
		}
	}
	return nil
}

type sentRow struct {
	ContactID uuid.UUID
	ChatID    int64
	Lang      string
}

// reconcile copies finished outbox outcomes into the delivery rows and
// answers the rows that just became 'sent' and how many are still open.
func (s *Service) reconcile(ctx context.Context, st leaderState) ([]sentRow, int, error) {
	var sent []sentRow
	var open int
	err := s.db.InTenant(ctx, st.TenantID, func(tx pgx.Tx) error {
		sent = sent[:0]
		rows, err := tx.Query(ctx, `
			WITH f AS (
				SELECT d.bot_chat_id, m.status, m.message_ids[1] AS mid, m.error_code, m.error_description, m.finished_at
				FROM campaign_deliveries d JOIN outbox_messages m ON m.id = d.outbox_id
				WHERE d.tenant_id = $1 AND d.campaign_id = $2 AND d.status = 'queued'
				  AND m.status IN ('sent', 'failed', 'blocked', 'unknown')
			)
			UPDATE campaign_deliveries d SET status = f.status, message_id = f.mid, error_code = f.error_code,
				reason = f.error_description, finished_at = f.finished_at
			FROM f WHERE d.tenant_id = $1 AND d.campaign_id = $2 AND d.bot_chat_id = f.bot_chat_id AND d.status = 'queued'
			RETURNING d.contact_id, d.chat_id, d.lang, d.status`, st.TenantID, st.ID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r sentRow
			var status string
			if err := rows.Scan(&r.ContactID, &r.ChatID, &r.Lang, &status); err != nil {
				return err
			}
			if status == "sent" {
				sent = append(sent, r)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM campaign_deliveries WHERE tenant_id = $1 AND campaign_id = $2 AND status = 'queued'`,
			st.TenantID, st.ID).Scan(&open)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("broadcast: step: reconcile: %w", err)
	}
	return sent, open, nil
}

// askSurvey starts the campaign survey for recipients whose message was
// sent (after it, so the question follows the message). Ask is idempotent
// per run and contact; a failure is logged and not retried (the person
// still has the message; the survey stats show who was asked).
func (s *Service) askSurvey(ctx context.Context, st leaderState, sent []sentRow, log interface {
	Warn(string, ...any)
}) {
	if st.SurveyRunID == nil || s.surveys == nil || len(sent) == 0 {
		return
	}
	for _, r := range sent {
		err := s.surveys.Ask(ctx, st.TenantID, *st.SurveyRunID, survey.Recipient{BotID: st.BotID, ChatID: r.ChatID, ContactID: r.ContactID, Lang: r.Lang})
		if err != nil && !errors.Is(err, survey.ErrClosed) {
			log.Warn("broadcast: ask the campaign survey", "chat_id", r.ChatID, "error", err)
		}
	}
}

// queueChunk is how many recipients one transaction records: a page is
// recorded by up to queueParallel transactions at once, because each
// outbox row is its own round trip and one connection alone would cap a
// campaign at a few hundred messages a second on a busy database.
const (
	queueChunk    = 50
	queueParallel = 8
)

// queue records a page of recipients — delivery rows and outbox rows, in
// chunks of one transaction each — then moves the checkpoint past it.
//
// Each chunk first takes a share lock on the campaign row while it is
// still sending: a pause or cancel (an UPDATE of that row) waits for the
// chunks in progress, and no chunk commits after it. The checkpoint moves
// only when every chunk committed; a chunk that failed (or a crash) leaves
// it behind, and the next step pages those recipients again, which is
// harmless: the delivery row's key and the outbox's idempotency key make a
// recipient recorded twice the same single message.
func (s *Service) queue(ctx context.Context, st leaderState, page []Recipient, exhausted bool) error {
	if len(page) == 0 && !exhausted {
		return nil
	}
	var mu sync.Mutex
	labels := map[string]string{}
	label := func(lang string) string {
		mu.Lock()
		defer mu.Unlock()
		if l, ok := labels[lang]; ok {
			return l
		}
		l := s.texts.Text(ctx, st.TenantID, "broadcast.read_more", lang, nil)
		labels[lang] = l
		return l
	}
	var chunks [][]Recipient
	for i := 0; i < len(page); i += queueChunk {
		chunks = append(chunks, page[i:min(len(page), i+queueChunk)])
	}
	errs := make([]error, len(chunks))
	stopped := make([]bool, len(chunks))
	var wg sync.WaitGroup
	slots := make(chan struct{}, queueParallel)
	for i, chunk := range chunks {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			stopped[i], errs[i] = s.queueChunk(ctx, st, chunk, label)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("broadcast: step: queue: %w", err)
	}
	for _, stop := range stopped {
		if stop {
			return nil // paused or cancelled meanwhile: the checkpoint stays
		}
	}
	checkpoint := st.Checkpoint
	if len(page) > 0 {
		checkpoint = page[len(page)-1].BotChatID
	}
	err := s.db.InTenant(ctx, st.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE campaigns SET checkpoint = $3, exhausted = $4 WHERE tenant_id = $1 AND id = $2 AND status = 'sending'`,
			st.TenantID, st.ID, checkpoint, exhausted)
		return err
	})
	if err != nil {
		return fmt.Errorf("broadcast: step: checkpoint: %w", err)
	}
	return nil
}

// queueChunk records one chunk in one transaction and hands it to the
// outbox; stopped reports a campaign no longer sending (nothing recorded).
func (s *Service) queueChunk(ctx context.Context, st leaderState, chunk []Recipient, label func(string) string) (stopped bool, err error) {
	now := s.clock.Now()
	var queued []uuid.UUID
	err = s.db.InTenant(ctx, st.TenantID, func(tx pgx.Tx) error {
		queued, stopped = queued[:0], false
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM campaigns WHERE tenant_id = $1 AND id = $2 AND status = 'sending' FOR SHARE`,
			st.TenantID, st.ID).Scan(&one)
		if db.IsNotFound(err) {
			stopped = true
			return nil
		}
		if err != nil {
			return err
		}
		n := len(chunk)
		chats, contacts, chatIDs, langs := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]int64, n), make([]string, n)
		msgs := make([]outbox.Message, n)
		for i, r := range chunk {
			method, params := st.Content.render(r, label(r.Lang), readMoreData(st.ID), func(j int, u string) string {
				return s.link(st.ID, r.BotChatID, j, u, st.Content.TrackClicks)
			})
			raw, err := json.Marshal(params)
			if err != nil {
				return err
			}
			msgs[i] = outbox.Message{TenantID: st.TenantID, BotID: st.BotID, ChatID: r.ChatID,
				Method: method, Params: raw, Priority: outbox.Bulk, Kind: "broadcast", Ref: st.ID.String(),
				IdempotencyKey: "bc:" + st.ID.String() + ":" + r.BotChatID.String()}
			chats[i], contacts[i], chatIDs[i], langs[i] = r.BotChatID, r.ContactID, r.ChatID, r.Lang
		}
		ob, err := s.ob.EnqueueBatchTx(ctx, tx, msgs)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		queued = ob
		if _, err := tx.Exec(ctx, `INSERT INTO campaign_deliveries (tenant_id, campaign_id, bot_chat_id, contact_id, chat_id, lang, outbox_id, queued_at)
			SELECT $1, $2, t.bc, t.ct, t.ch, t.lg, t.ob, $3
			FROM unnest($4::uuid[], $5::uuid[], $6::bigint[], $7::text[], $8::uuid[]) AS t(bc, ct, ch, lg, ob)
			ON CONFLICT DO NOTHING`, st.TenantID, st.ID, now, chats, contacts, chatIDs, langs, ob); err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		return nil
	})
	if err != nil || stopped {
		return stopped, err
	}
	if err := s.ob.AfterCommit(ctx, queued...); err != nil {
		s.log.Warn("broadcast: outbox after commit; its sweeper queues the rows", "tenant_id", st.TenantID, "campaign_id", st.ID, "error", err)
	}
	return false, nil
}
