// Package b24fake is an in-process Bitrix24 portal for tests: the REST
// methods the connector uses, served through an incoming-webhook URL, with
// state seeded from the documentation's examples (fixtures.go), state to
// inspect (deals, comments, calls), fault injection (down, request limit,
// revoked webhook) and outgoing events posted to a URL like the portal's
// outgoing webhook does.
package b24fake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default credentials of a fake portal.
const (
	UserID   = "1"
	Code     = "k9x2fakewebhookcode"
	AppToken = "51856fefc120afa4b628cc82d3935cce"
	Domain   = "some-domain.bitrix24.com"
	MemberID = "a223c6b3710f85df22e9377d6c4f7553"
)

// Call is one request the fake answered.
type Call struct {
	Method string
	Params map[string]any
}

// Comment is a timeline comment added through crm.timeline.comment.add.
type Comment struct {
	ID         int
	EntityType string
	EntityID   string
	Text       string
}

// Server is a fake portal.
type Server struct {
	srv *httptest.Server

	mu          sync.Mutex
	deals       map[string]map[string]any
	contacts    map[string]map[string]any
	comments    []Comment
	nextComment int
	nextMulti   int // ids of added multifield values
	defCategory map[string]any
	categories  []map[string]any
	statuses    []map[string]any
	users       []map[string]any
	dealFields  map[string]any
	ctFields    map[string]any
	calls       []Call
	down        bool
	limited     int
	revoked     bool
	pageSize    int
}

// New starts a fake portal seeded from the documentation's examples: deal
// 410 (contact 84, stage PREPARATION of pipeline 0), contact 84
// (+79161234567), pipelines 0 and 1 with their stages, users 1 and 7.
func New() *Server {
	s := &Server{deals: map[string]map[string]any{}, contacts: map[string]map[string]any{}, nextComment: 999, pageSize: 50}
	s.deals["410"] = result(DealGet410).(map[string]any)
	s.contacts["84"] = result(ContactGet84).(map[string]any)
	s.defCategory = result(DealCategoryDefault).(map[string]any)
	for _, v := range result(DealCategoryList).([]any) {
		s.categories = append(s.categories, v.(map[string]any))
	}
	for _, v := range result(StatusList).([]any) {
		s.statuses = append(s.statuses, v.(map[string]any))
	}
	for _, v := range result(UserGet).([]any) {
		s.users = append(s.users, v.(map[string]any))
	}
	s.dealFields = result(DealFields).(map[string]any)
	s.ctFields = result(ContactFields).(map[string]any)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func result(doc string) any {
	var env struct{ Result any }
	if err := json.Unmarshal([]byte(doc), &env); err != nil {
		panic("b24fake: fixture: " + err.Error())
	}
	return env.Result
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// WebhookURL is the incoming webhook a tenant would paste.
func (s *Server) WebhookURL() string { return s.srv.URL + "/rest/" + UserID + "/" + Code + "/" }

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// SetDown makes every call answer 503 with an HTML page (a portal being
// updated, or a proxy in front of it).
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// LimitNext makes the next n calls answer 503 QUERY_LIMIT_EXCEEDED.
func (s *Server) LimitNext(n int) { s.mu.Lock(); s.limited = n; s.mu.Unlock() }

// Revoke deletes the incoming webhook: calls answer 401 INVALID_CREDENTIALS.
func (s *Server) Revoke() { s.mu.Lock(); s.revoked = true; s.mu.Unlock() }

// SetPageSize changes the list page (Bitrix24's is 50) so tests can page
// small sets.
func (s *Server) SetPageSize(n int) { s.mu.Lock(); s.pageSize = n; s.mu.Unlock() }

// PutDeal adds or replaces a deal (members as crm.deal.get returns them).
func (s *Server) PutDeal(id string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := map[string]any{"ID": id, "CATEGORY_ID": "0", "STAGE_ID": "NEW", "OPPORTUNITY": "0.00", "ASSIGNED_BY_ID": "1"}
	for k, v := range fields {
		d[k] = v
	}
	s.deals[id] = d
}

// PutContact adds or replaces a contact.
func (s *Server) PutContact(id string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := map[string]any{"ID": id}
	for k, v := range fields {
		c[k] = v
	}
	s.contacts[id] = c
}

// Deal returns a copy of a deal, nil when there is none.
func (s *Server) Deal(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deals[id]
	if !ok {
		return nil
	}
	out := map[string]any{}
	for k, v := range d {
		out[k] = v
	}
	return out
}

// Contact returns a copy of a contact, nil when there is none.
func (s *Server) Contact(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[id]
	if !ok {
		return nil
	}
	raw, _ := json.Marshal(c)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// Comments returns the timeline comments added so far.
func (s *Server) Comments() []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Comment(nil), s.comments...)
}

// Calls returns the calls answered so far (faults included).
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// /rest/<user>/<code>/<method>[.json]
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/rest/"), "/")
	if len(parts) != 3 || r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, ErrMethodNotFound)
		return
	}
	method := strings.TrimSuffix(parts[2], ".json")
	params := map[string]any{}
	if body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20)); len(body) > 0 {
		if err := json.Unmarshal(body, &params); err != nil {
			writeJSON(w, http.StatusBadRequest, `{"error":"INVALID_REQUEST","error_description":"Invalid JSON"}`)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: method, Params: params})
	switch {
	case s.down:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")
		return
	case s.limited > 0:
		s.limited--
		writeJSON(w, http.StatusServiceUnavailable, ErrQueryLimit)
		return
	case parts[0] != UserID || parts[1] != Code:
		writeJSON(w, http.StatusUnauthorized, ErrNoAuthFound)
		return
	case s.revoked:
		writeJSON(w, http.StatusUnauthorized, ErrInvalidCredential)
		return
	}
	s.method(w, method, params)
}

