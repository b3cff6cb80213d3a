package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// GetDeal is crm.deal.get
// (https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-get.html).
// The pipeline is CATEGORY_ID ("0" is the default one), the stage STAGE_ID
// ("NEW", or "C1:NEW" in pipeline 1); custom fields (UF_CRM_*) go to Fields.
func (c *Client) GetDeal(ctx context.Context, id string) (crm.Deal, error) {
	if !validID(id) {
		return crm.Deal{}, fmt.Errorf("bitrix24: crm.deal.get: %w: id %q", crm.ErrNotFound, id)
	}
	env, err := c.call(ctx, "crm.deal.get", map[string]any{"id": id})
	if err != nil {
		return crm.Deal{}, err
	}
	var raw map[string]any
	if err := decode("crm.deal.get", env.Result, &raw); err != nil {
		return crm.Deal{}, err
	}
	return dealOf(raw), nil
}

func dealOf(raw map[string]any) crm.Deal {
	d := crm.Deal{
		ID:                str(raw["ID"]),
		Name:              str(raw["TITLE"]),
		PipelineID:        str(raw["CATEGORY_ID"]),
		StageID:           str(raw["STAGE_ID"]),
		ResponsibleUserID: str(raw["ASSIGNED_BY_ID"]),
		Fields:            customFields(raw),
	}
	if d.PipelineID == "" {
		d.PipelineID = "0"
	}
	d.Price, _ = strconv.ParseFloat(str(raw["OPPORTUNITY"]), 64)
	if cid := str(raw["CONTACT_ID"]); cid != "" && cid != "0" {
		d.ContactIDs = []string{cid}
	}
	if ids, ok := raw["CONTACT_IDS"].([]any); ok {
		d.ContactIDs = nil
		for _, v := range ids {
			d.ContactIDs = append(d.ContactIDs, str(v))
		}
	}
	d.UpdatedAt, _ = time.Parse(time.RFC3339, str(raw["DATE_MODIFY"]))
	return d
}

// GetContact is crm.contact.get
// (https://apidocs.bitrix24.com/api-reference/crm/contacts/crm-contact-get.html).
func (c *Client) GetContact(ctx context.Context, id string) (crm.Contact, error) {
	if !validID(id) {
		return crm.Contact{}, fmt.Errorf("bitrix24: crm.contact.get: %w: id %q", crm.ErrNotFound, id)
	}
	env, err := c.call(ctx, "crm.contact.get", map[string]any{"id": id})
	if err != nil {
		return crm.Contact{}, err
	}
	var raw map[string]any
	if err := decode("crm.contact.get", env.Result, &raw); err != nil {
		return crm.Contact{}, err
	}
	return contactOf(raw), nil
}

func contactOf(raw map[string]any) crm.Contact {
	name := strings.TrimSpace(strings.Join([]string{str(raw["NAME"]), str(raw["SECOND_NAME"]), str(raw["LAST_NAME"])}, " "))
	return crm.Contact{
		ID:     str(raw["ID"]),
		Name:   strings.Join(strings.Fields(name), " "),
		Phones: multi(raw["PHONE"]),
		Emails: multi(raw["EMAIL"]),
		Fields: customFields(raw),
	}
}

