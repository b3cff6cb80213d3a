package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/telegram"
)

// A Telegram contact is linked to a CRM contact per connector; the links
// live on the contact (contacts.crm_links, DESIGN.md 4a):
//
//	{"<connector id>": {"contact_id": "7143599", "via": "phone", "linked_at": "..."}}
//
// via is phone (the person shared a phone the CRM knows), code (they
// opened a deep link made for the CRM contact) or admin.

// ErrContactNotFound: no such Telegram contact in the tenant.
var ErrContactNotFound = errors.New("crm: no such contact")

// StartPrefix is the deep-link payload prefix of link codes.
const StartPrefix = "crm_"

// Text keys (tenants/defaults/catalog.yaml).
const (
	TextLinked      = "crm.linked"
	TextLinkInvalid = "crm.link_invalid"
)

// Link is one CRM link of a contact.
type Link struct {
	ContactID string    `json:"contact_id"`
	Via       string    `json:"via"`
	LinkedAt  time.Time `json:"linked_at"`
}

func setLink(ctx context.Context, tx pgx.Tx, contactID, connectorID uuid.UUID, l Link, now time.Time) error {
	raw, _ := json.Marshal(l)
	tag, err := tx.Exec(ctx, `UPDATE contacts SET crm_links = crm_links || jsonb_build_object($2::text, $3::jsonb),
		updated_at = $4 WHERE id = $1`, contactID, connectorID.String(), raw, now)
	if err != nil {
		return fmt.Errorf("store: link contact: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrContactNotFound
	}
	return nil
}

func linksOf(ctx context.Context, tx pgx.Tx, contactID uuid.UUID) (map[string]Link, error) {
	var raw []byte
	err := tx.QueryRow(ctx, `SELECT crm_links FROM contacts WHERE id = $1`, contactID).Scan(&raw)
	if db.IsNotFound(err) {
		return nil, ErrContactNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: contact links: %w", err)
	}
	out := map[string]Link{}
	_ = json.Unmarshal(raw, &out)
	return out, nil
}

// LinkRequest is the admin's link of a contact: an empty crm_contact_id
// removes the link.
type LinkRequest struct {
	ConnectorID  uuid.UUID `json:"connector_id"`
	CRMContactID string    `json:"crm_contact_id"`
}

// SetLink links (or unlinks) a Telegram contact to a CRM contact by hand.
func (s *Service) SetLink(ctx context.Context, tenantID, actorID, contactID uuid.UUID, r LinkRequest) (map[string]Link, error) {
	r.CRMContactID = strings.TrimSpace(r.CRMContactID)
	if len(r.CRMContactID) > 64 {
		return nil, invalid("crm_contact_id", "too_long", "at most 64 characters")
	}
	var out map[string]Link
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := linksOf(ctx, tx, contactID); err != nil {
			return err
		}
		if _, err := getConnector(ctx, tx, r.ConnectorID); errors.Is(err, ErrConnectorNotFound) {
			return invalid("connector_id", "not_found", "no such connector")
		} else if err != nil {
			return err
		}
		now := s.clock.Now()
		if r.CRMContactID == "" {
			if _, err := tx.Exec(ctx, `UPDATE contacts SET crm_links = crm_links - $2::text, updated_at = $3 WHERE id = $1`,
				contactID, r.ConnectorID.String(), now); err != nil {
				return fmt.Errorf("store: unlink contact: %w", err)
			}
		} else if err := setLink(ctx, tx, contactID, r.ConnectorID, Link{ContactID: r.CRMContactID, Via: "admin", LinkedAt: now}, now); err != nil {
			return err
		}
		if err := audit(ctx, tx, tenantID, actorID, "crm.contact_linked", r.ConnectorID,
			map[string]any{"contact_id": contactID, "crm_contact_id": r.CRMContactID}); err != nil {
			return err
		}
		var err error
		out, err = linksOf(ctx, tx, contactID)
		return err
	})
	return out, err
}