// method answers one REST method; the caller holds s.mu.
func (s *Server) method(w http.ResponseWriter, method string, p map[string]any) {
	switch method {
	case "crm.deal.get":
		s.get(w, s.deals, param(p, "id"))
	case "crm.contact.get":
		s.get(w, s.contacts, param(p, "id"))
	case "crm.deal.update":
		id := str(param(p, "id"))
		d, ok := s.deals[id]
		if !ok {
			writeJSON(w, http.StatusBadRequest, ErrNotFound)
			return
		}
		fields, _ := param(p, "fields").(map[string]any)
		for k, v := range fields {
			d[strings.ToUpper(k)] = v
		}
		d["DATE_MODIFY"] = time.Now().Format(time.RFC3339)
		writeJSON(w, http.StatusOK, DealUpdateOK)
	case "crm.contact.update":
		s.updateContact(w, p)
	case "crm.contact.list":
		filter, _ := param(p, "filter").(map[string]any)
		phone := str(param(filter, "PHONE"))
		var ids []string
		for id, c := range s.contacts {
			for _, ph := range multi(c["PHONE"]) {
				if phone == "" || ph == phone {
					ids = append(ids, id)
					break
				}
			}
		}
		sortIDs(ids)
		rows := make([]any, 0, len(ids))
		for _, id := range ids {
			rows = append(rows, s.contacts[id])
		}
		s.page(w, rows, param(p, "start"))
	case "crm.timeline.comment.add":
		fields, _ := param(p, "fields").(map[string]any)
		typ, id, text := str(param(fields, "ENTITY_TYPE")), str(param(fields, "ENTITY_ID")), str(param(fields, "COMMENT"))
		if _, ok := s.deals[id]; typ != "deal" || !ok || text == "" {
			writeJSON(w, http.StatusBadRequest, `{"error":"","error_description":"ENTITY_ID is not defined or invalid."}`)
			return
		}
		c := Comment{ID: s.nextComment, EntityType: typ, EntityID: id, Text: text}
		s.nextComment++
		s.comments = append(s.comments, c)
		writeJSON(w, http.StatusOK, strings.Replace(CommentAddOK, "999", strconv.Itoa(c.ID), 1))
	case "crm.dealcategory.default.get":
		writeResult(w, s.defCategory, nil)
	case "crm.dealcategory.list":
		rows := make([]any, 0, len(s.categories))
		for _, c := range s.categories {
			rows = append(rows, c)
		}
		s.page(w, rows, param(p, "start"))
	case "crm.status.list":
		filter, _ := param(p, "filter").(map[string]any)
		entity := str(param(filter, "ENTITY_ID"))
		var rows []any
		for _, st := range s.statuses {
			if entity == "" || st["ENTITY_ID"] == entity {
				rows = append(rows, st)
			}
		}
		s.page(w, rows, param(p, "start"))
	case "user.get":
		rows := make([]any, 0, len(s.users))
		for _, u := range s.users {
			rows = append(rows, u)
		}
		s.page(w, rows, param(p, "start"))
	case "crm.deal.fields":
		writeResult(w, s.dealFields, nil)
	case "crm.contact.fields":
		writeResult(w, s.ctFields, nil)
	default:
		writeJSON(w, http.StatusNotFound, ErrMethodNotFound)
	}
}

