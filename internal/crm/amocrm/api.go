package amocrm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// The API calls (amoCRM API v4), each shaped after the page named beside it.

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

// phoneValue is one value of the PHONE multitext field.
type phoneValue struct {
	Value    string `json:"value"`
	EnumCode string `json:"enum_code,omitempty"`
}

// contactField is an entry of a contact's custom_fields_values in a PATCH:
// by field_id, or by field_code for the predefined PHONE field.
type contactField struct {
	FieldID   int64  `json:"field_id,omitempty"`
	FieldCode string `json:"field_code,omitempty"`
	Values    any    `json:"values"`
}

type contactPatch struct {
	ID                 int64          `json:"id"`
	CustomFieldsValues []contactField `json:"custom_fields_values"`
}

// UpdateContact is PATCH /api/v4/contacts with a one-element array
// (https://www.amocrm.ru/developers/content/crm_platform/contacts-api#contacts-edit).
// amoCRM replaces a field's values with the ones sent, so adding a phone
// reads the contact first and sends its phones (with their enum codes)
// plus the new ones (enum MOB: a phone shared from Telegram is a mobile);
// a phone the contact has in any spelling is not added again.
func (c *Client) UpdateContact(ctx context.Context, u crm.ContactUpdate) error {
	id, err := parseID(u.ContactID, "contact id")
	if err != nil {
		return err
	}
	p := contactPatch{ID: id}
	if len(u.Phones) > 0 {
		var ct contact
		if err := c.do(ctx, http.MethodGet, "/api/v4/contacts/"+itoa(id), nil, &ct); err != nil {
			if errors.Is(err, errNoContent) {
				return crm.ErrNotFound
			}
			return err
		}
		var vals []phoneValue
		for _, f := range ct.CustomFieldsValues {
			if f.FieldCode != "PHONE" {
				continue
			}
			for _, v := range f.Values {
				s, _ := v.Value.(string)
				vals = append(vals, phoneValue{Value: s, EnumCode: v.EnumCode})
			}
		}
		added := false
	next:
		for _, ph := range u.Phones {
			if len(digits(ph)) < 7 {
				return fmt.Errorf("%w: phone %q", crm.ErrInvalid, ph)
			}
			for _, v := range vals {
				if samePhone(v.Value, ph) {
					continue next
				}
			}
			vals = append(vals, phoneValue{Value: ph, EnumCode: "MOB"})
			added = true
		}
		if added {
			p.CustomFieldsValues = append(p.CustomFieldsValues, contactField{FieldCode: "PHONE", Values: vals})
		}
	}
	for k, v := range u.Fields {
		fid, err := parseID(k, "field id")
		if err != nil {
			return err
		}
		var vals []fieldValue
		if vs, ok := v.([]any); ok {
			for _, x := range vs {
				vals = append(vals, fieldValue{Value: x})
			}
		} else {
			vals = []fieldValue{{Value: v}}
		}
		p.CustomFieldsValues = append(p.CustomFieldsValues, contactField{FieldID: fid, Values: vals})
	}
	if len(p.CustomFieldsValues) == 0 {
		return nil // nothing to change: the phones are there already
	}
	err = c.do(ctx, http.MethodPatch, "/api/v4/contacts", []contactPatch{p}, nil)
	if errors.Is(err, errNoContent) {
		return nil
	}
	return err
}
