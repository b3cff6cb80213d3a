package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

const (
	kindCard   = "dispatch.card"
	kindNotice = "dispatch.notice"

	cbPhone = "dsp:p:"
	cbTake  = "dsp:t:"
)

// job is a dispatch_jobs row.
type job struct {
	ID            uuid.UUID
	ConnectorID   uuid.UUID
	DealID        string
	BotID         int64
	ChatID        int64
	MessageID     *int64
	Status        string
	Card          Card
	ClientName    string
	ClientPhone   string
	ManagerCRMID  string
	Options       jobOptions
	TakenBy       *int64
	TakenName     string
	TakenUsername string
	Generation    int
	Writeback     string
}

// jobOptions are the settings a job was posted with.
type jobOptions struct {
	StageID          string `json:"stage_id,omitempty"`
	TakenStageID     string `json:"taken_stage_id,omitempty"`
	ResponsibleField string `json:"responsible_field,omitempty"`
}

const jobCols = `id, connector_id, deal_id, bot_id, chat_id, message_id, status, card, client_name, client_phone,
	manager_crm_user_id, options, taken_by_tg_user_id, taken_by_name, taken_by_username, generation, writeback`

func scanJob(r pgx.Row) (*job, error) {
	var j job
	var card, opts []byte
	err := r.Scan(&j.ID, &j.ConnectorID, &j.DealID, &j.BotID, &j.ChatID, &j.MessageID, &j.Status, &card, &j.ClientName,
		&j.ClientPhone, &j.ManagerCRMID, &opts, &j.TakenBy, &j.TakenName, &j.TakenUsername, &j.Generation, &j.Writeback)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: job: %w", err)
	}
	_ = json.Unmarshal(card, &j.Card)
	_ = json.Unmarshal(opts, &j.Options)
	return &j, nil
}

