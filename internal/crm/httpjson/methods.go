package httpjson

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// Client1C is a client (a person) as the tenant's system describes it
// (schema "Client" in docs/connectors/http-json.md).
type Client1C struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Phones     []string       `json:"phones,omitempty"`
	Emails     []string       `json:"emails,omitempty"`
	TelegramID int64          `json:"telegram_id,omitempty"`
	Fields     map[string]any `json:"fields,omitempty"`
}

// Contact converts to crm.Contact; the Telegram id, when the tenant knows
// it, is the field "telegram_id".
func (k Client1C) Contact() crm.Contact {
	ct := crm.Contact{ID: k.ID, Name: k.Name, Phones: k.Phones, Emails: k.Emails}
	if len(k.Fields) > 0 || k.TelegramID != 0 {
		ct.Fields = map[string]any{}
		for f, v := range k.Fields {
			ct.Fields[f] = v
		}
		if k.TelegramID != 0 {
			ct.Fields["telegram_id"] = k.TelegramID
		}
	}
	return ct
}

// Balance is a client's account (schema "Balance"): money on deposit and
// bonus points, as the tenant's system counts them now.
type Balance struct {
	ClientID  string    `json:"client_id"`
	Amount    float64   `json:"amount"`
	Bonus     float64   `json:"bonus"`
	Currency  string    `json:"currency"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Visit is an appointment (schema "Visit").
type Visit struct {
	ID         string    `json:"id"`
	StartsAt   time.Time `json:"starts_at"`
	Service    string    `json:"service"`
	Specialist string    `json:"specialist,omitempty"`
	Location   string    `json:"location,omitempty"`
	Status     string    `json:"status"` // planned, done, cancelled
	Price      float64   `json:"price,omitempty"`
}

// GetContact is GET /clients/{id}.
func (c *Client) GetContact(ctx context.Context, id string) (crm.Contact, error) {
	if strings.TrimSpace(id) == "" {
		return crm.Contact{}, fmt.Errorf("httpjson: %w: empty client id", crm.ErrNotFound)
	}
	var k Client1C
	if err := c.do(ctx, "GET", "/clients/"+seg(id), nil, nil, &k); err != nil {
		return crm.Contact{}, err
	}
	return k.Contact(), nil
}

// FindContactByPhone is GET /clients?phone=+79161234567 (E.164 when the
// number can be read as one; the tenant matches it as it stores numbers).
func (c *Client) FindContactByPhone(ctx context.Context, phone string) (crm.Contact, error) {
	p := NormalizePhone(phone)
	if p == "" {
		return crm.Contact{}, fmt.Errorf("httpjson: %w: no digits in phone", crm.ErrNotFound)
	}
	var k Client1C
	if err := c.do(ctx, "GET", "/clients", url.Values{"phone": {p}}, nil, &k); err != nil {
		return crm.Contact{}, err
	}
	return k.Contact(), nil
}

// FindClientByTelegramID is GET /clients?telegram_id=123456789, for tenants
// whose system stores the Telegram id (after the bot shared it back).
func (c *Client) FindClientByTelegramID(ctx context.Context, telegramID int64) (crm.Contact, error) {
	if telegramID <= 0 {
		return crm.Contact{}, fmt.Errorf("httpjson: %w: telegram id", crm.ErrNotFound)
	}
	var k Client1C
	if err := c.do(ctx, "GET", "/clients", url.Values{"telegram_id": {strconv.FormatInt(telegramID, 10)}}, nil, &k); err != nil {
		return crm.Contact{}, err
	}
	return k.Contact(), nil
}

// Balance is GET /clients/{id}/balance (the client cabinet's "My balance").
func (c *Client) Balance(ctx context.Context, clientID string) (Balance, error) {
	var b Balance
	if strings.TrimSpace(clientID) == "" {
		return b, fmt.Errorf("httpjson: %w: empty client id", crm.ErrNotFound)
	}
	err := c.do(ctx, "GET", "/clients/"+seg(clientID)+"/balance", nil, nil, &b)
	return b, err
}

// Visits is GET /clients/{id}/visits?from=&to= (RFC 3339; zero times are
// left out): the cabinet's "My visits" and the reminders.
func (c *Client) Visits(ctx context.Context, clientID string, from, to time.Time) ([]Visit, error) {
	if strings.TrimSpace(clientID) == "" {
		return nil, fmt.Errorf("httpjson: %w: empty client id", crm.ErrNotFound)
	}
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339))
	}
	var out struct {
		Visits []Visit `json:"visits"`
	}
	if err := c.do(ctx, "GET", "/clients/"+seg(clientID)+"/visits", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Visits, nil
}

// GetDeal is GET /deals/{id} (an order, a course of procedures: whatever
// the tenant's system calls a deal).
func (c *Client) GetDeal(ctx context.Context, id string) (crm.Deal, error) {
	if strings.TrimSpace(id) == "" {
		return crm.Deal{}, fmt.Errorf("httpjson: %w: empty deal id", crm.ErrNotFound)
	}
	var d crm.Deal
	err := c.do(ctx, "GET", "/deals/"+seg(id), nil, nil, &d)
	return d, err
}

// UpdateDeal is PATCH /deals/{id} with the members to change.
func (c *Client) UpdateDeal(ctx context.Context, u crm.DealUpdate) error {
	if strings.TrimSpace(u.DealID) == "" {
		return fmt.Errorf("httpjson: %w: empty deal id", crm.ErrInvalid)
	}
	body := map[string]any{}
	if u.ResponsibleUserID != nil {
		body["responsible_user_id"] = *u.ResponsibleUserID
	}
	if u.StageID != nil {
		body["stage_id"] = *u.StageID
	}
	if len(u.Fields) > 0 {
		body["fields"] = u.Fields
	}
	if len(body) == 0 {
		return nil
	}
	return c.do(ctx, "PATCH", "/deals/"+seg(u.DealID), nil, body, nil)
}

// reservedFields are Client members that are not custom fields.
var reservedFields = map[string]bool{"id": true, "name": true, "phones": true, "emails": true, "telegram_id": true}

// UpdateContact is PATCH /clients/{id} {"add_phones": [...], "fields": {...}}
// (schema "ClientUpdate"): phones in E.164 to add where the client lacks
// them (the tenant's system compares as it stores numbers), custom fields
// to set by name.
func (c *Client) UpdateContact(ctx context.Context, u crm.ContactUpdate) error {
	if strings.TrimSpace(u.ContactID) == "" {
		return fmt.Errorf("httpjson: %w: empty client id", crm.ErrInvalid)
	}
	body := map[string]any{}
	var phones []string
	for _, p := range u.Phones {
		n := NormalizePhone(p)
		if n == "" {
			return fmt.Errorf("httpjson: %w: no digits in phone", crm.ErrInvalid)
		}
		phones = append(phones, n)
	}
	if len(phones) > 0 {
		body["add_phones"] = phones
	}
	for k := range u.Fields {
		if k == "" || reservedFields[k] {
			return fmt.Errorf("httpjson: %w: field %q", crm.ErrInvalid, k)
		}
	}
	if len(u.Fields) > 0 {
		body["fields"] = u.Fields
	}
	if len(body) == 0 {
		return nil
	}
	return c.do(ctx, "PATCH", "/clients/"+seg(u.ContactID), nil, body, nil)
}

// AddNote is POST /deals/{id}/notes {"text": ...}.
func (c *Client) AddNote(ctx context.Context, n crm.Note) error {
	if strings.TrimSpace(n.DealID) == "" || strings.TrimSpace(n.Text) == "" {
		return fmt.Errorf("httpjson: %w: a deal id and a text", crm.ErrInvalid)
	}
	return c.do(ctx, "POST", "/deals/"+seg(n.DealID)+"/notes", nil, map[string]string{"text": n.Text}, nil)
}

// Pipelines is GET /pipelines; optional: a 404 means the tenant's system
// has none to offer and gives an empty list.
func (c *Client) Pipelines(ctx context.Context) ([]crm.Pipeline, error) {
	var out struct {
		Pipelines []crm.Pipeline `json:"pipelines"`
	}
	return out.Pipelines, optional(c.do(ctx, "GET", "/pipelines", nil, nil, &out))
}

// Users is GET /users (optional, like Pipelines).
func (c *Client) Users(ctx context.Context) ([]crm.User, error) {
	var out struct {
		Users []crm.User `json:"users"`
	}
	return out.Users, optional(c.do(ctx, "GET", "/users", nil, nil, &out))
}

// Fields is GET /fields (optional, like Pipelines).
func (c *Client) Fields(ctx context.Context) ([]crm.Field, error) {
	var out struct {
		Fields []crm.Field `json:"fields"`
	}
	return out.Fields, optional(c.do(ctx, "GET", "/fields", nil, nil, &out))
}

func optional(err error) error {
	if errors.Is(err, crm.ErrNotFound) {
		return nil
	}
	return err
}

// NormalizePhone returns +digits for a number of 10 to 15 digits (Russian
// 8XXXXXXXXXX and 9XXXXXXXXX become +7XXXXXXXXXX), the digits as they are
// for shorter ones, and "" when there are none.
func NormalizePhone(phone string) string {
	var b strings.Builder
	for _, r := range phone {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	switch {
	case d == "":
		return ""
	case len(d) == 11 && d[0] == '8':
		return "+7" + d[1:]
	case len(d) >= 10 && len(d) <= 15:
		if len(d) == 10 && d[0] == '9' && !strings.HasPrefix(strings.TrimSpace(phone), "+") {
			return "+7" + d // a Russian mobile typed without the country code
		}
		return "+" + d
	}
	return d
}
