package support

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// Surveys is the survey engine as the desk uses it (*survey.Service).
type Surveys interface {
	EnsureSurvey(ctx context.Context, tenantID uuid.UUID, key string, d survey.Def) (survey.Survey, error)
	StartRun(ctx context.Context, tenantID, surveyID uuid.UUID, spec survey.RunSpec) (uuid.UUID, error)
	Ask(ctx context.Context, tenantID, runID uuid.UUID, r survey.Recipient) error
	OnAnswer(source string, fn survey.AnswerHook)
}

// SettingsSource gives a tenant's settings (*tenant.Service).
type SettingsSource interface {
	Settings(ctx context.Context, tenantID uuid.UUID) (tenant.Settings, error)
}

// CSAT: after a request is resolved the person is asked to rate it 1–5,
// then for an optional comment; each answer is posted in the topic.
const (
	csatSource = "csat"
	csatKey    = "csat"
	// TaskCSAT asks a resolved ticket's CSAT (delayed by the tenant's
	// settings.surveys.csat_delay_minutes).
	TaskCSAT = "support:csat"
)

// csatDef is the tenant's CSAT survey, created on first use.
var csatDef = survey.Def{Title: "CSAT", Questions: []survey.Question{
	{Kind: survey.KindScale, PromptKey: "survey.csat_question", ScaleMin: 1, ScaleMax: 5},
	{Kind: survey.KindText, PromptKey: "survey.csat_comment", Optional: true},
}}

type csatPayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	TicketID uuid.UUID `json:"ticket_id"`
}

// NewCSATTask returns the task that asks a resolved ticket's CSAT.
func NewCSATTask(tenantID, ticketID uuid.UUID) *asynq.Task {
	raw, _ := json.Marshal(csatPayload{TenantID: tenantID, TicketID: ticketID})
	return asynq.NewTask(TaskCSAT, raw, asynq.Queue(queue.Default), asynq.MaxRetry(5))
}

// settings returns the tenant's settings (zero if unavailable).
func (s *Service) settings(ctx context.Context, tenantID uuid.UUID) tenant.Settings {
	if s.opts.Settings == nil {
		return tenant.Settings{}
	}
	st, err := s.opts.Settings.Settings(ctx, tenantID)
	if err != nil {
		s.log.Warn("support: tenant settings", "tenant_id", tenantID, "error", err)
	}
	return st
}

// scheduleCSAT asks for the rating now or after the tenant's delay, if
// the tenant wants CSAT.
func (s *Service) scheduleCSAT(ctx context.Context, tenantID, ticketID uuid.UUID) error {
	if s.opts.Surveys == nil {
		return nil
	}
	st := s.settings(ctx, tenantID)
	if !st.Support.CSAT {
		return nil
	}
	var delay time.Duration
	if v, ok := st.FeatureSettings["surveys"]["csat_delay_minutes"].(float64); ok && v > 0 {
		delay = time.Duration(v * float64(time.Minute))
	}
	if delay == 0 {
		return s.askCSAT(ctx, tenantID, ticketID)
	}
	return s.q.Enqueue(ctx, NewCSATTask(tenantID, ticketID), asynq.ProcessIn(s.realDur(delay)), asynq.TaskID("support:csat:"+ticketID.String()))
}

// HandleCSAT is the delayed CSAT task.
func (s *Service) HandleCSAT(ctx context.Context, t *asynq.Task) error {
	var p csatPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID == uuid.Nil {
		return fmt.Errorf("support: csat payload: %v: %w", err, asynq.SkipRetry)
	}
	return s.askCSAT(ctx, p.TenantID, p.TicketID)
}

