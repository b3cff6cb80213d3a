// Package amofake is an in-process amoCRM (API v4) for tests: an
// httptest-ready handler whose answers are the golden fixtures in testdata,
// copied from amoCRM's documentation, with the fake's state substituted:
//
//   - lead.json, leads_patch_response.json: leads-api
//     (https://www.amocrm.ru/developers/content/crm_platform/leads-api)
//   - contact.json, contacts_page.json: contacts-api
//     (https://www.amocrm.ru/developers/content/crm_platform/contacts-api)
//   - notes_response.json: events-and-notes
//     (https://www.amocrm.ru/developers/content/crm_platform/events-and-notes)
//   - pipelines.json: leads_pipelines
//     (https://www.amocrm.ru/developers/content/crm_platform/leads_pipelines)
//   - users.json: users-api
//     (https://www.amocrm.ru/developers/content/crm_platform/users-api)
//   - leads_custom_fields.json, contacts_custom_fields.json: custom-fields
//     (https://www.amocrm.ru/developers/content/crm_platform/custom-fields)
//   - token.json, error_oauth_400.json: OAuth step by step
//     (https://www.amocrm.ru/developers/content/oauth/step-by-step)
//   - error_401.json, error_400.json, error_404.json, error_429.json: API
//     errors (https://www.amocrm.ru/developers/content/crm_platform/error-codes)
//   - webhook_status.txt: a stage-change webhook
//     (https://www.amocrm.ru/developers/content/crm_platform/webhooks-format)
//
// State is inspectable (leads, notes, calls) and faults can be injected
// (down, 429, expired tokens, a revoked refresh token).
package amofake

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed testdata
var fixtures embed.FS

// Fixture returns a golden fixture by file name.
func Fixture(name string) []byte {
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		panic(err)
	}
	return b
}

func fixtureMap(name string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(Fixture(name), &m); err != nil {
		panic(fmt.Sprintf("amofake: fixture %s: %v", name, err))
	}
	return m
}

// Lead is a lead in the fake.
type Lead struct {
	ID                int64
	Name              string
	Price             float64
	StatusID          int64
	PipelineID        int64
	ResponsibleUserID int64
	Fields            map[int64][]any
	ContactIDs        []int64
	UpdatedAt         int64
}

// Contact is a contact in the fake.
type Contact struct {
	ID     int64
	Name   string
	Phones []string
	// PhoneCodes are the enum codes of Phones (WORK when missing).
	PhoneCodes []string
	Fields     map[int64][]any
}

// Note is a note added to a lead.
type Note struct {
	ID     int64
	LeadID int64
	Type   string
	Text   string
}

// Call is one request the fake answered.
type Call struct {
	Method, Path string
	Status       int
}

// Fake is the fake amoCRM account.
type Fake struct {
	mu        sync.Mutex
	leads     map[int64]*Lead
	contacts  map[int64]*Contact
	notes     []Note
	calls     []Call
	access    map[string]bool // access token -> valid
	refresh   map[string]bool // refresh token -> unused
	codes     map[string]bool
	nextID    int64
	down      bool
	limited   int // the next n API requests answer 429
	retryHdr  string
	fieldIDs  map[int64]bool
	extra     map[string][]any // entity path -> custom fields added by tests
	ClientID  string
	Secret    string
	Subdomain string
}

// New makes a fake account "example" (example.amocrm.ru) with the OAuth
// client client-1 / secret-1.
func New() *Fake {
	f := &Fake{leads: map[int64]*Lead{}, contacts: map[int64]*Contact{}, access: map[string]bool{},
		refresh: map[string]bool{}, codes: map[string]bool{}, nextID: 90_000_000, fieldIDs: map[int64]bool{}, extra: map[string][]any{},
		ClientID: "client-1", Secret: "secret-1", Subdomain: "example"}
	for _, name := range []string{"leads_custom_fields.json", "contacts_custom_fields.json"} {
		m := fixtureMap(name)
		for _, cf := range m["_embedded"].(map[string]any)["custom_fields"].([]any) {
			f.fieldIDs[int64(cf.(map[string]any)["id"].(float64))] = true
		}
	}
	return f
}

func (f *Fake) id() int64 { f.nextID++; return f.nextID }

// AddLead stores a lead.
func (f *Fake) AddLead(l Lead) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.Fields == nil {
		l.Fields = map[int64][]any{}
	}
	if l.UpdatedAt == 0 {
		l.UpdatedAt = time.Now().Unix()
	}
	f.leads[l.ID] = &l
}

// Lead returns a copy of a lead.
func (f *Fake) Lead(id int64) (Lead, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.leads[id]
	if !ok {
		return Lead{}, false
	}
	return *l, true
}

// AddContact stores a contact.
func (f *Fake) AddContact(c Contact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Fields == nil {
		c.Fields = map[int64][]any{}
	}
	f.contacts[c.ID] = &c
}