// LinkCode is a deep link that links whoever opens it to a CRM contact.
type LinkCode struct {
	Code      string    `json:"code"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LinkCodeRequest names the CRM contact (and the bot, when the tenant has
// several; default: the oldest active bot).
type LinkCodeRequest struct {
	CRMContactID string `json:"crm_contact_id"`
	BotID        int64  `json:"bot_id"`
}

// CreateLinkCode makes a one-time deep link t.me/<bot>?start=crm_<code>.
func (s *Service) CreateLinkCode(ctx context.Context, tenantID, actorID, connectorID uuid.UUID, r LinkCodeRequest) (LinkCode, error) {
	r.CRMContactID = strings.TrimSpace(r.CRMContactID)
	if r.CRMContactID == "" || len(r.CRMContactID) > 64 {
		return LinkCode{}, invalid("crm_contact_id", "required", "the CRM contact's id")
	}
	now := s.clock.Now()
	out := LinkCode{Code: ids.Token(16), ExpiresAt: now.Add(s.opts.LinkCodeTTL)}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := getConnector(ctx, tx, connectorID); err != nil {
			return err
		}
		var username string
		err := tx.QueryRow(ctx, `SELECT username FROM bots WHERE ($1 = 0 OR id = $1) AND status = 'active'
			ORDER BY created_at, id LIMIT 1`, r.BotID).Scan(&username)
		if db.IsNotFound(err) {
			return invalid("bot_id", "no_bot", "the tenant has no such active bot")
		}
		if err != nil {
			return fmt.Errorf("store: bot for link: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO crm_link_codes (code, tenant_id, connector_id, crm_contact_id, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, out.Code, tenantID, connectorID, r.CRMContactID, out.ExpiresAt, now); err != nil {
			return fmt.Errorf("store: insert link code: %w", err)
		}
		out.URL = "https://t.me/" + username + "?start=" + StartPrefix + out.Code
		return audit(ctx, tx, tenantID, actorID, "crm.link_code_created", connectorID, map[string]any{"crm_contact_id": r.CRMContactID})
	})
	return out, err
}

// Redeem links contactID by a code; false when the code is unknown, used
// or expired.
func (s *Service) Redeem(ctx context.Context, tenantID, contactID uuid.UUID, code string) (bool, error) {
	ok := false
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		now := s.clock.Now()
		var connectorID uuid.UUID
		var crmContact string
		var usedBy *uuid.UUID
		// Single use; a redelivered update of the same person finds its own
		// use and succeeds again (at-least-once handling).
		err := tx.QueryRow(ctx, `UPDATE crm_link_codes SET used_at = COALESCE(used_at, $3), used_by = COALESCE(used_by, $2)
			WHERE code = $1 AND expires_at > $3 AND (used_at IS NULL OR used_by = $2)
			RETURNING connector_id, crm_contact_id, used_by`, code, contactID, now).Scan(&connectorID, &crmContact, &usedBy)
		if db.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: redeem link code: %w", err)
		}
		ok = true
		return setLink(ctx, tx, contactID, connectorID, Link{ContactID: crmContact, Via: "code", LinkedAt: now}, now)
	})
	return ok, err
}

// Attach registers the deep-link payload and the shared-phone hook on
// the update processor.
func (s *Service) Attach(p *telegram.Processor) {
	p.RegisterStartPayload(StartPrefix, s.handleStart)
	p.OnPhoneShared(s.phoneShared)
}

func (s *Service) handleStart(ctx context.Context, in *telegram.Inbound) error {
	code := strings.TrimPrefix(in.Payload, StartPrefix)
	ok := false
	if in.ContactID != uuid.Nil && code != "" && len(code) <= 60 {
		var err error
		if ok, err = s.Redeem(ctx, in.TenantID, in.ContactID, code); err != nil {
			return err
		}
	}
	if !ok {
		return in.ReplyText(ctx, TextLinkInvalid, nil)
	}
	s.log.Info("crm: contact linked by code", "tenant_id", in.TenantID, "contact_id", in.ContactID)
	return in.ReplyText(ctx, TextLinked, nil)
}

func (s *Service) phoneShared(ctx context.Context, in *telegram.Inbound, phone string) error {
	t, opts := NewLinkPhoneTask(in.TenantID, in.ContactID, phone, fmt.Sprintf("%d:%d", in.BotID, in.UpdateID))
	return s.q.Enqueue(ctx, t, opts...)
}

// LinkByPhone looks the phone up in each of the tenant's CRMs and links
// the contact to the CRM contact that has it (where not linked already);
// where the contact is linked already, the phone is written back to the
// linked CRM contact (a call, see writeback.go).
func (s *Service) LinkByPhone(ctx context.Context, tenantID, contactID uuid.UUID, phone string) error {
	var rows []connectorRow
	var links map[string]Link
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if links, err = linksOf(ctx, tx, contactID); err != nil {
			return err
		}
		rows, err = listConnectors(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	var firstErr error
	for _, r := range rows {
		if r.Status != "active" {
			continue
		}
		if l, linked := links[r.ID.String()]; linked {
			// Already linked: write the phone back to the CRM contact
			// (the connector adds it only where the contact lacks it).
			if err := s.writePhone(ctx, tenantID, contactID, r.ID, l.ContactID, phone); err != nil && firstErr == nil {
				firstErr = err
			}
			continue
		}
		conn, err := s.build(tenantID, r)
		if err != nil {
			continue
		}
		c, err := conn.FindContactByPhone(ctx, phone)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
			continue
		}
		if err != nil {
			s.noteOutcome(ctx, tenantID, r.ID, err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		now := s.clock.Now()
		if err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
			return setLink(ctx, tx, contactID, r.ID, Link{ContactID: c.ID, Via: "phone", LinkedAt: now}, now)
		}); err != nil {
			return err
		}
		s.log.Info("crm: contact linked by phone", "tenant_id", tenantID, "contact_id", contactID, "connector_id", r.ID)
	}
	return firstErr
}

func (s *Service) handleLinkPhone(ctx context.Context, t *asynq.Task) error {
	var p linkPhonePayload
	if err := decode(t, &p); err != nil {
		return err
	}
	err := s.LinkByPhone(ctx, p.TenantID, p.ContactID, p.Phone)
	if errors.Is(err, ErrContactNotFound) {
		return nil
	}
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return s.rateLimited(rl.RetryAfter, err)
	}
	return err
}
