package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Start payloads: "dreg" registers an executor; "dph_<job>" (the link the
// phone button answers with when the bot cannot write to the executor)
// registers if needed and then delivers the phone.
const (
	payloadRegister = "dreg"
	payloadPhone    = "dph_"
)

// Routes is what the desk needs from the update processor.
type Routes interface {
	RegisterGroupHandler(purpose string, h telegram.Handler)
	RegisterCallbackPrefix(prefix string, h telegram.Handler)
	RegisterStartPayload(prefix string, h telegram.Handler)
}

// Attach installs the card buttons, the start payloads and "/bind disp-…".
func (s *Service) Attach(p Routes) {
	p.RegisterCallbackPrefix(cbPhone, s.HandlePhone)
	p.RegisterCallbackPrefix(cbTake, s.HandleTake)
	p.RegisterStartPayload(payloadRegister, s.HandleStart)
	p.RegisterStartPayload(payloadPhone, s.HandleStart)
	p.RegisterGroupHandler("", s.HandleBind)
}

func jobOfData(data, prefix string) (uuid.UUID, bool) {
	id, err := uuid.Parse(strings.TrimPrefix(data, prefix))
	return id, err == nil
}

func hexID(id uuid.UUID) string { return strings.ReplaceAll(id.String(), "-", "") }

// answer answers a button press: text, an alert, or a URL to open.
func (s *Service) answer(ctx context.Context, in *telegram.Inbound, text string, alert bool, url string) error {
	p := map[string]any{"callback_query_id": in.Callback.ID}
	if text != "" {
		p["text"] = text
	}
	if alert {
		p["show_alert"] = true
	}
	if url != "" {
		p["url"] = url
	}
	raw, _ := json.Marshal(p)
	_, err := s.ob.Enqueue(ctx, outbox.Message{TenantID: in.TenantID, BotID: in.BotID, ChatID: in.ChatID, Method: "answerCallbackQuery",
		Params: raw, Priority: outbox.Live, Kind: "callback_answer", IdempotencyKey: "dispatch:cb:" + in.Callback.ID})
	return err
}

// executor is a dispatch_executors row.
type executorRow struct {
	ID     uuid.UUID
	Status string
	Skills []string
}

func executorOf(ctx context.Context, tx pgx.Tx, tgUserID int64) (*executorRow, error) {
	var e executorRow
	err := tx.QueryRow(ctx, `SELECT id, status, skills FROM dispatch_executors WHERE tg_user_id = $1`, tgUserID).Scan(&e.ID, &e.Status, &e.Skills)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: executor: %w", err)
	}
	return &e, nil
}

// refusal says why a user may not act on a job ("" when they may):
// register, pending, skills.
func refusal(cfg Config, e *executorRow, j *job) string {
	if !cfg.registeredOnly() && !cfg.MatchSkills {
		return ""
	}
	if e == nil {
		return "register"
	}
	if e.Status != "approved" {
		return "pending"
	}
	if cfg.MatchSkills {
		for _, need := range j.Card.Skills {
			found := false
			for _, have := range e.Skills {
				if strings.EqualFold(have, need) {
					found = true
				}
			}
			if !found {
				return "skills"
			}
		}
	}
	return ""
}

func botUsername(ctx context.Context, tx pgx.Tx, botID int64) (string, error) {
	var u string
	if err := tx.QueryRow(ctx, `SELECT username FROM bots WHERE id = $1`, botID).Scan(&u); err != nil {
		return "", fmt.Errorf("store: bot username: %w", err)
	}
	return u, nil
}

func startURL(username, payload string) string {
	return "https://t.me/" + username + "?start=" + payload
}

func displayName(u *telegram.User) string {
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// pressTexts are a press's possible answers, rendered before the
// transaction (rendering may need a pool connection; a transaction waiting
// for one can starve the pool).
type pressTexts struct {
	unavailable, notApproved, skills, phoneSent, phone, username string
}

// peekJob reads a job outside any lasting transaction.
func (s *Service) peekJob(ctx context.Context, tenantID, jobID uuid.UUID) (*job, string, error) {
	var j *job
	var username string
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		if j, err = jobByID(ctx, tx, jobID, false); err != nil || j == nil {
			return err
		}
		username, err = botUsername(ctx, tx, j.BotID)
		return err
	})
	return j, username, err
}

