package amofake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The handlers answer with the fixtures of fake.go, state filled in; they
// run under f.mu (held by serve).

func (f *Fake) getLead(w http.ResponseWriter, idStr string) {
	id, _ := strconv.ParseInt(idStr, 10, 64)
	l, ok := f.leads[id]
	if !ok {
		// amoCRM answers 204 No Content for an id it does not have.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	m := fixtureMap("lead.json")
	m["id"], m["name"], m["price"], m["status_id"], m["pipeline_id"] = l.ID, l.Name, l.Price, l.StatusID, l.PipelineID
	m["responsible_user_id"], m["updated_at"], m["custom_fields_values"] = l.ResponsibleUserID, l.UpdatedAt, cfValues(l.Fields)
	m["_links"] = map[string]any{"self": map[string]any{"href": fmt.Sprintf("https://%s.amocrm.ru/api/v4/leads/%d", f.Subdomain, l.ID)}}
	var cs []any
	for _, c := range l.ContactIDs {
		cs = append(cs, map[string]any{"id": c, "is_main": len(cs) == 0})
	}
	m["_embedded"].(map[string]any)["contacts"] = cs
	writeJSON(w, 200, m)
}

func (f *Fake) contactJSON(c *Contact) map[string]any {
	m := fixtureMap("contact.json")
	m["id"], m["name"] = c.ID, c.Name
	var cfs []any
	if len(c.Phones) > 0 {
		var vals []any
		for i, p := range c.Phones {
			code, enum := "WORK", 1
			if i < len(c.PhoneCodes) && c.PhoneCodes[i] != "" {
				code, enum = c.PhoneCodes[i], phoneEnums[c.PhoneCodes[i]]
			}
			vals = append(vals, map[string]any{"value": p, "enum_id": enum, "enum_code": code})
		}
		cfs = append(cfs, map[string]any{"field_id": 3, "field_name": "Телефон", "field_code": "PHONE", "field_type": "multitext", "values": vals})
	}
	for id, vs := range c.Fields {
		var vals []any
		for _, v := range vs {
			vals = append(vals, map[string]any{"value": v})
		}
		cfs = append(cfs, map[string]any{"field_id": id, "field_name": "", "field_code": nil, "field_type": "text", "values": vals})
	}
	m["custom_fields_values"] = cfs
	m["_links"] = map[string]any{"self": map[string]any{"href": fmt.Sprintf("https://%s.amocrm.ru/api/v4/contacts/%d", f.Subdomain, c.ID)}}
	return m
}

func (f *Fake) getContact(w http.ResponseWriter, idStr string) {
	id, _ := strconv.ParseInt(idStr, 10, 64)
	c, ok := f.contacts[id]
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, 200, f.contactJSON(c))
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// queryContacts searches like amoCRM's query: a substring of any field.
func (f *Fake) queryContacts(w http.ResponseWriter, q string) {
	var found []any
	for _, c := range f.contacts {
		hit := q != "" && strings.Contains(strings.ToLower(c.Name), strings.ToLower(q))
		for _, p := range c.Phones {
			if d := digits(q); d != "" && strings.Contains(digits(p), d) {
				hit = true
			}
		}
		if hit {
			found = append(found, f.contactJSON(c))
		}
	}
	if len(found) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	m := fixtureMap("contacts_page.json")
	m["_embedded"] = map[string]any{"contacts": found}
	writeJSON(w, 200, m)
}

func badRequest(w http.ResponseWriter, path, detail string) {
	m := fixtureMap("error_400.json")
	ve := m["validation-errors"].([]any)[0].(map[string]any)
	e := ve["errors"].([]any)[0].(map[string]any)
	e["path"], e["detail"] = path, detail
	writeJSON(w, 400, m)
}

func (f *Fake) patchLeads(w http.ResponseWriter, r *http.Request) {
	var body []struct {
		ID                 int64  `json:"id"`
		StatusID           *int64 `json:"status_id"`
		PipelineID         *int64 `json:"pipeline_id"`
		ResponsibleUserID  *int64 `json:"responsible_user_id"`
		CustomFieldsValues []struct {
			FieldID int64 `json:"field_id"`
			Values  []struct {
				Value any `json:"value"`
			} `json:"values"`
		} `json:"custom_fields_values"`
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &body); err != nil || len(body) == 0 || len(body) > 250 {
		badRequest(w, "", "The body must be a JSON array of 1 to 250 leads.")
		return
	}
	// Validate everything first: amoCRM applies nothing from a request it refuses.
	for i, b := range body {
		if _, ok := f.leads[b.ID]; !ok {
			badRequest(w, fmt.Sprintf("%d.id", i), "Lead not found.")
			return
		}
		for j, cf := range b.CustomFieldsValues {
			if !f.fieldIDs[cf.FieldID] {
				badRequest(w, fmt.Sprintf("custom_fields_values.%d.field_id", j), "The value you selected is not a valid choice.")
				return
			}
		}
	}
	now := time.Now().Unix()
	var out []any
	for i, b := range body {
		l := f.leads[b.ID]
		if b.StatusID != nil {
			l.StatusID = *b.StatusID
		}
		if b.PipelineID != nil {
			l.PipelineID = *b.PipelineID
		}
		if b.ResponsibleUserID != nil {
			l.ResponsibleUserID = *b.ResponsibleUserID
		}
		for _, cf := range b.CustomFieldsValues {
			var vs []any
			for _, v := range cf.Values {
				vs = append(vs, v.Value)
			}
			l.Fields[cf.FieldID] = vs
		}
		l.UpdatedAt = now
		out = append(out, map[string]any{"id": l.ID, "updated_at": now, "request_id": strconv.Itoa(i),
			"_links": map[string]any{"self": map[string]any{"href": fmt.Sprintf("https://%s.amocrm.ru/api/v4/leads/%d", f.Subdomain, l.ID)}}})
	}
	m := fixtureMap("leads_patch_response.json")
	m["_embedded"] = map[string]any{"leads": out}
	writeJSON(w, 200, m)
}

func (f *Fake) addNotes(w http.ResponseWriter, r *http.Request) {
	var body []struct {
		EntityID int64  `json:"entity_id"`
		NoteType string `json:"note_type"`
		Params   struct {
			Text string `json:"text"`
		} `json:"params"`
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &body); err != nil || len(body) == 0 {
		badRequest(w, "", "The body must be a JSON array of notes.")
		return
	}
	for i, b := range body {
		if _, ok := f.leads[b.EntityID]; !ok {
			badRequest(w, fmt.Sprintf("%d.entity_id", i), "Entity not found.")
			return
		}
		if b.NoteType == "" || (b.NoteType == "common" && b.Params.Text == "") {
			badRequest(w, fmt.Sprintf("%d.params.text", i), "This value should not be blank.")
			return
		}
	}
	var out []any
	for i, b := range body {
		n := Note{ID: f.id(), LeadID: b.EntityID, Type: b.NoteType, Text: b.Params.Text}
		f.notes = append(f.notes, n)
		out = append(out, map[string]any{"id": n.ID, "entity_id": n.LeadID, "request_id": strconv.Itoa(i)})
	}
	m := fixtureMap("notes_response.json")
	m["_embedded"] = map[string]any{"notes": out}
	writeJSON(w, 200, m)
}

func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	raw, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(raw, &body)
	oauthErr := func() { writeJSON(w, 400, Fixture("error_oauth_400.json")) }
	if body["client_id"] != f.ClientID || body["client_secret"] != f.Secret || body["redirect_uri"] == "" {
		oauthErr()
		return
	}
	switch body["grant_type"] {
	case "authorization_code":
		if !f.codes[body["code"]] {
			oauthErr()
			return
		}
		delete(f.codes, body["code"])
	case "refresh_token":
		if !f.refresh[body["refresh_token"]] {
			oauthErr()
			return
		}
		f.refresh[body["refresh_token"]] = false // single use
	default:
		oauthErr()
		return
	}
	m := fixtureMap("token.json")
	at, rt := fmt.Sprintf("at-%d", f.id()), fmt.Sprintf("rt-%d", f.id())
	f.access[at], f.refresh[rt] = true, true
	m["access_token"], m["refresh_token"] = at, rt
	writeJSON(w, 200, m)
}

