package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/telegram"
)

// bindPrefix marks an executors' chat bind code ("/bind disp-…"); the
// support desk's /bind ignores such codes.
const bindPrefix = "disp-"

// BindCode is a one-time code that binds an executors' chat.
type BindCode struct {
	Code      string    `json:"code"`
	Command   string    `json:"command"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateBindCode issues a one-time executors' chat bind code; only its hash is kept.
func (s *Service) CreateBindCode(ctx context.Context, tenantID, userID uuid.UUID) (BindCode, error) {
	code := bindPrefix + ids.Token(12)
	now := s.clock.Now()
	exp := now.Add(s.opts.BindCodeTTL)
	var by *uuid.UUID
	if userID != uuid.Nil {
		by = &userID
	}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO dispatch_bind_codes (id, tenant_id, code_hash, created_by, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, ids.New(), tenantID, ids.Hash(code), by, exp, now)
		return err
	})
	if err != nil {
		return BindCode{}, fmt.Errorf("dispatch: bind code: %w", err)
	}
	return BindCode{Code: code, Command: "/bind " + code, ExpiresAt: exp}, nil
}

// HandleBind handles "/bind disp-<code>" in a group: the group becomes
// the bot's executors' chat.
func (s *Service) HandleBind(ctx context.Context, in *telegram.Inbound) error {
	code := strings.TrimSpace(in.Payload)
	if in.Message == nil || in.Edited || in.Command != "bind" || !strings.HasPrefix(code, bindPrefix) {
		return nil
	}
	now := s.clock.Now()
	ok := false
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE dispatch_bind_codes SET used_at = $2, used_chat_id = $3
			WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2`, ids.Hash(code), now, in.ChatID)
		if err != nil {
			return fmt.Errorf("store: use bind code: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE chat_bindings SET purpose = $3, updated_at = $4 WHERE bot_id = $1 AND chat_id = $2`,
			in.BotID, in.ChatID, PurposeExecutors, now); err != nil {
			return fmt.Errorf("store: bind executors' chat: %w", err)
		}
		ok = true
		return audit(ctx, tx, in.TenantID, fmt.Sprintf("tg:%d", in.From.ID), "dispatch.chat_bound", fmt.Sprint(in.ChatID), map[string]any{"bot_id": in.BotID}, now)
	})
	if err != nil {
		return fmt.Errorf("dispatch: bind: %w", err)
	}
	key := "dispatch.bind_invalid"
	if ok {
		key = "dispatch.bind_ok"
	}
	return in.Reply(ctx, s.text(ctx, in.TenantID, key, "", nil), nil)
}

// Executor is a registered executor.
type Executor struct {
	ID         uuid.UUID `json:"id"`
	TgUserID   int64     `json:"tg_user_id"`
	Name       string    `json:"name"`
	Username   string    `json:"username"`
	Skills     []string  `json:"skills"`
	Status     string    `json:"status"`
	CRMUserID  string    `json:"crm_user_id"`
	CreatedAt  time.Time `json:"created_at"`
	TakenCount int       `json:"taken_count"`
}

const executorCols = `e.id, e.tg_user_id, e.name, e.username, e.skills, e.status, COALESCE(l.crm_user_id, ''), e.created_at,
	(SELECT count(*) FROM dispatch_jobs j WHERE j.taken_by_tg_user_id = e.tg_user_id AND j.status = 'taken')`

func scanExecutor(r pgx.Row) (Executor, error) {
	var e Executor
	err := r.Scan(&e.ID, &e.TgUserID, &e.Name, &e.Username, &e.Skills, &e.Status, &e.CRMUserID, &e.CreatedAt, &e.TakenCount)
	return e, err
}