func (s *Service) renderPress(ctx context.Context, tenantID uuid.UUID, j *job, lang, username string) pressTexts {
	p := pressTexts{unavailable: s.text(ctx, tenantID, "dispatch.job_unavailable", lang, nil),
		notApproved: s.text(ctx, tenantID, "dispatch.not_approved", lang, nil), username: username}
	if j != nil {
		phone := j.ClientPhone
		if phone == "" {
			phone = "—"
		}
		p.skills = s.text(ctx, tenantID, "dispatch.skills_missing", lang, map[string]string{"skills": strings.Join(j.Card.Skills, ", ")})
		p.phoneSent = s.text(ctx, tenantID, "dispatch.phone_sent", lang, nil)
		p.phone = s.text(ctx, tenantID, "dispatch.phone_private", lang, map[string]string{"title": j.Card.Title,
			"client_name": dash(j.ClientName), "client_phone": phone})
	}
	return p
}

// refuse answers a press the user may not make.
func (s *Service) refuse(ctx context.Context, in *telegram.Inbound, why string, j *job, p pressTexts) func() error {
	switch why {
	case "register":
		url := startURL(p.username, payloadPhone+hexID(j.ID))
		return func() error { return s.answer(ctx, in, "", false, url) }
	case "skills":
		return func() error { return s.answer(ctx, in, p.skills, true, "") }
	}
	return func() error { return s.answer(ctx, in, p.notApproved, true, "") }
}

// HandlePhone handles "Get client phone": the phone goes to the
// executor's private chat; without a reachable one the button answers
// with a link that starts the bot (the start payload then delivers it).
func (s *Service) HandlePhone(ctx context.Context, in *telegram.Inbound) error {
	jobID, ok := jobOfData(in.Callback.Data, cbPhone)
	if !ok {
		return s.answer(ctx, in, "", false, "")
	}
	cfg := s.config(ctx, in.TenantID)
	peek, username, err := s.peekJob(ctx, in.TenantID, jobID)
	if err != nil {
		return fmt.Errorf("dispatch: phone: %w", err)
	}
	txt := s.renderPress(ctx, in.TenantID, peek, in.Lang, username)
	now := s.clock.Now()
	var after func() error
	var queued []uuid.UUID
	err = s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		queued = nil
		j, err := jobByID(ctx, tx, jobID, false)
		if err != nil {
			return err
		}
		if j == nil || j.Status == "removed" || (j.Status == "taken" && (j.TakenBy == nil || *j.TakenBy != in.From.ID)) {
			after = func() error { return s.answer(ctx, in, txt.unavailable, true, "") }
			return nil
		}
		e, err := executorOf(ctx, tx, in.From.ID)
		if err != nil {
			return err
		}
		if why := refusal(cfg, e, j); why != "" {
			after = s.refuse(ctx, in, why, j, txt)
			return nil
		}
		chatID, contactID, _, reachable, err := privateChat(ctx, tx, j.BotID, in.From.ID)
		if err != nil {
			return err
		}
		if !reachable {
			url := startURL(txt.username, payloadPhone+hexID(j.ID))
			after = func() error { return s.answer(ctx, in, "", false, url) }
			return nil
		}
		id, err := s.reveal(ctx, tx, in.TenantID, j, in.From, chatID, contactID, txt.phone, "dm", "cb:"+in.Callback.ID, now)
		if err != nil {
			return err
		}
		queued = append(queued, id)
		after = func() error { return s.answer(ctx, in, txt.phoneSent, false, "") }
		return nil
	})
	if err != nil {
		return fmt.Errorf("dispatch: phone: %w", err)
	}
	s.afterCommit(ctx, in.TenantID, queued)
	return after()
}