func (s *Server) get(w http.ResponseWriter, set map[string]map[string]any, id any) {
	key := str(id)
	if n, err := strconv.Atoi(key); err != nil || n <= 0 {
		writeJSON(w, http.StatusBadRequest, ErrIDNotDefined)
		return
	}
	row, ok := set[key]
	if !ok {
		writeJSON(w, http.StatusBadRequest, ErrNotFound)
		return
	}
	writeResult(w, row, nil)
}

// page answers a list method: 50 rows from start, "next" when more remain.
func (s *Server) page(w http.ResponseWriter, rows []any, start any) {
	from, _ := strconv.Atoi(str(start))
	if from < 0 || from > len(rows) {
		from = len(rows)
	}
	to := min(from+s.pageSize, len(rows))
	extra := map[string]any{"total": len(rows)}
	if to < len(rows) {
		extra["next"] = to
	}
	out := rows[from:to]
	if out == nil {
		out = []any{}
	}
	writeResult(w, out, extra)
}

func writeResult(w http.ResponseWriter, res any, extra map[string]any) {
	env := map[string]any{"result": res, "time": map[string]any{"start": 1725020945.5, "finish": 1725020945.6,
		"duration": 0.1, "processing": 0.05, "date_start": "2024-08-30T14:29:05+02:00",
		"date_finish": "2024-08-30T14:29:05+02:00", "operating_reset_at": 1725021545, "operating": 0}}
	for k, v := range extra {
		env[k] = v
	}
	b, _ := json.Marshal(env)
	writeJSON(w, http.StatusOK, string(b))
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// param reads a parameter whatever its case: the portal accepts id and ID.
func param(p map[string]any, name string) any {
	if v, ok := p[name]; ok {
		return v
	}
	for k, v := range p {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func multi(v any) []string {
	items, _ := v.([]any)
	var out []string
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, str(m["VALUE"]))
		}
	}
	return out
}

func sortIDs(ids []string) {
	sort.Slice(ids, func(a, b int) bool {
		x, _ := strconv.Atoi(ids[a])
		y, _ := strconv.Atoi(ids[b])
		return x < y
	})
}

// EventForm is an outgoing event as the portal posts it (see
// DealUpdateEvent): event, event_handler_id, data[FIELDS][ID], ts and auth.
func EventForm(event, id, token string, ts int64) url.Values {
	return url.Values{
		"event":                   {event},
		"event_handler_id":        {"5"},
		"data[FIELDS][ID]":        {id},
		"ts":                      {strconv.FormatInt(ts, 10)},
		"auth[domain]":            {Domain},
		"auth[client_endpoint]":   {"https://" + Domain + "/rest/"},
		"auth[server_endpoint]":   {"https://oauth.bitrix.info/rest/"},
		"auth[member_id]":         {MemberID},
		"auth[application_token]": {token},
	}
}

