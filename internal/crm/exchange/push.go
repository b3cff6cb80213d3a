package exchange

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// MaxBatch caps the items of one push.
const MaxBatch = 1000

// ClientIn is a client as the tenant pushes it (schema "Client").
type ClientIn = httpjson.Client1C

// BalanceIn is a client's balance as the tenant pushes it (schema
// "Balance"); a push older than the stored one is ignored.
type BalanceIn = httpjson.Balance

// TerminalIn is a point of sale as the tenant pushes it (schema "Terminal").
type TerminalIn struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Address string         `json:"address,omitempty"`
	Active  *bool          `json:"active,omitempty"` // default true
	Attrs   map[string]any `json:"attrs,omitempty"`
}

// Terminal is a stored point of sale.
type Terminal struct {
	ID         uuid.UUID      `json:"id"`
	ExternalID string         `json:"external_id"`
	Name       string         `json:"name"`
	Address    string         `json:"address"`
	Active     bool           `json:"active"`
	Attrs      map[string]any `json:"attrs"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// reserved are the contact event's own members; custom fields may not
// shadow them.
var reserved = map[string]bool{"name": true, "phones": true, "emails": true, "telegram_id": true}

type checker struct{ errs []FieldError }

func (c *checker) add(field, code, msg string) {
	if len(c.errs) < 50 {
		c.errs = append(c.errs, FieldError{field, code, msg})
	}
}

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &InvalidError{c.errs}
}

func checkID(c *checker, field, v string) {
	if strings.TrimSpace(v) == "" || len(v) > 200 {
		c.add(field, "required", "1 to 200 characters")
	}
}

func checkBatch(c *checker, field string, n int) bool {
	if n == 0 || n > MaxBatch {
		c.add(field, "invalid", fmt.Sprintf("1 to %d items", MaxBatch))
		return false
	}
	return true
}

// PushClients validates the batch and hands each client to the sink as a
// ContactChanged event (ContactID = the tenant's id; Fields = name, phones,
// emails, telegram_id and the custom fields). The key is the client's id
// and a hash of its content, so pushing the same state twice is handled
// once and a change is handled again.
func (s *Service) PushClients(ctx context.Context, caller Caller, clients []ClientIn) (int, error) {
	var c checker
	if checkBatch(&c, "clients", len(clients)) {
		for i, k := range clients {
			p := fmt.Sprintf("clients[%d]", i)
			checkID(&c, p+".id", k.ID)
			if len([]rune(k.Name)) > 300 {
				c.add(p+".name", "too_long", "at most 300 characters")
			}
			for j, ph := range k.Phones {
				if d := httpjson.NormalizePhone(ph); len(d) < 6 || len(ph) > 40 {
					c.add(fmt.Sprintf("%s.phones[%d]", p, j), "invalid", "a phone number, e.g. +79161234567")
				}
			}
			for j, e := range k.Emails {
				if !strings.Contains(e, "@") || len(e) > 254 {
					c.add(fmt.Sprintf("%s.emails[%d]", p, j), "invalid", "an e-mail address")
				}
			}
			if k.TelegramID < 0 {
				c.add(p+".telegram_id", "invalid", "a Telegram user id")
			}
			for f := range k.Fields {
				if reserved[f] || f == "" || len(f) > 100 {
					c.add(p+".fields."+f, "invalid", "custom field names are 1–100 characters and not name, phones, emails or telegram_id")
				}
			}
		}
	}
	if err := c.err(); err != nil {
		return 0, err
	}
	if s.sink == nil {
		return 0, ErrNoSink
	}
	now := s.clock.Now().UTC()
	for _, k := range clients {
		fields := map[string]any{"name": k.Name, "phones": nonNil(k.Phones), "emails": nonNil(k.Emails)}
		if k.TelegramID != 0 {
			fields["telegram_id"] = k.TelegramID
		}
		for f, v := range k.Fields {
			fields[f] = v
		}
		raw, _ := json.Marshal(k)
		sum := sha256.Sum256(raw)
		e := crm.Event{Type: crm.ContactChanged, Key: "exchange:client:" + k.ID + ":" + hex.EncodeToString(sum[:8]),
			ContactID: k.ID, Fields: fields, OccurredAt: now}
		if err := s.sink.HandleCRMEvent(ctx, caller.TenantID, caller.ConnectorID, e); err != nil {
			return 0, fmt.Errorf("%w: client %s: %w", ErrSinkFailed, k.ID, err)
		}
	}
	return len(clients), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PushEvents validates CRM events (deal stage changes and the rest) and
// hands them to the sink; the key is the tenant's event id.
func (s *Service) PushEvents(ctx context.Context, caller Caller, events []httpjson.EventIn) (int, error) {
	var c checker
	if checkBatch(&c, "events", len(events)) {
		for i, e := range events {
			for _, fe := range e.Validate(fmt.Sprintf("events[%d]", i)) {
				c.add(fe.Field, fe.Code, fe.Message)
			}
		}
	}
	if err := c.err(); err != nil {
		return 0, err
	}
	if s.sink == nil {
		return 0, ErrNoSink
	}
	for _, e := range events {
		if err := s.sink.HandleCRMEvent(ctx, caller.TenantID, caller.ConnectorID, e.Event()); err != nil {
			return 0, fmt.Errorf("%w: event %s: %w", ErrSinkFailed, e.ID, err)
		}
	}
	return len(events), nil
}

// PushBalances stores balances; a balance older than the stored one (by
// updated_at) leaves it alone, so out-of-order pushes cannot roll back.
func (s *Service) PushBalances(ctx context.Context, tenantID uuid.UUID, balances []BalanceIn) (int, error) {
	var c checker
	if checkBatch(&c, "balances", len(balances)) {
		for i, b := range balances {
			p := fmt.Sprintf("balances[%d]", i)
			checkID(&c, p+".client_id", b.ClientID)
			if len(b.Currency) != 3 || strings.ToUpper(b.Currency) != b.Currency {
				c.add(p+".currency", "invalid", "an ISO 4217 code such as RUB")
			}
			if b.UpdatedAt.IsZero() {
				c.add(p+".updated_at", "required", "when the tenant's system computed it (RFC 3339)")
			}
			if b.Amount >= 1e12 || b.Amount <= -1e12 {
				c.add(p+".amount", "out_of_range", "at most 12 digits before the point")
			}
			if b.Bonus >= 1e12 || b.Bonus <= -1e12 {
				c.add(p+".bonus", "out_of_range", "at most 12 digits before the point")
			}
		}
	}
	if err := c.err(); err != nil {
		return 0, err
	}
	now := s.clock.Now().UTC()
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, v := range balances {
			b.Queue(`INSERT INTO client_balances (tenant_id, client_id, amount, bonus, currency, updated_at, received_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (tenant_id, client_id) DO UPDATE SET amount = EXCLUDED.amount, bonus = EXCLUDED.bonus,
				    currency = EXCLUDED.currency, updated_at = EXCLUDED.updated_at, received_at = EXCLUDED.received_at
				WHERE client_balances.updated_at <= EXCLUDED.updated_at`,
				tenantID, v.ClientID, v.Amount, v.Bonus, v.Currency, v.UpdatedAt.UTC(), now)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("exchange: balances: %w", err)
	}
	return len(balances), nil
}

// Balance is the stored balance of a client (by the tenant's id).
func (s *Service) Balance(ctx context.Context, tenantID uuid.UUID, clientID string) (httpjson.Balance, error) {
	var b httpjson.Balance
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT client_id, amount::float8, bonus::float8, currency, updated_at FROM client_balances
			WHERE tenant_id = $1 AND client_id = $2`, tenantID, clientID).Scan(&b.ClientID, &b.Amount, &b.Bonus, &b.Currency, &b.UpdatedAt)
	})
	if db.IsNotFound(err) {
		return b, ErrNotFound
	}
	if err != nil {
		return b, fmt.Errorf("exchange: balance: %w", err)
	}
	return b, nil
}