// Executors lists the tenant's executors.
func (s *Service) Executors(ctx context.Context, tenantID uuid.UUID) ([]Executor, error) {
	out := []Executor{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+executorCols+` FROM dispatch_executors e
			LEFT JOIN crm_user_links l ON l.tg_user_id = e.tg_user_id ORDER BY e.created_at`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanExecutor(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("dispatch: executors: %w", err)
	}
	return out, nil
}

// ExecutorPatch changes an executor; nil members stay.
type ExecutorPatch struct {
	Status *string   `json:"status"`
	Skills *[]string `json:"skills"`
	// CRMUserID links the executor to a CRM user ("" removes the link).
	CRMUserID *string `json:"crm_user_id"`
}

// InvalidError names the field that is wrong.
type InvalidError struct{ Field, Code, Message string }

func (e *InvalidError) Error() string { return "dispatch: " + e.Field + ": " + e.Message }

// UpdateExecutor approves, blocks, sets skills or the CRM user link (audited).
func (s *Service) UpdateExecutor(ctx context.Context, tenantID, actor, id uuid.UUID, p ExecutorPatch) (Executor, error) {
	if p.Status != nil && *p.Status != "approved" && *p.Status != "blocked" && *p.Status != "pending" {
		return Executor{}, &InvalidError{Field: "status", Code: "invalid_value", Message: "must be approved, blocked or pending"}
	}
	if p.Skills != nil {
		for i, sk := range *p.Skills {
			sk = strings.TrimSpace(strings.ToLower(sk))
			if sk == "" || len(sk) > 100 {
				return Executor{}, &InvalidError{Field: fmt.Sprintf("skills[%d]", i), Code: "invalid_length", Message: "must be 1–100 characters"}
			}
			(*p.Skills)[i] = sk
		}
	}
	if p.CRMUserID != nil && len(*p.CRMUserID) > 100 {
		return Executor{}, &InvalidError{Field: "crm_user_id", Code: "invalid_length", Message: "must be at most 100 characters"}
	}
	now := s.clock.Now()
	var out Executor
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var tgUser int64
		var name string
		err := tx.QueryRow(ctx, `UPDATE dispatch_executors SET status = COALESCE($2, status), skills = COALESCE($3, skills), updated_at = $4
			WHERE id = $1 RETURNING tg_user_id, name`, id, p.Status, p.Skills, now).Scan(&tgUser, &name)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if p.CRMUserID != nil {
			if err := setLink(ctx, tx, tenantID, tgUser, *p.CRMUserID, name, now); err != nil {
				return err
			}
		}
		if err := audit(ctx, tx, tenantID, actor.String(), "dispatch.executor_updated", id.String(), map[string]any{"patch": p}, now); err != nil {
			return err
		}
		out, err = scanExecutor(tx.QueryRow(ctx, `SELECT `+executorCols+` FROM dispatch_executors e
			LEFT JOIN crm_user_links l ON l.tg_user_id = e.tg_user_id WHERE e.id = $1`, id))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Executor{}, err
	}
	if db.IsUniqueViolation(err, "") {
		return Executor{}, &InvalidError{Field: "crm_user_id", Code: "taken", Message: "is linked to another Telegram user"}
	}
	if err != nil {
		return Executor{}, fmt.Errorf("dispatch: update executor: %w", err)
	}
	return out, nil
}