// Contact returns a copy of a contact.
func (f *Fake) Contact(id int64) (Contact, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.contacts[id]
	if !ok {
		return Contact{}, false
	}
	out := *c
	out.Phones = append([]string(nil), c.Phones...)
	out.PhoneCodes = append([]string(nil), c.PhoneCodes...)
	out.Fields = map[int64][]any{}
	for k, v := range c.Fields {
		out.Fields[k] = append([]any(nil), v...)
	}
	return out, true
}

// Notes returns the notes added so far.
func (f *Fake) Notes() []Note {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Note(nil), f.notes...)
}

// Calls returns the requests answered so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// IssueToken returns a valid access token (a long-lived token is one).
func (f *Fake) IssueToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := fmt.Sprintf("at-%d", f.id())
	f.access[t] = true
	return t
}

// NewCode returns a one-time authorization code.
func (f *Fake) NewCode() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := fmt.Sprintf("code-%d", f.id())
	f.codes[c] = true
	return c
}

// ExpireAccessTokens makes every access token issued so far answer 401.
func (f *Fake) ExpireAccessTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for t := range f.access {
		f.access[t] = false
	}
}

// RevokeRefreshTokens makes every refresh token issued so far invalid (the
// admin removed the integration).
func (f *Fake) RevokeRefreshTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for t := range f.refresh {
		f.refresh[t] = false
	}
}

// SetDown makes every request answer 503.
func (f *Fake) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// RateLimit makes the next n API requests answer 429 (with Retry-After
// when retryAfter is not empty).
func (f *Fake) RateLimit(n int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limited, f.retryHdr = n, retryAfter
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	ct := "application/hal+json"
	if status >= 400 {
		ct = "application/problem+json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	switch b := v.(type) {
	case []byte:
		_, _ = w.Write(b)
	default:
		_ = json.NewEncoder(w).Encode(v)
	}
}

// ServeHTTP answers the API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	f.serve(rec, r)
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: r.Method, Path: r.URL.Path, Status: rec.status})
	f.mu.Unlock()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/oauth2/access_token" && r.Method == http.MethodPost {
		f.token(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v4/") {
		writeJSON(w, 404, Fixture("error_404.json"))
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !f.access[tok] {
		writeJSON(w, 401, Fixture("error_401.json"))
		return
	}
	if f.limited > 0 {
		f.limited--
		if f.retryHdr != "" {
			w.Header().Set("Retry-After", f.retryHdr)
		}
		writeJSON(w, 429, Fixture("error_429.json"))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v4")
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/leads/") && isNumeric(path[len("/leads/"):]):
		f.getLead(w, path[len("/leads/"):])
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/contacts/") && isNumeric(path[len("/contacts/"):]):
		f.getContact(w, path[len("/contacts/"):])
	case r.Method == http.MethodGet && path == "/contacts":
		f.queryContacts(w, r.URL.Query().Get("query"))
	case r.Method == http.MethodPatch && path == "/leads":
		f.patchLeads(w, r)
	case r.Method == http.MethodPatch && path == "/contacts":
		f.patchContacts(w, r)
	case r.Method == http.MethodPost && path == "/leads/notes":
		f.addNotes(w, r)
	case r.Method == http.MethodGet && path == "/leads/pipelines":
		writeJSON(w, 200, Fixture("pipelines.json"))
	case r.Method == http.MethodGet && path == "/users":
		writeJSON(w, 200, Fixture("users.json"))
	case r.Method == http.MethodGet && (path == "/leads/custom_fields" || path == "/contacts/custom_fields"):
		f.customFields(w, r, strings.Split(path, "/")[1])
	default:
		writeJSON(w, 404, Fixture("error_404.json"))
	}
}

// AddCustomFields adds n text fields to entity ("leads" or "contacts"),
// as big accounts have (seed 000: 450).
func (f *Fake) AddCustomFields(entity string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		id := f.id()
		f.fieldIDs[id] = true
		f.extra[entity] = append(f.extra[entity], map[string]any{"id": id, "name": fmt.Sprintf("Поле %d", id), "type": "text",
			"account_id": 28805383, "code": nil, "sort": 600, "is_api_only": false, "enums": nil, "entity_type": entity})
	}
}

// customFields pages like amoCRM: limit (at most 250) and page; 204 past the end.
func (f *Fake) customFields(w http.ResponseWriter, r *http.Request, entity string) {
	m := fixtureMap(entity + "_custom_fields.json")
	emb := m["_embedded"].(map[string]any)
	all := append(emb["custom_fields"].([]any), f.extra[entity]...)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 250 {
		limit = 50
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	from := (page - 1) * limit
	if from >= len(all) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	to := min(from+limit, len(all))
	emb["custom_fields"] = all[from:to]
	m["_total_items"], m["_page"], m["_page_count"] = len(all), page, (len(all)+limit-1)/limit
	writeJSON(w, 200, m)
}

func isNumeric(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

func cfValues(fields map[int64][]any) any {
	if len(fields) == 0 {
		return nil
	}
	var out []any
	for id, vs := range fields {
		var vals []any
		for _, v := range vs {
			vals = append(vals, map[string]any{"value": v})
		}
		out = append(out, map[string]any{"field_id": id, "field_name": "", "field_code": nil, "field_type": "text", "values": vals})
	}
	return out
}
