// Package amocrm is the amoCRM (API v4) connector: webhooks in, lead and
// contact look-ups, lead updates and notes out, and the OAuth2 flow. It
// knows amoCRM's wire format and nothing about tenants or storage; the crm
// service keeps credentials, refreshes tokens and queues calls.
//
// Shapes follow amoCRM's documentation (the pages are named where used);
// the fake in amofake serves the same shapes from golden fixtures.
package amocrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// RatePerSecond is amoCRM's limit per account (7 requests a second).
const RatePerSecond = 7

// Options configure every amoCRM connector of a process.
type Options struct {
	// BaseURL, when set, replaces https://<account> for API and token
	// calls (tests point it at the fake). Empty in production.
	BaseURL string
	// AuthorizeURL is amoCRM's consent page (default
	// https://www.amocrm.ru/oauth).
	AuthorizeURL string
	// HTTPClient for OAuth calls (default: 15 s timeout).
	HTTPClient *http.Client
}

// Credentials are what an admin gives to connect with a long-lived token
// (or what an OAuth connector stores: the account only).
type Credentials struct {
	// Account is the account's domain, e.g. example.amocrm.ru.
	Account string `json:"account"`
	// Token is a long-lived token (amoCRM private integration); empty for
	// OAuth connectors, whose token comes from Deps.Tokens.
	Token string `json:"token,omitempty"`
}

var accountRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}\.(amocrm\.ru|amocrm\.com|kommo\.com)$`)

// ValidAccount reports whether account is an amoCRM account domain; no
// request is ever made to any other host.
func ValidAccount(account string) bool { return accountRe.MatchString(account) }

// Client is one account's connector.
type Client struct {
	creds Credentials
	deps  crm.Deps
	base  string
}

var _ crm.Connector = (*Client)(nil)

// Factory builds amoCRM connectors for the crm service's registry.
func Factory(o Options) crm.Factory {
	return func(raw []byte, deps crm.Deps) (crm.Connector, error) {
		var c Credentials
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("%w: credentials: %v", crm.ErrInvalid, err)
		}
		c.Account = strings.ToLower(strings.TrimSpace(c.Account))
		if !ValidAccount(c.Account) {
			return nil, fmt.Errorf("%w: account: must be an amoCRM domain such as example.amocrm.ru", crm.ErrInvalid)
		}
		if c.Token == "" && deps.Tokens == nil {
			return nil, fmt.Errorf("%w: token: a long-lived token is required (or connect by OAuth)", crm.ErrInvalid)
		}
		if deps.HTTPClient == nil {
			deps.HTTPClient = &http.Client{Timeout: 15 * time.Second}
		}
		base := "https://" + c.Account
		if o.BaseURL != "" {
			base = strings.TrimRight(o.BaseURL, "/")
		}
		return &Client{creds: c, deps: deps, base: base}, nil
	}
}

// Kind is crm.AmoCRM.
func (c *Client) Kind() crm.Kind { return crm.AmoCRM }

// ParseWebhook decodes a webhook of this account.
func (c *Client) ParseWebhook(_ context.Context, r crm.WebhookRequest) ([]crm.Event, error) {
	ct := strings.ToLower(r.ContentType)
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, fmt.Errorf("%w: content type %q", crm.ErrMalformed, r.ContentType)
	}
	return ParseWebhook(c.creds.Account, r.Body)
}

func (c *Client) token(ctx context.Context) (string, error) {
	if c.deps.Tokens != nil {
		return c.deps.Tokens.Token(ctx)
	}
	return c.creds.Token, nil
}

// problem is amoCRM's error body (application/problem+json), with the
// validation errors of a 400.
type problem struct {
	Title            string `json:"title"`
	Status           int    `json:"status"`
	Detail           string `json:"detail"`
	ValidationErrors []struct {
		Errors []struct {
			Code   string `json:"code"`
			Path   string `json:"path"`
			Detail string `json:"detail"`
		} `json:"errors"`
	} `json:"validation-errors"`
}

func (p problem) String() string {
	var b strings.Builder
	b.WriteString(p.Detail)
	for _, v := range p.ValidationErrors {
		for _, e := range v.Errors {
			fmt.Fprintf(&b, "; %s: %s", e.Path, e.Detail)
		}
	}
	return b.String()
}

var errNoContent = errors.New("amocrm: no content")

// do makes one API call: the account's rate limit first, then the request;
// a 401 with an OAuth token refreshes it and retries once.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("amocrm: %s %s: %w", method, path, err)
		}
	}
	refreshed := false
	for {
		if c.deps.Limiter != nil {
			if err := c.deps.Limiter.Wait(ctx, c.deps.LimitKey); err != nil {
				return fmt.Errorf("amocrm: rate limiter: %w", err)
			}
		}
		tok, err := c.token(ctx)
		if err != nil {
			return err
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return fmt.Errorf("amocrm: %s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := c.deps.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %s %s: %v", crm.ErrUnavailable, method, path, err)
		}
		raw, rerr := io.ReadAll(io.LimitReader(res.Body, 8<<20))
		res.Body.Close()
		if rerr != nil {
			return fmt.Errorf("%w: %s %s: read: %v", crm.ErrUnavailable, method, path, rerr)
		}
		if res.StatusCode == http.StatusUnauthorized && c.deps.Tokens != nil && !refreshed {
			refreshed = true
			if _, err := c.deps.Tokens.Refresh(ctx, tok); err != nil {
				return err
			}
			continue
		}
		return decode(method, path, res, raw, out)
	}
}

func decode(method, path string, res *http.Response, raw []byte, out any) error {
	var p problem
	switch code := res.StatusCode; {
	case code == http.StatusNoContent:
		return errNoContent
	case code >= 200 && code < 300:
		if out == nil || len(raw) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%w: %s %s: answer: %v", crm.ErrUnavailable, method, path, err)
		}
		return nil
	case code == http.StatusTooManyRequests:
		return &crm.RateLimitedError{RetryAfter: retryAfter(res.Header.Get("Retry-After"))}
	case code >= 500:
		return fmt.Errorf("%w: %s %s: status %d", crm.ErrUnavailable, method, path, code)
	}
	_ = json.Unmarshal(raw, &p)
	switch res.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %s %s: %d %s", crm.ErrUnauthorized, method, path, res.StatusCode, p.String())
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s %s", crm.ErrNotFound, method, path)
	default:
		return fmt.Errorf("%w: %s %s: %d %s", crm.ErrInvalid, method, path, res.StatusCode, p.String())
	}
}

func retryAfter(h string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 && n < 3600 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// customField is one entry of custom_fields_values.
type customField struct {
	FieldID   int64  `json:"field_id"`
	FieldName string `json:"field_name,omitempty"`
	FieldCode string `json:"field_code,omitempty"`
	FieldType string `json:"field_type,omitempty"`
	Values    []struct {
		Value    any    `json:"value"`
		EnumID   int64  `json:"enum_id,omitempty"`
		EnumCode string `json:"enum_code,omitempty"`
	} `json:"values"`
}

func fieldsOf(cfs []customField) map[string]any {
	out := map[string]any{}
	for _, f := range cfs {
		id := strconv.FormatInt(f.FieldID, 10)
		switch len(f.Values) {
		case 0:
			out[id] = nil
		case 1:
			out[id] = f.Values[0].Value
		default:
			vs := make([]any, len(f.Values))
			for i, v := range f.Values {
				vs[i] = v.Value
			}
			out[id] = vs
		}
	}
	return out
}

// lead is GET /api/v4/leads/{id}
// (https://www.amocrm.ru/developers/content/crm_platform/leads-api).
type lead struct {
	ID                 int64         `json:"id"`
	Name               string        `json:"name"`
	Price              float64       `json:"price"`
	ResponsibleUserID  int64         `json:"responsible_user_id"`
	StatusID           int64         `json:"status_id"`
	PipelineID         int64         `json:"pipeline_id"`
	UpdatedAt          int64         `json:"updated_at"`
	CustomFieldsValues []customField `json:"custom_fields_values"`
	Embedded           struct {
		Contacts []struct {
			ID int64 `json:"id"`
		} `json:"contacts"`
	} `json:"_embedded"`
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func parseID(s, what string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: %s %q is not an amoCRM id", crm.ErrInvalid, what, s)
	}
	return n, nil
}

// GetDeal fetches a lead with its contacts.
func (c *Client) GetDeal(ctx context.Context, id string) (crm.Deal, error) {
	n, err := parseID(id, "deal id")
	if err != nil {
		return crm.Deal{}, err
	}
	var l lead
	if err := c.do(ctx, http.MethodGet, "/api/v4/leads/"+itoa(n)+"?with=contacts", nil, &l); err != nil {
		if errors.Is(err, errNoContent) {
			return crm.Deal{}, crm.ErrNotFound
		}
		return crm.Deal{}, err
	}
	d := crm.Deal{ID: itoa(l.ID), Name: l.Name, Price: l.Price, PipelineID: itoa(l.PipelineID),
		StageID: itoa(l.StatusID), ResponsibleUserID: itoa(l.ResponsibleUserID),
		Fields: fieldsOf(l.CustomFieldsValues), UpdatedAt: time.Unix(l.UpdatedAt, 0).UTC()}
	for _, ct := range l.Embedded.Contacts {
		d.ContactIDs = append(d.ContactIDs, itoa(ct.ID))
	}
	return d, nil
}

// contact is GET /api/v4/contacts/{id}
// (https://www.amocrm.ru/developers/content/crm_platform/contacts-api).
type contact struct {
	ID                 int64         `json:"id"`
	Name               string        `json:"name"`
	CustomFieldsValues []customField `json:"custom_fields_values"`
}

func (ct contact) view() crm.Contact {
	out := crm.Contact{ID: itoa(ct.ID), Name: ct.Name, Fields: fieldsOf(ct.CustomFieldsValues)}
	for _, f := range ct.CustomFieldsValues {
		for _, v := range f.Values {
			s, _ := v.Value.(string)
			switch f.FieldCode {
			case "PHONE":
				out.Phones = append(out.Phones, s)
			case "EMAIL":
				out.Emails = append(out.Emails, s)
			}
		}
	}
	return out
}

// GetContact fetches a contact.
func (c *Client) GetContact(ctx context.Context, id string) (crm.Contact, error) {
	n, err := parseID(id, "contact id")
	if err != nil {
		return crm.Contact{}, err
	}
	var ct contact
	if err := c.do(ctx, http.MethodGet, "/api/v4/contacts/"+itoa(n), nil, &ct); err != nil {
		if errors.Is(err, errNoContent) {
			return crm.Contact{}, crm.ErrNotFound
		}
		return crm.Contact{}, err
	}
	return ct.view(), nil
}

// digits keeps the digits of a phone number.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// samePhone compares the last ten digits (+7 916… and 8 916… are one
// number in Russia, where amoCRM accounts store both forms).
func samePhone(a, b string) bool {
	a, b = digits(a), digits(b)
	if len(a) < 7 || len(b) < 7 {
		return false
	}
	if len(a) > 10 {
		a = a[len(a)-10:]
	}
	if len(b) > 10 {
		b = b[len(b)-10:]
	}
	return a == b
}

// FindContactByPhone searches contacts (GET /api/v4/contacts?query=, 204
// when nothing matches) and returns the first whose phone is the number.
func (c *Client) FindContactByPhone(ctx context.Context, phone string) (crm.Contact, error) {
	d := digits(phone)
	if len(d) < 7 {
		return crm.Contact{}, fmt.Errorf("%w: phone %q", crm.ErrInvalid, phone)
	}
	q := d
	if len(q) > 10 {
		q = q[len(q)-10:]
	}
	var page struct {
		Embedded struct {
			Contacts []contact `json:"contacts"`
		} `json:"_embedded"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v4/contacts?query="+url.QueryEscape(q), nil, &page)
	if errors.Is(err, errNoContent) {
		return crm.Contact{}, crm.ErrNotFound
	}
	if err != nil {
		return crm.Contact{}, err
	}
	for _, ct := range page.Embedded.Contacts {
		v := ct.view()
		for _, p := range v.Phones {
			if samePhone(p, phone) {
				return v, nil
			}
		}
	}
	return crm.Contact{}, crm.ErrNotFound
}

