package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

func idsNew() uuid.UUID { return ids.New() }

// Taker is who pressed "Take order".
type Taker struct {
	TgUserID int64
	Name     string
	Username string
	Lang     string // the executor's language for their notice
	// MessageID is the card the button was on (the card's id may not be
	// known yet when the press comes right after the post).
	MessageID int64
}

func (t Taker) label() string {
	if t.Username != "" {
		return t.Name + " (@" + t.Username + ")"
	}
	return t.Name
}

// TakeResult says how a take ended.
type TakeResult struct {
	Won bool
	// Title is the job's title (for the loser's alert).
	Title string
}

// HandleTake handles "Take order".
func (s *Service) HandleTake(ctx context.Context, in *telegram.Inbound) error {
	jobID, ok := jobOfData(in.Callback.Data, cbTake)
	if !ok {
		return s.answer(ctx, in, "", false, "")
	}
	cfg := s.config(ctx, in.TenantID)
	peek, username, err := s.peekJob(ctx, in.TenantID, jobID)
	if err != nil {
		return fmt.Errorf("dispatch: take: %w", err)
	}
	if peek != nil && peek.Status == "open" {
		var e *executorRow
		err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) (err error) {
			e, err = executorOf(ctx, tx, in.From.ID)
			return err
		})
		if err != nil {
			return fmt.Errorf("dispatch: take: %w", err)
		}
		if why := refusal(cfg, e, peek); why != "" {
			return s.refuse(ctx, in, why, peek, s.renderPress(ctx, in.TenantID, peek, in.Lang, username))()
		}
	}
	var msgID int64
	if in.Callback.Message != nil {
		msgID = in.Callback.Message.MessageID
	}
	res, err := s.Take(ctx, in.TenantID, jobID, Taker{TgUserID: in.From.ID, Name: displayName(in.From), Username: in.From.Username, Lang: in.Lang, MessageID: msgID})
	if err != nil {
		return err
	}
	lang := in.Lang
	if res.Won {
		return s.answer(ctx, in, s.text(ctx, in.TenantID, "dispatch.taken_you", lang, map[string]string{"title": res.Title}), false, "")
	}
	if res.Title == "" {
		return s.answer(ctx, in, s.text(ctx, in.TenantID, "dispatch.job_unavailable", lang, nil), true, "")
	}
	return s.answer(ctx, in, s.text(ctx, in.TenantID, "dispatch.already_taken", lang, map[string]string{"title": res.Title}), true, "")
}

// Take gives the job to t if it is still open. One conditional UPDATE
// decides the winner (invariant 7); only the winner's transaction edits
// the card, tells the chat, the executor and the manager, and queues the
// CRM write-back. Eligibility is checked by the caller.
func (s *Service) Take(ctx context.Context, tenantID, jobID uuid.UUID, t Taker) (TakeResult, error) {
	// A look first, outside the deciding transaction: presses on a job that
	// is no longer open are answered without queueing behind the winner's
	// row lock, and the winner's texts are rendered before any transaction
	// (rendering may need a pool connection; a transaction waiting for one
	// while others wait on its row lock would starve the pool).
	var peek *job
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		peek, err = jobByID(ctx, tx, jobID, false)
		return err
	})
	if err != nil {
		return TakeResult{}, fmt.Errorf("dispatch: take: %w", err)
	}
	if peek == nil {
		return TakeResult{}, nil
	}
	if peek.Status != "open" {
		if peek.Status == "taken" {
			return TakeResult{Title: peek.Card.Title}, nil
		}
		return TakeResult{}, nil
	}
	txt := s.renderTake(ctx, tenantID, peek, t)
	now := s.clock.Now()
	var res TakeResult
	var queued []uuid.UUID
	var gen int
	err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		res, queued = TakeResult{}, nil
		var msg *int64
		if t.MessageID != 0 {
			msg = &t.MessageID
		}
		j, err := scanJob(tx.QueryRow(ctx, `UPDATE dispatch_jobs SET status = 'taken', taken_by_tg_user_id = $2, taken_by_name = $3,
			taken_by_username = $4, taken_at = $5, writeback = 'pending', writeback_attempts = 0, writeback_error = '',
			message_id = COALESCE(message_id, $6), updated_at = $5
			WHERE id = $1 AND status = 'open' RETURNING `+jobCols, jobID, t.TgUserID, t.Name, t.Username, now, msg))
		if err != nil {
			return err
		}
		if j == nil {
			if err := tx.QueryRow(ctx, `SELECT card->>'title' FROM dispatch_jobs WHERE id = $1 AND status = 'taken'`, jobID).Scan(&res.Title); err != nil && !db.IsNotFound(err) {
				return fmt.Errorf("store: job title: %w", err)
			}
			return nil
		}
		res.Won, res.Title, gen = true, j.Card.Title, j.Generation
		queued, err = s.announceTake(ctx, tx, tenantID, j, t, txt, now)
		return err
	})
	if err != nil {
		return TakeResult{}, fmt.Errorf("dispatch: take: %w", err)
	}
	if !res.Won {
		return res, nil
	}
	s.afterCommit(ctx, tenantID, queued)
	// A lost enqueue leaves writeback 'pending'; the sweeper queues it.
	if err := s.enqueueWriteback(ctx, tenantID, jobID, gen, 0); err != nil {
		s.log.Warn("dispatch: queue write-back", "tenant_id", tenantID, "job_id", jobID, "error", err)
	}
	return res, nil
}