// PushTerminals creates or updates terminals by the tenant's id. A terminal
// missing from a push is left alone: the tenant deactivates one with
// "active": false.
func (s *Service) PushTerminals(ctx context.Context, tenantID uuid.UUID, terminals []TerminalIn) (int, error) {
	var c checker
	if checkBatch(&c, "terminals", len(terminals)) {
		seen := map[string]bool{}
		for i, t := range terminals {
			p := fmt.Sprintf("terminals[%d]", i)
			checkID(&c, p+".id", t.ID)
			if seen[t.ID] {
				c.add(p+".id", "duplicate", "the same terminal twice in one push")
			}
			seen[t.ID] = true
			if n := len([]rune(strings.TrimSpace(t.Name))); n == 0 || n > 200 {
				c.add(p+".name", "required", "1 to 200 characters")
			}
			if len([]rune(t.Address)) > 500 {
				c.add(p+".address", "too_long", "at most 500 characters")
			}
		}
	}
	if err := c.err(); err != nil {
		return 0, err
	}
	now := s.clock.Now().UTC()
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, t := range terminals {
			active := t.Active == nil || *t.Active
			attrs := t.Attrs
			if attrs == nil {
				attrs = map[string]any{}
			}
			b.Queue(`INSERT INTO terminals (id, tenant_id, external_id, name, address, active, attrs, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (tenant_id, external_id) DO UPDATE SET name = EXCLUDED.name, address = EXCLUDED.address,
				    active = EXCLUDED.active, attrs = EXCLUDED.attrs, updated_at = EXCLUDED.updated_at`,
				ids.New(), tenantID, t.ID, strings.TrimSpace(t.Name), t.Address, active, attrs, now)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("exchange: terminals: %w", err)
	}
	return len(terminals), nil
}

// Terminals lists the tenant's terminals by name.
func (s *Service) Terminals(ctx context.Context, tenantID uuid.UUID) ([]Terminal, error) {
	out := []Terminal{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, external_id, name, address, active, attrs, updated_at FROM terminals
			WHERE tenant_id = $1 ORDER BY name, external_id`, tenantID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t Terminal
			if err := rows.Scan(&t.ID, &t.ExternalID, &t.Name, &t.Address, &t.Active, &t.Attrs, &t.UpdatedAt); err != nil {
				return err
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("exchange: terminals: %w", err)
	}
	return out, nil
}