func jobByID(ctx context.Context, tx pgx.Tx, id uuid.UUID, lock bool) (*job, error) {
	q := `SELECT ` + jobCols + ` FROM dispatch_jobs WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	return scanJob(tx.QueryRow(ctx, q, id))
}

func jobByDeal(ctx context.Context, tx pgx.Tx, connectorID uuid.UUID, dealID string) (*job, error) {
	return scanJob(tx.QueryRow(ctx, `SELECT `+jobCols+` FROM dispatch_jobs WHERE connector_id = $1 AND deal_id = $2 FOR UPDATE`,
		connectorID, dealID))
}

// PostJob posts (or re-opens) the job card of a deal: the deal is read
// from the CRM and mapped with the tenant's settings overridden by over.
// A deal has one job: posting it again while the card is open does
// nothing; a taken job is re-opened (the manager moved the deal back); a
// removed one is posted anew. source names the caller's attempt (a rule
// run's action, "auto:<run>:<idx>"; "" for none): a post repeated with a
// source the job has seen changes nothing, so an action retried after its
// post committed does not re-open a job taken since.
func (s *Service) PostJob(ctx context.Context, tenantID, connectorID uuid.UUID, dealID, source string, over Config) error {
	deal, err := s.crm.GetDeal(ctx, tenantID, connectorID, dealID)
	if err != nil {
		return fmt.Errorf("dispatch: get deal %s: %w", dealID, err)
	}
	cfg := s.config(ctx, tenantID).merge(over)
	card, clientName, clientPhone := cardOf(deal, cfg.Fields)
	opts := jobOptions{StageID: deal.StageID, TakenStageID: cfg.TakenStageID, ResponsibleField: cfg.ResponsibleField}
	// Texts are rendered before the transaction: rendering may need a pool
	// connection, and a transaction waiting for one can starve the pool.
	tx0 := s.renderJob(ctx, tenantID, card)
	now := s.clock.Now()
	var queued []uuid.UUID
	err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		queued = nil
		botID, chatID, err := executorsChat(ctx, tx, cfg.ChatID)
		if err != nil {
			return err
		}
		cardRaw, _ := json.Marshal(card)
		optsRaw, _ := json.Marshal(opts)
		id := ids.New()
		tag, err := tx.Exec(ctx, `INSERT INTO dispatch_jobs (id, tenant_id, connector_id, deal_id, bot_id, chat_id, status, card, skills,
			client_name, client_phone, manager_crm_user_id, options, created_at, updated_at, post_sources)
			VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, $11, $12, $13, $13, $14)
			ON CONFLICT (tenant_id, connector_id, deal_id) DO NOTHING`,
			id, tenantID, connectorID, dealID, botID, chatID, cardRaw, nonNil(card.Skills), clientName, clientPhone,
			deal.ResponsibleUserID, optsRaw, now, sourcesOf(source))
		if err != nil {
			return fmt.Errorf("store: insert job: %w", err)
		}
		if tag.RowsAffected() == 1 {
			j := &job{ID: id, BotID: botID, ChatID: chatID, Card: card, Generation: 1, Status: "open"}
			mid, err := s.postCard(ctx, tx, tenantID, j, tx0)
			queued = append(queued, mid)
			return err
		}
		j, err := jobByDeal(ctx, tx, connectorID, dealID)
		if err != nil || j == nil {
			return err
		}
		if source != "" {
			// Remembered also when the post changes nothing (the card is
			// open), so its retry after a take does not re-open the job.
			tag, err := tx.Exec(ctx, `UPDATE dispatch_jobs SET post_sources = (array_append(post_sources, $2))[greatest(1, cardinality(post_sources) - 30):]
				WHERE id = $1 AND NOT ($2 = ANY(post_sources))`, j.ID, source)
			if err != nil {
				return fmt.Errorf("store: job source: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return nil // this post already happened: a retried action
			}
		}
		switch j.Status {
		case "open":
			return nil // posted before: a repeated or quick second move
		case "taken":
			queued, err = s.reopen(ctx, tx, tenantID, j, tx0, now)
			return err
		}
		// Removed earlier: post a fresh card (the deal came back).
		if err := tx.QueryRow(ctx, `UPDATE dispatch_jobs SET status = 'open', generation = generation + 1, message_id = NULL,
			bot_id = $2, chat_id = $3, card = $4, skills = $5, client_name = $6, client_phone = $7, manager_crm_user_id = $8,
			options = $9, taken_by_tg_user_id = NULL, taken_by_name = '', taken_by_username = '', taken_at = NULL,
			writeback = 'none', writeback_error = '', updated_at = $10 WHERE id = $1 AND status = 'removed' RETURNING generation`,
			j.ID, botID, chatID, cardRaw, nonNil(card.Skills), clientName, clientPhone, deal.ResponsibleUserID, optsRaw, now).
			Scan(&j.Generation); err != nil {
			return fmt.Errorf("store: repost job: %w", err)
		}
		j.BotID, j.ChatID, j.Card, j.Status = botID, chatID, card, "open"
		mid, err := s.postCard(ctx, tx, tenantID, j, tx0)
		queued = append(queued, mid)
		return err
	})
	if err != nil {
		return err
	}
	s.afterCommit(ctx, tenantID, queued)
	return nil
}

func sourcesOf(source string) []string {
	if source == "" {
		return []string{}
	}
	return []string{source}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Service) afterCommit(ctx context.Context, tenantID uuid.UUID, queued []uuid.UUID) {
	if len(queued) == 0 {
		return
	}
	if err := s.ob.AfterCommit(ctx, queued...); err != nil {
		// Not fatal: the outbox's sweeper queues committed rows later.
		s.log.Warn("dispatch: outbox after commit", "tenant_id", tenantID, "error", err)
	}
}

// executorsChat is the bound executors' chat (chatID picks one of several).
func executorsChat(ctx context.Context, tx pgx.Tx, chatID int64) (int64, int64, error) {
	var botID, chat int64
	err := tx.QueryRow(ctx, `SELECT bot_id, chat_id FROM chat_bindings WHERE purpose = $1 AND bot_status IN ('member', 'administrator', 'creator')
		AND ($2 = 0 OR chat_id = $2) ORDER BY updated_at DESC LIMIT 1`, PurposeExecutors, chatID).Scan(&botID, &chat)
	if db.IsNotFound(err) {
		return 0, 0, ErrNoChat
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: executors' chat: %w", err)
	}
	return botID, chat, nil
}

// cardText renders a card; taker, when set, is the "taken by" line.
func (s *Service) cardText(ctx context.Context, tenantID uuid.UUID, c Card, taker string) string {
	details := c.Terms
	if len(c.Skills) > 0 {
		if details != "" {
			details += "\n"
		}
		details += "🛠 " + strings.Join(c.Skills, ", ")
	}
	t := s.text(ctx, tenantID, "dispatch.job_card", "", map[string]string{"title": c.Title, "details": details,
		"fee": dash(c.Pay), "deadline": dash(c.Deadline), "address": dash(c.Address)})
	if taker != "" {
		t += "\n\n" + s.text(ctx, tenantID, "dispatch.card_taken", "", map[string]string{"executor": taker})
	}
	return t
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// rendered are a job's texts, rendered before a transaction.
type rendered struct {
	card, phoneButton, takeButton, cancelled string
}

func (s *Service) renderJob(ctx context.Context, tenantID uuid.UUID, c Card) rendered {
	return rendered{card: s.cardText(ctx, tenantID, c, ""),
		phoneButton: s.text(ctx, tenantID, "dispatch.button_phone", "", nil),
		takeButton:  s.text(ctx, tenantID, "dispatch.button_take", "", nil),
		cancelled:   s.text(ctx, tenantID, "dispatch.cancelled", "", map[string]string{"title": c.Title})}
}

func (r rendered) markup(jobID uuid.UUID) map[string]any {
	hex := hexID(jobID)
	return map[string]any{"inline_keyboard": [][]map[string]string{
		{{"text": r.phoneButton, "callback_data": cbPhone + hex}},
		{{"text": r.takeButton, "callback_data": cbTake + hex}},
	}}
}

func (s *Service) postCard(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, j *job, r rendered) (uuid.UUID, error) {
	raw, _ := json.Marshal(map[string]any{"text": r.card, "reply_markup": r.markup(j.ID)})
	return s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: j.BotID, ChatID: j.ChatID, Method: "sendMessage",
		Params: raw, Priority: outbox.Live, Kind: kindCard, Ref: fmt.Sprintf("%s:%d", j.ID, j.Generation),
		IdempotencyKey: fmt.Sprintf("dispatch:card:%s:%d", j.ID, j.Generation)})
}

// cardSent keeps the card's message id, so takes and withdrawals edit it.
func (s *Service) cardSent(ctx context.Context, r outbox.Result) error {
	if r.Status != "sent" || len(r.MessageIDs) == 0 {
		return nil
	}
	idPart, genPart, ok := strings.Cut(r.Ref, ":")
	jobID, err := uuid.Parse(idPart)
	if !ok || err != nil {
		return nil
	}
	return s.inTenant(ctx, r.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE dispatch_jobs SET message_id = $2 WHERE id = $1 AND generation::text = $3 AND message_id IS NULL`,
			jobID, r.MessageIDs[0], genPart)
		return err
	})
}