func setLink(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, tgUser int64, crmUser, name string, now time.Time) error {
	if crmUser == "" {
		_, err := tx.Exec(ctx, `DELETE FROM crm_user_links WHERE tg_user_id = $1`, tgUser)
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO crm_user_links (tenant_id, tg_user_id, crm_user_id, name, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, tg_user_id) DO UPDATE SET crm_user_id = EXCLUDED.crm_user_id, name = EXCLUDED.name, updated_at = EXCLUDED.updated_at`,
		tenantID, tgUser, crmUser, name, now)
	return err
}

// UserLink maps a Telegram user to a CRM user (managers and executors).
type UserLink struct {
	TgUserID  int64  `json:"tg_user_id"`
	CRMUserID string `json:"crm_user_id"`
	Name      string `json:"name"`
}

// SetUserLink links (or with an empty CRMUserID unlinks) a Telegram user.
func (s *Service) SetUserLink(ctx context.Context, tenantID, actor uuid.UUID, l UserLink) error {
	if l.TgUserID <= 0 {
		return &InvalidError{Field: "tg_user_id", Code: "required", Message: "must be a Telegram user id"}
	}
	if len(l.CRMUserID) > 100 {
		return &InvalidError{Field: "crm_user_id", Code: "invalid_length", Message: "must be at most 100 characters"}
	}
	now := s.clock.Now()
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := setLink(ctx, tx, tenantID, l.TgUserID, l.CRMUserID, l.Name, now); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actor.String(), "dispatch.user_link", fmt.Sprint(l.TgUserID), map[string]any{"crm_user_id": l.CRMUserID}, now)
	})
	if db.IsUniqueViolation(err, "") {
		return &InvalidError{Field: "crm_user_id", Code: "taken", Message: "is linked to another Telegram user"}
	}
	if err != nil {
		return fmt.Errorf("dispatch: user link: %w", err)
	}
	return nil
}

// UserLinks lists the Telegram <-> CRM user links.
func (s *Service) UserLinks(ctx context.Context, tenantID uuid.UUID) ([]UserLink, error) {
	out := []UserLink{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tg_user_id, crm_user_id, name FROM crm_user_links ORDER BY tg_user_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l UserLink
			if err := rows.Scan(&l.TgUserID, &l.CRMUserID, &l.Name); err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("dispatch: user links: %w", err)
	}
	return out, nil
}

// Job is a job as the console lists it.
type Job struct {
	ID                uuid.UUID  `json:"id"`
	ConnectorID       uuid.UUID  `json:"connector_id"`
	DealID            string     `json:"deal_id"`
	ChatID            int64      `json:"chat_id"`
	Status            string     `json:"status"`
	Card              Card       `json:"card"`
	TakenByTgUserID   *int64     `json:"taken_by_tg_user_id"`
	TakenByName       string     `json:"taken_by_name"`
	TakenByUsername   string     `json:"taken_by_username"`
	TakenAt           *time.Time `json:"taken_at"`
	Writeback         string     `json:"writeback"`
	WritebackAttempts int        `json:"writeback_attempts"`
	WritebackError    string     `json:"writeback_error"`
	CreatedAt         time.Time  `json:"created_at"`
}

// Jobs lists the latest jobs (status filters when set).
func (s *Service) Jobs(ctx context.Context, tenantID uuid.UUID, status string, limit int) ([]Job, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	out := []Job{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, connector_id, deal_id, chat_id, status, card, taken_by_tg_user_id, taken_by_name,
			taken_by_username, taken_at, writeback, writeback_attempts, writeback_error, created_at FROM dispatch_jobs
			WHERE ($1 = '' OR status = $1) ORDER BY created_at DESC LIMIT $2`, status, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j Job
			var card []byte
			if err := rows.Scan(&j.ID, &j.ConnectorID, &j.DealID, &j.ChatID, &j.Status, &card, &j.TakenByTgUserID, &j.TakenByName,
				&j.TakenByUsername, &j.TakenAt, &j.Writeback, &j.WritebackAttempts, &j.WritebackError, &j.CreatedAt); err != nil {
				return err
			}
			_ = json.Unmarshal(card, &j.Card)
			if j.Card.Skills == nil {
				j.Card.Skills = []string{}
			}
			out = append(out, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("dispatch: jobs: %w", err)
	}
	return out, nil
}

// Reveal is one logged client-phone reveal.
type Reveal struct {
	JobID    uuid.UUID `json:"job_id"`
	DealID   string    `json:"deal_id"`
	TgUserID int64     `json:"tg_user_id"`
	Name     string    `json:"name"`
	Via      string    `json:"via"`
	At       time.Time `json:"at"`
}

// Reveals lists the latest phone reveals.
func (s *Service) Reveals(ctx context.Context, tenantID uuid.UUID, limit int) ([]Reveal, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	out := []Reveal{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT r.job_id, j.deal_id, r.tg_user_id, r.name, r.via, r.at FROM dispatch_reveals r
			JOIN dispatch_jobs j ON j.id = r.job_id ORDER BY r.at DESC, r.id DESC LIMIT $1`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Reveal
			if err := rows.Scan(&r.JobID, &r.DealID, &r.TgUserID, &r.Name, &r.Via, &r.At); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("dispatch: reveals: %w", err)
	}
	return out, nil
}