// Emit posts an outgoing event with the portal's application token to
// target (the platform's webhook endpoint) and returns the HTTP status.
func (s *Server) Emit(ctx context.Context, target, event, id string, ts int64) (int, error) {
	return Post(ctx, target, EventForm(event, id, AppToken, ts))
}

// Post posts a form (a forged or broken one, in tests) to target.
func Post(ctx context.Context, target string, form url.Values) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// multifieldTypes are the VALUE_TYPEs of PHONE
// (https://apidocs.bitrix24.com/api-reference/crm/data-types.html#crm_multifield).
var multifieldTypes = map[string]bool{"WORK": true, "MOBILE": true, "FAX": true, "HOME": true, "PAGER": true, "MAILING": true, "OTHER": true}

// updateContact is crm.contact.update
// (https://apidocs.bitrix24.com/api-reference/crm/contacts/crm-contact-update.html):
// an unknown id answers 400 "Not found"; a multifield item (PHONE, EMAIL)
// with an ID changes that value (an empty VALUE deletes it), one without
// ID is added; other fields are set when crm.contact.fields has them and
// are otherwise ignored, as the portal does. The caller holds s.mu.
func (s *Server) updateContact(w http.ResponseWriter, p map[string]any) {
	id := str(param(p, "id"))
	if n, err := strconv.Atoi(id); err != nil || n <= 0 {
		writeJSON(w, http.StatusBadRequest, ErrIDNotDefined)
		return
	}
	c, ok := s.contacts[id]
	if !ok {
		writeJSON(w, http.StatusBadRequest, ErrNotFound)
		return
	}
	fields, _ := param(p, "fields").(map[string]any)
	for k, v := range fields {
		k = strings.ToUpper(k)
		switch k {
		case "PHONE", "EMAIL":
			items, ok := v.([]any)
			if !ok {
				writeJSON(w, http.StatusBadRequest, `{"error":"","error_description":"Invalid multifield value."}`)
				return
			}
			for _, it := range items {
				m, _ := it.(map[string]any)
				if t := str(m["VALUE_TYPE"]); t != "" && !multifieldTypes[t] {
					writeJSON(w, http.StatusBadRequest, `{"error":"","error_description":"Invalid VALUE_TYPE."}`)
					return
				}
			}
		}
	}
	for k, v := range fields {
		k = strings.ToUpper(k)
		switch {
		case k == "PHONE" || k == "EMAIL":
			cur, _ := c[k].([]any)
			for _, it := range v.([]any) {
				m, _ := it.(map[string]any)
				if mid := str(m["ID"]); mid != "" {
					var kept []any
					for _, old := range cur {
						om := old.(map[string]any)
						if str(om["ID"]) != mid {
							kept = append(kept, om)
						} else if val := str(m["VALUE"]); val != "" {
							om["VALUE"] = val
							kept = append(kept, om)
						}
					}
					cur = kept
					continue
				}
				typ := str(m["VALUE_TYPE"])
				if typ == "" {
					typ = "WORK"
				}
				s.nextMulti++
				cur = append(cur, map[string]any{"ID": strconv.Itoa(2000 + s.nextMulti), "VALUE_TYPE": typ, "VALUE": str(m["VALUE"]), "TYPE_ID": k})
			}
			c[k] = cur
			c["HAS_"+k] = map[bool]string{true: "Y", false: "N"}[len(cur) > 0]
		case s.ctFields[k] != nil && k != "ID":
			c[k] = v
		}
	}
	c["DATE_MODIFY"] = time.Now().Format(time.RFC3339)
	writeJSON(w, http.StatusOK, ContactUpdateOK)
}