type fieldValue struct {
	Value any `json:"value"`
}

type fieldUpdate struct {
	FieldID int64        `json:"field_id"`
	Values  []fieldValue `json:"values"`
}

type leadPatch struct {
	ID                 int64         `json:"id"`
	StatusID           int64         `json:"status_id,omitempty"`
	ResponsibleUserID  int64         `json:"responsible_user_id,omitempty"`
	CustomFieldsValues []fieldUpdate `json:"custom_fields_values,omitempty"`
}

// UpdateDeal is PATCH /api/v4/leads with a one-element array
// (https://www.amocrm.ru/developers/content/crm_platform/leads-api#leads-edit).
func (c *Client) UpdateDeal(ctx context.Context, u crm.DealUpdate) error {
	id, err := parseID(u.DealID, "deal id")
	if err != nil {
		return err
	}
	p := leadPatch{ID: id}
	if u.StageID != nil {
		if p.StatusID, err = parseID(*u.StageID, "stage id"); err != nil {
			return err
		}
	}
	if u.ResponsibleUserID != nil {
		if p.ResponsibleUserID, err = parseID(*u.ResponsibleUserID, "responsible user id"); err != nil {
			return err
		}
	}
	for k, v := range u.Fields {
		fid, err := parseID(k, "field id")
		if err != nil {
			return err
		}
		f := fieldUpdate{FieldID: fid}
		if vs, ok := v.([]any); ok {
			for _, x := range vs {
				f.Values = append(f.Values, fieldValue{Value: x})
			}
		} else {
			f.Values = []fieldValue{{Value: v}}
		}
		p.CustomFieldsValues = append(p.CustomFieldsValues, f)
	}
	return c.do(ctx, http.MethodPatch, "/api/v4/leads", []leadPatch{p}, nil)
}