// reopen puts a taken job back on the market: the card shows its buttons
// again and the executor is told. A write-back of the old take that has
// not run yet sees the new generation and does nothing.
func (s *Service) reopen(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, j *job, r rendered, now time.Time) ([]uuid.UUID, error) {
	err := tx.QueryRow(ctx, `UPDATE dispatch_jobs SET status = 'open', generation = generation + 1, taken_by_tg_user_id = NULL,
		taken_by_name = '', taken_by_username = '', taken_at = NULL, writeback = 'none', updated_at = $2
		WHERE id = $1 AND status = 'taken' RETURNING generation`, j.ID, now).Scan(&j.Generation)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: reopen job: %w", err)
	}
	var queued []uuid.UUID
	if j.MessageID != nil {
		raw, _ := json.Marshal(map[string]any{"message_id": *j.MessageID, "text": r.card, "reply_markup": r.markup(j.ID)})
		id, err := s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: j.BotID, ChatID: j.ChatID,
			Method: "editMessageText", Params: raw, Priority: outbox.Live, Kind: kindNotice, Ref: j.ID.String(),
			IdempotencyKey: fmt.Sprintf("dispatch:reopen:%s:%d", j.ID, j.Generation)})
		if err != nil {
			return nil, err
		}
		queued = append(queued, id)
	} else {
		id, err := s.postCard(ctx, tx, tenantID, j, r)
		if err != nil {
			return nil, err
		}
		queued = append(queued, id)
	}
	if j.TakenBy != nil {
		ids, err := s.tellUser(ctx, tx, tenantID, j.BotID, *j.TakenBy, r.cancelled, fmt.Sprintf("dispatch:withdrawn:%s:%d", j.ID, j.Generation))
		if err != nil {
			return nil, err
		}
		queued = append(queued, ids...)
	}
	return queued, addEvent(ctx, tx, tenantID, uuid.Nil, j.BotID, "dispatch.reopened", map[string]any{"job_id": j.ID, "deal_id": j.DealID}, now)
}