// multi reads a multifield (PHONE, EMAIL): [{"ID":"1","VALUE_TYPE":"WORK","VALUE":"+7...","TYPE_ID":"PHONE"}].
func multi(v any) []string {
	items, _ := v.([]any)
	var out []string
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			if s := str(m["VALUE"]); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// FindContactByPhone is crm.contact.list with filter[PHONE]
// (https://apidocs.bitrix24.com/api-reference/crm/contacts/crm-contact-list.html).
// Bitrix24 matches the stored value exactly, and portals hold numbers as
// typed (+79161234567, 79161234567, 89161234567): the number is tried as
// given and then in its other common spellings, one call each, until a
// contact is found.
func (c *Client) FindContactByPhone(ctx context.Context, phone string) (crm.Contact, error) {
	for _, p := range phoneVariants(phone) {
		var found *crm.Contact
		err := c.list(ctx, "crm.contact.list", map[string]any{
			"filter": map[string]any{"PHONE": p},
			"select": []string{"ID", "NAME", "SECOND_NAME", "LAST_NAME", "PHONE", "EMAIL", "UF_*"},
			"order":  map[string]string{"ID": "ASC"},
		}, 1, func(r json.RawMessage) error {
			var raw map[string]any
			if err := decode("crm.contact.list", r, &raw); err != nil {
				return err
			}
			ct := contactOf(raw)
			found = &ct
			return nil
		})
		if err != nil {
			return crm.Contact{}, err
		}
		if found != nil {
			return *found, nil
		}
	}
	return crm.Contact{}, fmt.Errorf("bitrix24: crm.contact.list: %w: no contact with that phone", crm.ErrNotFound)
}

// phoneVariants: the number as given, then +digits, digits, and for Russian
// numbers the 8-prefixed national form.
func phoneVariants(phone string) []string {
	phone = strings.TrimSpace(phone)
	var digits strings.Builder
	for _, r := range phone {
		if r >= '0' && r <= '9' {
			digits.WriteRune(r)
		}
	}
	d := digits.String()
	if d == "" {
		return nil
	}
	out := []string{phone}
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if len(d) == 11 && d[0] == '8' {
		d = "7" + d[1:]
	}
	add("+" + d)
	add(d)
	if len(d) == 11 && d[0] == '7' {
		add("8" + d[1:])
	}
	return out
}

// UpdateDeal is crm.deal.update
// (https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-update.html):
// ASSIGNED_BY_ID, STAGE_ID and custom fields by their UF_CRM_* names.
func (c *Client) UpdateDeal(ctx context.Context, u crm.DealUpdate) error {
	if !validID(u.DealID) {
		return fmt.Errorf("bitrix24: crm.deal.update: %w: deal id %q", crm.ErrInvalid, u.DealID)
	}
	fields := map[string]any{}
	for k, v := range u.Fields {
		fields[k] = v
	}
	if u.ResponsibleUserID != nil {
		fields["ASSIGNED_BY_ID"] = *u.ResponsibleUserID
	}
	if u.StageID != nil {
		fields["STAGE_ID"] = *u.StageID
	}
	if len(fields) == 0 {
		return nil
	}
	env, err := c.call(ctx, "crm.deal.update", map[string]any{
		"id":     u.DealID,
		"fields": fields,
		// Registering the change in the live feed lets people see our
		// robot's edits; the event ONCRMDEALUPDATE fires either way.
		"params": map[string]string{"REGISTER_SONET_EVENT": "Y"},
	})
	if err != nil {
		return err
	}
	var ok bool
	if err := decode("crm.deal.update", env.Result, &ok); err != nil || !ok {
		return fmt.Errorf("bitrix24: crm.deal.update: %w: result %s", crm.ErrInvalid, env.Result)
	}
	return nil
}

// AddNote is crm.timeline.comment.add
// (https://apidocs.bitrix24.com/api-reference/crm/timeline/comments/crm-timeline-comment-add.html).
func (c *Client) AddNote(ctx context.Context, n crm.Note) error {
	if !validID(n.DealID) || strings.TrimSpace(n.Text) == "" {
		return fmt.Errorf("bitrix24: crm.timeline.comment.add: %w: a deal id and a text", crm.ErrInvalid)
	}
	env, err := c.call(ctx, "crm.timeline.comment.add", map[string]any{
		"fields": map[string]any{"ENTITY_ID": n.DealID, "ENTITY_TYPE": "deal", "COMMENT": n.Text},
	})
	if err != nil {
		return err
	}
	var id json.Number
	if err := decode("crm.timeline.comment.add", env.Result, &id); err != nil {
		return err
	}
	return nil
}

// Pipelines are the deal categories with their stages: the default one
// (crm.dealcategory.default.get, id 0, stages of DEAL_STAGE), the others
// (crm.dealcategory.list, stages of DEAL_STAGE_<id>), stages from
// crm.status.list sorted by SORT. 2 + N calls; pipelines are few.
func (c *Client) Pipelines(ctx context.Context) ([]crm.Pipeline, error) {
	env, err := c.call(ctx, "crm.dealcategory.default.get", map[string]any{})
	if err != nil {
		return nil, err
	}
	var def map[string]any
	if err := decode("crm.dealcategory.default.get", env.Result, &def); err != nil {
		return nil, err
	}
	pipes := []crm.Pipeline{{ID: "0", Name: str(def["NAME"])}}
	err = c.list(ctx, "crm.dealcategory.list", map[string]any{
		"order":  map[string]string{"SORT": "ASC"},
		"select": []string{"ID", "NAME", "SORT"},
	}, 0, func(r json.RawMessage) error {
		var raw map[string]any
		if err := decode("crm.dealcategory.list", r, &raw); err != nil {
			return err
		}
		pipes = append(pipes, crm.Pipeline{ID: str(raw["ID"]), Name: str(raw["NAME"])})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range pipes {
		entity := "DEAL_STAGE"
		if pipes[i].ID != "0" {
			entity = "DEAL_STAGE_" + pipes[i].ID
		}
		type st struct {
			crm.Stage
			sort int
		}
		var stages []st
		err := c.list(ctx, "crm.status.list", map[string]any{
			"order":  map[string]string{"SORT": "ASC"},
			"filter": map[string]string{"ENTITY_ID": entity},
		}, 0, func(r json.RawMessage) error {
			var raw map[string]any
			if err := decode("crm.status.list", r, &raw); err != nil {
				return err
			}
			n, _ := strconv.Atoi(str(raw["SORT"]))
			stages = append(stages, st{crm.Stage{ID: str(raw["STATUS_ID"]), Name: str(raw["NAME"])}, n})
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.SliceStable(stages, func(a, b int) bool { return stages[a].sort < stages[b].sort })
		pipes[i].Stages = make([]crm.Stage, 0, len(stages))
		for _, s := range stages {
			pipes[i].Stages = append(pipes[i].Stages, s.Stage)
		}
	}
	return pipes, nil
}

// Users is user.get of the active users
// (https://apidocs.bitrix24.com/api-reference/user/user-get.html).
func (c *Client) Users(ctx context.Context) ([]crm.User, error) {
	var users []crm.User
	err := c.list(ctx, "user.get", map[string]any{"FILTER": map[string]any{"ACTIVE": true}}, 0, func(r json.RawMessage) error {
		var raw map[string]any
		if err := decode("user.get", r, &raw); err != nil {
			return err
		}
		name := strings.TrimSpace(str(raw["NAME"]) + " " + str(raw["LAST_NAME"]))
		users = append(users, crm.User{ID: str(raw["ID"]), Name: name, Email: str(raw["EMAIL"])})
		return nil
	})
	return users, err
}

// Fields are crm.deal.fields and crm.contact.fields
// (https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-fields.html):
// custom fields are named by their listLabel, standard ones by title.
func (c *Client) Fields(ctx context.Context) ([]crm.Field, error) {
	var out []crm.Field
	for _, e := range []struct{ method, entity string }{{"crm.deal.fields", "deal"}, {"crm.contact.fields", "contact"}} {
		env, err := c.call(ctx, e.method, map[string]any{})
		if err != nil {
			return nil, err
		}
		var raw map[string]struct {
			Type      string `json:"type"`
			Title     string `json:"title"`
			ListLabel string `json:"listLabel"`
		}
		if err := decode(e.method, env.Result, &raw); err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(raw))
		for id := range raw {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			f := raw[id]
			name := f.ListLabel
			if name == "" {
				name = f.Title
			}
			out = append(out, crm.Field{ID: id, Name: name, Type: f.Type, Entity: e.entity})
		}
	}
	return out, nil
}

// str renders a REST value: Bitrix24 sends numbers as strings, but not
// everywhere (ids in some answers are numbers).
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "Y"
		}
		return "N"
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

// customFields are the UF_CRM_* members of a deal or contact.
func customFields(raw map[string]any) map[string]any {
	var out map[string]any
	for k, v := range raw {
		if strings.HasPrefix(k, "UF_") {
			if out == nil {
				out = map[string]any{}
			}
			out[k] = v
		}
	}
	return out
}

// validID: Bitrix24 ids are positive integers; anything else would only
// cost a request to be told "Not found".
func validID(id string) bool {
	n, err := strconv.ParseUint(id, 10, 63)
	return err == nil && n > 0
}

var fieldNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// UpdateContact is crm.contact.update
// (https://apidocs.bitrix24.com/api-reference/crm/contacts/crm-contact-update.html):
// fields PHONE as a multifield list — an item without ID is added, the
// contact's other numbers stay — and custom fields by their UF_CRM_* names.
// The contact is read first (crm.contact.get) so that a number it has in
// another spelling is not added twice; MOBILE is the value type of a
// number shared from Telegram.
func (c *Client) UpdateContact(ctx context.Context, u crm.ContactUpdate) error {
	if !validID(u.ContactID) {
		return fmt.Errorf("bitrix24: crm.contact.update: %w: contact id %q", crm.ErrInvalid, u.ContactID)
	}
	fields := map[string]any{}
	for k, v := range u.Fields {
		if !fieldNameRe.MatchString(k) || strings.EqualFold(k, "PHONE") || strings.EqualFold(k, "EMAIL") || strings.EqualFold(k, "ID") {
			return fmt.Errorf("bitrix24: crm.contact.update: %w: field %q", crm.ErrInvalid, k)
		}
		fields[strings.ToUpper(k)] = v
	}
	if len(u.Phones) > 0 {
		ct, err := c.GetContact(ctx, u.ContactID)
		if err != nil {
			return err
		}
		var add []map[string]string
	next:
		for _, p := range u.Phones {
			if len(phoneVariants(p)) == 0 {
				return fmt.Errorf("bitrix24: crm.contact.update: %w: phone %q", crm.ErrInvalid, p)
			}
			for _, have := range ct.Phones {
				if samePhone(have, p) {
					continue next
				}
			}
			for _, a := range add {
				if samePhone(a["VALUE"], p) {
					continue next
				}
			}
			add = append(add, map[string]string{"VALUE": p, "VALUE_TYPE": "MOBILE"})
		}
		if len(add) > 0 {
			fields["PHONE"] = add
		}
	}
	if len(fields) == 0 {
		return nil
	}
	env, err := c.call(ctx, "crm.contact.update", map[string]any{
		"id":     u.ContactID,
		"fields": fields,
		"params": map[string]string{"REGISTER_SONET_EVENT": "Y"},
	})
	if err != nil {
		return err
	}
	var ok bool
	if err := decode("crm.contact.update", env.Result, &ok); err != nil || !ok {
		return fmt.Errorf("bitrix24: crm.contact.update: %w: result %s", crm.ErrInvalid, env.Result)
	}
	return nil
}

// samePhone compares the last ten digits (+7 916… and 8 916… are one
// number).
func samePhone(a, b string) bool {
	dig := func(s string) string {
		var d strings.Builder
		for _, r := range s {
			if r >= '0' && r <= '9' {
				d.WriteRune(r)
			}
		}
		out := d.String()
		if len(out) > 10 {
			out = out[len(out)-10:]
		}
		return out
	}
	x, y := dig(a), dig(b)
	return len(x) >= 7 && x == y
}