// AddNote is POST /api/v4/leads/notes with a common note
// (https://www.amocrm.ru/developers/content/crm_platform/events-and-notes#notes-add).
func (c *Client) AddNote(ctx context.Context, n crm.Note) error {
	id, err := parseID(n.DealID, "deal id")
	if err != nil {
		return err
	}
	if strings.TrimSpace(n.Text) == "" {
		return fmt.Errorf("%w: note text is empty", crm.ErrInvalid)
	}
	body := []map[string]any{{"entity_id": id, "note_type": "common", "params": map[string]string{"text": n.Text}}}
	return c.do(ctx, http.MethodPost, "/api/v4/leads/notes", body, nil)
}

// Pipelines is GET /api/v4/leads/pipelines with each pipeline's statuses
// (https://www.amocrm.ru/developers/content/crm_platform/leads_pipelines).
func (c *Client) Pipelines(ctx context.Context) ([]crm.Pipeline, error) {
	var page struct {
		Embedded struct {
			Pipelines []struct {
				ID       int64  `json:"id"`
				Name     string `json:"name"`
				Embedded struct {
					Statuses []struct {
						ID   int64  `json:"id"`
						Name string `json:"name"`
					} `json:"statuses"`
				} `json:"_embedded"`
			} `json:"pipelines"`
		} `json:"_embedded"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v4/leads/pipelines", nil, &page); err != nil && !errors.Is(err, errNoContent) {
		return nil, err
	}
	out := []crm.Pipeline{}
	for _, p := range page.Embedded.Pipelines {
		pl := crm.Pipeline{ID: itoa(p.ID), Name: p.Name, Stages: []crm.Stage{}}
		for _, s := range p.Embedded.Statuses {
			pl.Stages = append(pl.Stages, crm.Stage{ID: itoa(s.ID), Name: s.Name})
		}
		out = append(out, pl)
	}
	return out, nil
}

// pageSize and maxPages bound the list calls (amoCRM pages by 250 at
// most; an account with 450 fields takes two pages).
const (
	pageSize = 250
	maxPages = 40
)

// Users is GET /api/v4/users, every page
// (https://www.amocrm.ru/developers/content/crm_platform/users-api).
func (c *Client) Users(ctx context.Context) ([]crm.User, error) {
	out := []crm.User{}
	for page := 1; page <= maxPages; page++ {
		var body struct {
			Embedded struct {
				Users []struct {
					ID    int64  `json:"id"`
					Name  string `json:"name"`
					Email string `json:"email"`
				} `json:"users"`
			} `json:"_embedded"`
		}
		err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v4/users?limit=%d&page=%d", pageSize, page), nil, &body)
		if errors.Is(err, errNoContent) {
			break
		}
		if err != nil {
			return nil, err
		}
		for _, u := range body.Embedded.Users {
			out = append(out, crm.User{ID: itoa(u.ID), Name: u.Name, Email: u.Email})
		}
		if len(body.Embedded.Users) < pageSize {
			break
		}
	}
	return out, nil
}

// Fields lists the custom fields of leads and contacts, every page
// (https://www.amocrm.ru/developers/content/crm_platform/custom-fields).
func (c *Client) Fields(ctx context.Context) ([]crm.Field, error) {
	out := []crm.Field{}
	for _, ent := range []struct{ path, entity string }{{"leads", "deal"}, {"contacts", "contact"}} {
		for page := 1; page <= maxPages; page++ {
			var body struct {
				Embedded struct {
					CustomFields []struct {
						ID   int64  `json:"id"`
						Name string `json:"name"`
						Type string `json:"type"`
					} `json:"custom_fields"`
				} `json:"_embedded"`
			}
			err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v4/%s/custom_fields?limit=%d&page=%d", ent.path, pageSize, page), nil, &body)
			if errors.Is(err, errNoContent) {
				break
			}
			if err != nil {
				return nil, err
			}
			for _, f := range body.Embedded.CustomFields {
				out = append(out, crm.Field{ID: itoa(f.ID), Name: f.Name, Type: f.Type, Entity: ent.entity})
			}
			if len(body.Embedded.CustomFields) < pageSize {
				break
			}
		}
	}
	return out, nil
}
