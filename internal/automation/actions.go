package automation

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// contactChat is a contact's most recently seen bot chat. ok is false when
// there is none, or it is blocked or unsubscribed (why says which).
func contactChat(ctx context.Context, tx pgx.Tx, contactID uuid.UUID) (botID, chatID int64, why string, err error) {
	var reachable, unsub bool
	err = tx.QueryRow(ctx, `SELECT bot_id, chat_id, reachable, unsubscribed FROM bot_chats WHERE contact_id = $1
		ORDER BY last_seen_at DESC LIMIT 1`, contactID).Scan(&botID, &chatID, &reachable, &unsub)
	switch {
	case db.IsNotFound(err):
		return 0, 0, "no_chat", nil
	case err != nil:
		return 0, 0, "", fmt.Errorf("store: contact chat: %w", err)
	case unsub:
		return botID, chatID, "unsubscribed", nil
	case !reachable:
		return botID, chatID, "unreachable", nil
	}
	return botID, chatID, "", nil
}

// render fills {first_name} in a rule's text.
func render(text string, c *contact) string {
	if c == nil {
		return text
	}
	return strings.ReplaceAll(text, "{first_name}", c.FirstName)
}

func (s *Service) sendToContact(ctx context.Context, tenantID uuid.UUID, c *contact, text, idem string) (string, error) {
	var id uuid.UUID
	var why string
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		botID, chatID, w, err := contactChat(ctx, tx, c.ID)
		if err != nil || w != "" {
			why = w
			return err
		}
		id, err = s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: botID, ChatID: chatID, Method: "sendMessage",
			Params: marshal(map[string]any{"text": render(text, c)}), Priority: outbox.Live, Kind: "automation.message", IdempotencyKey: idem})
		return err
	})
	if err != nil {
		return "", err
	}
	if why != "" {
		return "", fmt.Errorf("%w: %s", errNoChat, why)
	}
	if err := s.ob.AfterCommit(ctx, id); err != nil {
		s.log.Warn("automation: outbox after commit", "tenant_id", tenantID, "error", err)
	}
	return "message queued", nil
}

func (s *Service) sendSurvey(ctx context.Context, tenantID uuid.UUID, c *contact, surveyID, runID uuid.UUID) (string, error) {
	if s.surveys == nil {
		return "", fmt.Errorf("surveys are not available: %w", errPermanent)
	}
	var botID, chatID int64
	var why string
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		botID, chatID, why, err = contactChat(ctx, tx, c.ID)
		return err
	})
	if err != nil {
		return "", err
	}
	if why != "" {
		return "", fmt.Errorf("%w: %s", errNoChat, why)
	}
	// One survey run per rule run, so a retried action asks nothing twice
	// (Ask is idempotent per run and contact).
	sr, err := s.surveyRun(ctx, tenantID, surveyID, runID)
	if err != nil {
		return "", err
	}
	if err := s.surveys.Ask(ctx, tenantID, sr, survey.Recipient{BotID: botID, ChatID: chatID, ContactID: c.ID, Lang: c.Language}); err != nil {
		return "", err
	}
	return "survey asked", nil
}

func (s *Service) surveyRun(ctx context.Context, tenantID, surveyID, runID uuid.UUID) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id FROM survey_runs WHERE source = 'automation' AND ref = $1 AND survey_id = $2`,
			runID.String(), surveyID).Scan(&id)
		if db.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil || id != uuid.Nil {
		return id, err
	}
	id, err = s.surveys.StartRun(ctx, tenantID, surveyID, survey.RunSpec{Source: "automation", Ref: runID.String()})
	if err == survey.ErrNotFound {
		return uuid.Nil, fmt.Errorf("survey %s: %w", surveyID, errPermanent)
	}
	return id, err
}

func (s *Service) setTag(ctx context.Context, tenantID, contactID uuid.UUID, tag string, add bool) error {
	return s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		q := `UPDATE contacts SET tags = array_remove(tags, $2), updated_at = $3 WHERE id = $1`
		if add {
			q = `UPDATE contacts SET tags = array_append(tags, $2), updated_at = $3 WHERE id = $1 AND NOT ($2 = ANY(tags))`
		}
		_, err := tx.Exec(ctx, q, contactID, tag, s.clock.Now())
		return err
	})
}

// notifyStaff posts to the given chat or the first staff support group of
// the tenant's bots.
func (s *Service) notifyStaff(ctx context.Context, tenantID uuid.UUID, p textParams, ev Event, idem string) (string, error) {
	text := p.Text
	if ev.CRM != nil {
		text = strings.NewReplacer("{deal_id}", ev.CRM.DealID, "{stage_id}", ev.CRM.StageID).Replace(text)
	}
	var id uuid.UUID
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var botID, chatID int64
		err := tx.QueryRow(ctx, `SELECT bot_id, chat_id FROM chat_bindings WHERE ($1 = 0 AND purpose = 'staff_support') OR chat_id = $1
			ORDER BY created_at LIMIT 1`, p.ChatID).Scan(&botID, &chatID)
		if db.IsNotFound(err) {
			return fmt.Errorf("no staff chat is bound: %w", errPermanent)
		}
		if err != nil {
			return err
		}
		id, err = s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: botID, ChatID: chatID, Method: "sendMessage",
			Params: marshal(map[string]any{"text": text}), Priority: outbox.Live, Kind: "automation.staff", IdempotencyKey: idem})
		return err
	})
	if err != nil {
		return "", err
	}
	if err := s.ob.AfterCommit(ctx, id); err != nil {
		s.log.Warn("automation: outbox after commit", "tenant_id", tenantID, "error", err)
	}
	return "staff notified", nil
}