// phoneEnums are the PHONE field's enum codes and ids (the codes amoCRM
// documents for PHONE: WORK, WORKDD, MOB, FAX, HOME, OTHER).
var phoneEnums = map[string]int{"WORK": 1, "WORKDD": 3, "MOB": 5, "FAX": 7, "HOME": 9, "OTHER": 11}

// patchContacts is PATCH /api/v4/contacts
// (https://www.amocrm.ru/developers/content/crm_platform/contacts-api#contacts-edit):
// an array of contacts; a custom field is named by field_id or field_code,
// and the values sent replace the field's values (the PHONE multitext
// field included: phones not sent are removed).
func (f *Fake) patchContacts(w http.ResponseWriter, r *http.Request) {
	var body []struct {
		ID                 int64   `json:"id"`
		Name               *string `json:"name"`
		CustomFieldsValues []struct {
			FieldID   int64  `json:"field_id"`
			FieldCode string `json:"field_code"`
			Values    []struct {
				Value    any    `json:"value"`
				EnumCode string `json:"enum_code"`
			} `json:"values"`
		} `json:"custom_fields_values"`
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &body); err != nil || len(body) == 0 || len(body) > 250 {
		badRequest(w, "", "The body must be a JSON array of 1 to 250 contacts.")
		return
	}
	for i, b := range body {
		if _, ok := f.contacts[b.ID]; !ok {
			badRequest(w, fmt.Sprintf("%d.id", i), "Contact not found.")
			return
		}
		for j, cf := range b.CustomFieldsValues {
			switch {
			case cf.FieldCode == "PHONE" || cf.FieldID == 3:
				for k, v := range cf.Values {
					if _, ok := v.Value.(string); !ok {
						badRequest(w, fmt.Sprintf("custom_fields_values.%d.values.%d.value", j, k), "This value should be of type string.")
						return
					}
					if _, ok := phoneEnums[v.EnumCode]; v.EnumCode != "" && !ok {
						badRequest(w, fmt.Sprintf("custom_fields_values.%d.values.%d.enum_code", j, k), "The value you selected is not a valid choice.")
						return
					}
				}
			case cf.FieldCode != "":
				badRequest(w, fmt.Sprintf("custom_fields_values.%d.field_code", j), "The value you selected is not a valid choice.")
				return
			case !f.fieldIDs[cf.FieldID]:
				badRequest(w, fmt.Sprintf("custom_fields_values.%d.field_id", j), "The value you selected is not a valid choice.")
				return
			}
		}
	}
	now := time.Now().Unix()
	var out []any
	for i, b := range body {
		c := f.contacts[b.ID]
		if b.Name != nil {
			c.Name = *b.Name
		}
		for _, cf := range b.CustomFieldsValues {
			if cf.FieldCode == "PHONE" || cf.FieldID == 3 {
				c.Phones, c.PhoneCodes = nil, nil
				for _, v := range cf.Values {
					code := v.EnumCode
					if code == "" {
						code = "WORK"
					}
					c.Phones = append(c.Phones, v.Value.(string))
					c.PhoneCodes = append(c.PhoneCodes, code)
				}
				continue
			}
			var vs []any
			for _, v := range cf.Values {
				vs = append(vs, v.Value)
			}
			c.Fields[cf.FieldID] = vs
		}
		out = append(out, map[string]any{"id": c.ID, "name": c.Name, "updated_at": now, "request_id": strconv.Itoa(i),
			"_links": map[string]any{"self": map[string]any{"href": fmt.Sprintf("https://%s.amocrm.ru/api/v4/contacts/%d", f.Subdomain, c.ID)}}})
	}
	m := fixtureMap("contacts_patch_response.json")
	m["_embedded"] = map[string]any{"contacts": out}
	writeJSON(w, 200, m)
}