// takeTexts are a winner's notices, rendered before the transaction.
type takeTexts struct {
	card, chat, you, manager string
	// managerDM is the manager's private notice, in the manager's own
	// language (manager is the staff-chat fallback, in the tenant's).
	managerDM     string
	managerChatID int64
}

func (s *Service) renderTake(ctx context.Context, tenantID uuid.UUID, j *job, t Taker) takeTexts {
	vars := map[string]string{"title": j.Card.Title, "executor": t.label(), "deal_id": j.DealID}
	return takeTexts{card: s.cardText(ctx, tenantID, j.Card, t.label()),
		chat:          s.text(ctx, tenantID, "dispatch.taken_chat", "", vars),
		you:           s.text(ctx, tenantID, "dispatch.taken_you", t.Lang, vars),
		manager:       s.text(ctx, tenantID, "dispatch.taken_manager", "", vars),
		managerDM:     s.text(ctx, tenantID, "dispatch.taken_manager", s.managerLang(ctx, tenantID, j), vars),
		managerChatID: s.config(ctx, tenantID).ManagerChatID}
}

// managerLang is the language of the Telegram user linked to the deal's
// responsible CRM user ("" — the tenant's default — when unknown).
func (s *Service) managerLang(ctx context.Context, tenantID uuid.UUID, j *job) string {
	if j.ManagerCRMID == "" {
		return ""
	}
	var lang string
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT c.language FROM crm_user_links l JOIN contacts c ON c.tg_user_id = l.tg_user_id
			WHERE l.crm_user_id = $1 LIMIT 1`, j.ManagerCRMID).Scan(&lang)
	})
	if err != nil && !db.IsNotFound(err) {
		s.log.Warn("dispatch: manager language", "tenant_id", tenantID, "error", err)
	}
	return lang
}

func (s *Service) announceTake(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, j *job, t Taker, txt takeTexts, now time.Time) ([]uuid.UUID, error) {
	var queued []uuid.UUID
	details := map[string]any{"job_id": j.ID, "deal_id": j.DealID, "tg_user_id": t.TgUserID, "name": t.Name, "username": t.Username}
	if err := addEvent(ctx, tx, tenantID, uuid.Nil, j.BotID, "dispatch.taken", details, now); err != nil {
		return nil, err
	}
	if err := audit(ctx, tx, tenantID, fmt.Sprintf("tg:%d", t.TgUserID), "dispatch.taken", j.ID.String(), details, now); err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s:%d", j.ID, j.Generation)
	if j.MessageID != nil {
		raw, _ := json.Marshal(map[string]any{"message_id": *j.MessageID, "text": txt.card,
			"reply_markup": map[string]any{"inline_keyboard": [][]any{}}})
		id, err := s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: j.BotID, ChatID: j.ChatID,
			Method: "editMessageText", Params: raw, Priority: outbox.Live, Kind: kindNotice, Ref: j.ID.String(),
			IdempotencyKey: "dispatch:taken-card:" + key})
		if err != nil {
			return nil, err
		}
		queued = append(queued, id)
	}
	id, err := s.sendText(ctx, tx, tenantID, j.BotID, j.ChatID, txt.chat, "dispatch:taken-chat:"+key)
	if err != nil {
		return nil, err
	}
	queued = append(queued, id)
	mine, err := s.tellUser(ctx, tx, tenantID, j.BotID, t.TgUserID, txt.you, "dispatch:taken-you:"+key)
	if err != nil {
		return nil, err
	}
	queued = append(queued, mine...)
	mgr, err := s.notifyManager(ctx, tx, tenantID, j, txt, "dispatch:taken-manager:"+key)
	if err != nil {
		return nil, err
	}
	return append(queued, mgr...), nil
}

// notifyManager tells the deal's manager (the Telegram user linked to the
// deal's responsible CRM user) or, without a link, the manager chat from
// the settings or the first staff support group.
func (s *Service) notifyManager(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, j *job, txt takeTexts, idem string) ([]uuid.UUID, error) {
	if j.ManagerCRMID != "" {
		var tgUser int64
		err := tx.QueryRow(ctx, `SELECT tg_user_id FROM crm_user_links WHERE crm_user_id = $1`, j.ManagerCRMID).Scan(&tgUser)
		if err != nil && !db.IsNotFound(err) {
			return nil, fmt.Errorf("store: manager link: %w", err)
		}
		if err == nil {
			chatID, _, _, ok, err := privateChat(ctx, tx, j.BotID, tgUser)
			if err != nil {
				return nil, err
			}
			if ok {
				id, err := s.sendText(ctx, tx, tenantID, j.BotID, chatID, txt.managerDM, idem)
				return []uuid.UUID{id}, err
			}
		}
	}
	chatID := txt.managerChatID
	botID := j.BotID
	if chatID == 0 {
		err := tx.QueryRow(ctx, `SELECT bot_id, chat_id FROM chat_bindings WHERE purpose = 'staff_support' ORDER BY created_at LIMIT 1`).Scan(&botID, &chatID)
		if db.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("store: staff chat: %w", err)
		}
	}
	id, err := s.sendText(ctx, tx, tenantID, botID, chatID, txt.manager, idem)
	return []uuid.UUID{id}, err
}

// TaskWriteback writes a take back to the CRM deal.
const TaskWriteback = "dispatch:writeback"

type writebackPayload struct {
	TenantID   uuid.UUID `json:"tenant_id"`
	JobID      uuid.UUID `json:"job_id"`
	Generation int       `json:"generation"`
}

// NewWritebackTask builds the write-back task of one take.
func NewWritebackTask(tenantID, jobID uuid.UUID, generation int) *asynq.Task {
	raw, _ := json.Marshal(writebackPayload{TenantID: tenantID, JobID: jobID, Generation: generation})
	return asynq.NewTask(TaskWriteback, raw)
}

func (s *Service) enqueueWriteback(ctx context.Context, tenantID, jobID uuid.UUID, gen int, in time.Duration) error {
	if s.q == nil {
		return nil
	}
	opts := []asynq.Option{asynq.Queue("default"), asynq.MaxRetry(20), asynq.Retention(24 * time.Hour),
		asynq.TaskID("dispatch-wb:" + jobID.String() + ":" + strconv.Itoa(gen))}
	if in > 0 {
		opts = append(opts, asynq.ProcessIn(in))
	}
	return s.q.Enqueue(ctx, NewWritebackTask(tenantID, jobID, gen), opts...)
}