// reveal logs a phone reveal (reveal log, events, audit) and records the
// private message with the phone, in the caller's transaction.
func (s *Service) reveal(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, j *job, u *telegram.User, chatID int64, contactID uuid.UUID,
	text, via, idem string, now time.Time) (uuid.UUID, error) {
	name := displayName(u)
	if _, err := tx.Exec(ctx, `INSERT INTO dispatch_reveals (tenant_id, job_id, tg_user_id, name, via, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		tenantID, j.ID, u.ID, name, via, now); err != nil {
		return uuid.Nil, fmt.Errorf("store: reveal: %w", err)
	}
	details := map[string]any{"job_id": j.ID, "deal_id": j.DealID, "tg_user_id": u.ID, "via": via}
	if err := addEvent(ctx, tx, tenantID, contactID, j.BotID, "dispatch.phone_revealed", details, now); err != nil {
		return uuid.Nil, err
	}
	if err := audit(ctx, tx, tenantID, fmt.Sprintf("tg:%d", u.ID), "dispatch.phone_revealed", j.ID.String(), details, now); err != nil {
		return uuid.Nil, err
	}
	return s.sendText(ctx, tx, tenantID, j.BotID, chatID, text, "dispatch:phone:"+idem)
}

// HandleStart handles "/start dreg" and "/start dph_<job>": the user is
// registered as an executor if they were not, and the phone of the job is
// delivered when they may see it.
func (s *Service) HandleStart(ctx context.Context, in *telegram.Inbound) error {
	if in.From == nil || in.ContactID == uuid.Nil {
		return nil
	}
	var jobID uuid.UUID
	if strings.HasPrefix(in.Payload, payloadPhone) {
		id, ok := jobOfData(in.Payload, payloadPhone)
		if !ok {
			return in.ReplyText(ctx, "dispatch.job_unavailable", nil)
		}
		jobID = id
	}
	cfg := s.config(ctx, in.TenantID)
	var peek *job
	if jobID != uuid.Nil {
		var err error
		if peek, _, err = s.peekJob(ctx, in.TenantID, jobID); err != nil {
			return fmt.Errorf("dispatch: start: %w", err)
		}
	}
	txt := s.renderPress(ctx, in.TenantID, peek, in.Lang, "")
	registered, pending := in.T(ctx, "dispatch.registered", nil), in.T(ctx, "dispatch.registered_pending", nil)
	now := s.clock.Now()
	var reply string
	var queued []uuid.UUID
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		queued, reply = nil, ""
		e, err := executorOf(ctx, tx, in.From.ID)
		if err != nil {
			return err
		}
		if e == nil && (cfg.registeredOnly() || cfg.MatchSkills || jobID == uuid.Nil) {
			status := "pending"
			if cfg.AutoApprove {
				status = "approved"
			}
			e = &executorRow{ID: idsNew(), Status: status}
			if _, err := tx.Exec(ctx, `INSERT INTO dispatch_executors (id, tenant_id, tg_user_id, contact_id, name, username, status, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (tenant_id, tg_user_id) DO NOTHING`,
				e.ID, in.TenantID, in.From.ID, in.ContactID, displayName(in.From), in.From.Username, status, now); err != nil {
				return fmt.Errorf("store: register executor: %w", err)
			}
			if err := addEvent(ctx, tx, in.TenantID, in.ContactID, in.BotID, "dispatch.executor_registered", map[string]any{"status": status}, now); err != nil {
				return err
			}
			reply = pending
			if status == "approved" {
				reply = registered
			}
		}
		if jobID == uuid.Nil {
			if reply == "" {
				reply = registered
				if e.Status != "approved" {
					reply = pending
				}
			}
			return nil
		}
		j, err := jobByID(ctx, tx, jobID, false)
		if err != nil {
			return err
		}
		if j == nil || j.BotID != in.BotID || j.Status == "removed" || (j.Status == "taken" && (j.TakenBy == nil || *j.TakenBy != in.From.ID)) {
			reply = txt.unavailable
			return nil
		}
		if why := refusal(cfg, e, j); why != "" {
			if reply == "" {
				reply = txt.notApproved
			}
			return nil
		}
		id, err := s.reveal(ctx, tx, in.TenantID, j, in.From, in.ChatID, in.ContactID, txt.phone, "link",
			fmt.Sprintf("start:%d:%d", in.BotID, in.UpdateID), now)
		if err != nil {
			return err
		}
		queued = append(queued, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dispatch: start: %w", err)
	}
	s.afterCommit(ctx, in.TenantID, queued)
	if reply != "" {
		return in.Reply(ctx, reply, nil)
	}
	return nil
}