// HandleDealEvent keeps existing cards in step with their deals: a deal
// deleted or moved to a cancel stage removes its card, and so does an open
// card's deal leaving the stage it was posted from; a taken deal moved
// back to that stage re-opens it. The automation engine
// calls it for every CRM event before the rules.
func (s *Service) HandleDealEvent(ctx context.Context, tenantID, connectorID uuid.UUID, e crm.Event) error {
	if e.DealID == "" || (e.Type != crm.DealDeleted && e.Type != crm.DealStageEntered) {
		return nil
	}
	cfg := s.config(ctx, tenantID)
	now := s.clock.Now()
	var peek *job
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		peek, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobCols+` FROM dispatch_jobs WHERE connector_id = $1 AND deal_id = $2`, connectorID, e.DealID))
		return err
	})
	if err != nil || peek == nil || peek.Status == "removed" {
		return err
	}
	r := s.renderJob(ctx, tenantID, peek.Card)
	var queued []uuid.UUID
	err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		queued = nil
		j, err := jobByDeal(ctx, tx, connectorID, e.DealID)
		if err != nil || j == nil || j.Status == "removed" {
			return err
		}
		switch {
		case e.Type == crm.DealDeleted || slices.Contains(cfg.CancelStages, e.StageID):
			queued, err = s.remove(ctx, tx, tenantID, j, r, now)
		case e.StageID == j.Options.StageID && j.Status == "taken":
			queued, err = s.reopen(ctx, tx, tenantID, j, r, now)
		case e.StageID != j.Options.StageID && j.Status == "open":
			// The deal left the search stage without a take (the manager
			// found someone elsewhere, or moved it back): the card must not
			// be taken any more. Re-entering the stage posts a fresh one.
			queued, err = s.remove(ctx, tx, tenantID, j, r, now)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("dispatch: deal event: %w", err)
	}
	s.afterCommit(ctx, tenantID, queued)
	return nil
}

// remove takes a cancelled deal's card off the chat.
func (s *Service) remove(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, j *job, r rendered, now time.Time) ([]uuid.UUID, error) {
	tag, err := tx.Exec(ctx, `UPDATE dispatch_jobs SET status = 'removed', updated_at = $2 WHERE id = $1 AND status <> 'removed'`, j.ID, now)
	if err != nil || tag.RowsAffected() == 0 {
		return nil, err
	}
	var queued []uuid.UUID
	if j.MessageID != nil {
		raw, _ := json.Marshal(map[string]any{"message_id": *j.MessageID})
		id, err := s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: j.BotID, ChatID: j.ChatID,
			Method: "deleteMessage", Params: raw, Priority: outbox.Live, Kind: kindNotice, Ref: j.ID.String(),
			IdempotencyKey: fmt.Sprintf("dispatch:remove:%s:%d", j.ID, j.Generation)})
		if err != nil {
			return nil, err
		}
		queued = append(queued, id)
	}
	if j.Status == "taken" && j.TakenBy != nil {
		ids, err := s.tellUser(ctx, tx, tenantID, j.BotID, *j.TakenBy, r.cancelled, fmt.Sprintf("dispatch:cancelled:%s:%d", j.ID, j.Generation))
		if err != nil {
			return nil, err
		}
		queued = append(queued, ids...)
	}
	return queued, addEvent(ctx, tx, tenantID, uuid.Nil, j.BotID, "dispatch.removed", map[string]any{"job_id": j.ID, "deal_id": j.DealID}, now)
}

// privateChat is a Telegram user's reachable private chat with the bot.
func privateChat(ctx context.Context, tx pgx.Tx, botID, tgUserID int64) (chatID int64, contactID uuid.UUID, lang string, ok bool, err error) {
	var reachable, unsub bool
	err = tx.QueryRow(ctx, `SELECT bc.chat_id, bc.contact_id, c.language, bc.reachable, bc.unsubscribed FROM bot_chats bc
		JOIN contacts c ON c.id = bc.contact_id WHERE bc.bot_id = $1 AND c.tg_user_id = $2`, botID, tgUserID).
		Scan(&chatID, &contactID, &lang, &reachable, &unsub)
	if db.IsNotFound(err) {
		return 0, uuid.Nil, "", false, nil
	}
	if err != nil {
		return 0, uuid.Nil, "", false, fmt.Errorf("store: private chat: %w", err)
	}
	return chatID, contactID, lang, reachable, nil
}

// tellUser sends a text (rendered in the tenant's language before the
// transaction) to a Telegram user's private chat if they have one.
func (s *Service) tellUser(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, botID, tgUserID int64, text, idem string) ([]uuid.UUID, error) {
	chatID, _, _, ok, err := privateChat(ctx, tx, botID, tgUserID)
	if err != nil || !ok {
		return nil, err
	}
	id, err := s.sendText(ctx, tx, tenantID, botID, chatID, text, idem)
	if err != nil {
		return nil, err
	}
	return []uuid.UUID{id}, nil
}

func (s *Service) sendText(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, botID, chatID int64, text, idem string) (uuid.UUID, error) {
	raw, _ := json.Marshal(map[string]any{"text": text})
	return s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: botID, ChatID: chatID, Method: "sendMessage",
		Params: raw, Priority: outbox.Live, Kind: kindNotice, IdempotencyKey: idem})
}