// askCSAT asks a resolved ticket's rating, once per ticket (a conditional
// UPDATE claims it); a ticket reopened meanwhile is not asked.
func (s *Service) askCSAT(ctx context.Context, tenantID, ticketID uuid.UUID) error {
	now := s.clock.Now()
	var botID, chatID int64
	var contactID uuid.UUID
	var lang string
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE support_tickets t SET csat_asked_at = $2 FROM bot_chats b, contacts c
			WHERE t.id = $1 AND t.status = 'resolved' AND t.csat_asked_at IS NULL
			AND b.bot_id = t.bot_id AND b.contact_id = t.contact_id AND c.id = t.contact_id
			RETURNING t.bot_id, b.chat_id, t.contact_id, c.language`, ticketID, now).Scan(&botID, &chatID, &contactID, &lang)
		if err != nil && !db.IsNotFound(err) {
			return fmt.Errorf("store: claim csat: %w", err)
		}
		return nil
	})
	if err != nil || botID == 0 {
		return err
	}
	sv, err := s.opts.Surveys.EnsureSurvey(ctx, tenantID, csatKey, csatDef)
	if err != nil {
		return fmt.Errorf("support: csat: %w", err)
	}
	closes := now.Add(s.opts.CSATWindow)
	runID, err := s.opts.Surveys.StartRun(ctx, tenantID, sv.ID, survey.RunSpec{Source: csatSource, Ref: ticketID.String(), ClosesAt: &closes})
	if err != nil {
		return fmt.Errorf("support: csat: %w", err)
	}
	if err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE support_tickets SET csat_run_id = $2 WHERE id = $1`, ticketID, runID)
		return err
	}); err != nil {
		return fmt.Errorf("support: csat run: %w", err)
	}
	return s.opts.Surveys.Ask(ctx, tenantID, runID, survey.Recipient{BotID: botID, ChatID: chatID, ContactID: contactID, Lang: lang})
}

// onCSAT posts a CSAT answer in the ticket's topic ("⭐ 4/5 — comment")
// and keeps it in the ticket's history as a note.
func (s *Service) onCSAT(ctx context.Context, a survey.Answer) error {
	ticketID, err := uuid.Parse(a.Ref)
	if err != nil || a.Value.Skipped {
		return nil
	}
	rating := a.All[1].Value
	if rating == nil {
		return nil
	}
	text := fmt.Sprintf("⭐ %d/5", *rating)
	switch {
	case a.Question.Position == 2 && a.Value.Text != "":
		text += " — " + a.Value.Text
	case a.Question.Position == 1 && a.Edited:
		text += " (changed)"
	case a.Question.Position != 1:
		return nil
	}
	sum := sha256.Sum256([]byte(text))
	key := fmt.Sprintf("csat:%s:%d:%s", a.RunID, a.Question.Position, hex.EncodeToString(sum[:8]))
	now := s.clock.Now()
	return s.inTenant(ctx, a.TenantID, func(tx pgx.Tx) error {
		var topicID *uuid.UUID
		var chatID int64
		if err := tx.QueryRow(ctx, `SELECT t.topic_id, b.chat_id FROM support_tickets t
			LEFT JOIN bot_chats b ON b.bot_id = t.bot_id AND b.contact_id = t.contact_id WHERE t.id = $1`, ticketID).
			Scan(&topicID, &chatID); err != nil {
			return fmt.Errorf("store: csat ticket: %w", err)
		}
		fresh, err := insertMessage(ctx, tx, a.TenantID, &message{TicketID: ticketID, Direction: "note", UserChatID: chatID,
			AuthorContactID: &a.ContactID, AuthorName: "CSAT", Kind: "text", Text: text, Relay: "none", Source: &key}, now)
		if err != nil || !fresh || topicID == nil {
			return err
		}
		topic, err := lockTopicByID(ctx, tx, *topicID)
		if err != nil || topic == nil || topic.ThreadID == nil {
			return err
		}
		_, err = s.enqueueTx(ctx, tx, outbox.Message{TenantID: a.TenantID, BotID: topic.BotID, ChatID: topic.StaffChatID,
			ThreadID: *topic.ThreadID, Method: "sendMessage", Params: params(map[string]any{"text": text}),
			Priority: outbox.Live, Kind: kindNote, Ref: ticketID.String(), IdempotencyKey: "support:" + key})
		return err
	})
}
