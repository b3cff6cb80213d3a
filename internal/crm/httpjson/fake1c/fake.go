// Package fake1c is an in-process tenant system (a 1C HTTP service) that
// implements the endpoints of docs/connectors/http-json.md, for tests of
// the httpjson connector and of the doc's curl examples: state to seed and
// inspect, and faults (down, 429, wrong token).
package fake1c

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson"
)

// Token is the bearer token the fake accepts; BasePath is where its
// endpoints live (a 1C HTTP service publishes under /<base>/hs/<service>).
const (
	Token    = "1c-test-token"
	BasePath = "/clinic/hs/bot"
)

// Server is a fake tenant system.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	clients  map[string]httpjson.Client1C
	balances map[string]httpjson.Balance
	visits   map[string][]httpjson.Visit
	deals    map[string]crm.Deal
	notes    map[string][]string
	requests []string
	down     bool
	limited  int
}

// New starts a fake seeded with the doc's example client C-1001 (phone
// +79161234567, Telegram id 123456789), its balance and two visits, and
// deal D-77 in stage "new".
func New() *Server {
	s := &Server{
		clients: map[string]httpjson.Client1C{"C-1001": {ID: "C-1001", Name: "Anna Smirnova", Phones: []string{"+79161234567"},
			Emails: []string{"anna@example.com"}, TelegramID: 123456789, Fields: map[string]any{"card": "A-1001"}}},
		balances: map[string]httpjson.Balance{"C-1001": {ClientID: "C-1001", Amount: 1500, Bonus: 320, Currency: "RUB",
			UpdatedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}},
		visits: map[string][]httpjson.Visit{"C-1001": {
			{ID: "V-501", StartsAt: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC), Service: "Facial cleansing",
				Specialist: "Dr. Orlova", Location: "Tverskaya 12", Status: "planned", Price: 4500},
			{ID: "V-480", StartsAt: time.Date(2026, 2, 10, 11, 0, 0, 0, time.UTC), Service: "Consultation",
				Specialist: "Dr. Orlova", Location: "Tverskaya 12", Status: "done", Price: 0},
		}},
		deals: map[string]crm.Deal{"D-77": {ID: "D-77", Name: "Course of 5 procedures", Price: 22500, PipelineID: "main",
			StageID: "new", ResponsibleUserID: "u-2", ContactIDs: []string{"C-1001"},
			UpdatedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}},
		notes: map[string][]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+BasePath+"/clients", s.findClient)
	mux.HandleFunc("GET "+BasePath+"/clients/{id}", s.getClient)
	mux.HandleFunc("PATCH "+BasePath+"/clients/{id}", s.patchClient)
	mux.HandleFunc("GET "+BasePath+"/clients/{id}/balance", s.balance)
	mux.HandleFunc("GET "+BasePath+"/clients/{id}/visits", s.visitList)
	mux.HandleFunc("GET "+BasePath+"/deals/{id}", s.getDeal)
	mux.HandleFunc("PATCH "+BasePath+"/deals/{id}", s.patchDeal)
	mux.HandleFunc("POST "+BasePath+"/deals/{id}/notes", s.addNote)
	mux.HandleFunc("GET "+BasePath+"/pipelines", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"pipelines": []crm.Pipeline{{ID: "main", Name: "Procedures", Stages: []crm.Stage{
			{ID: "new", Name: "New"}, {ID: "booked", Name: "Booked"}, {ID: "done", Name: "Done"}}}}})
	})
	mux.HandleFunc("GET "+BasePath+"/users", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"users": []crm.User{{ID: "u-2", Name: "Olga Administrator", Email: "olga@example.com"}}})
	})
	s.srv = httptest.NewServer(s.guard(mux))
	return s
}

// BaseURL is what a tenant admin enters as the connector's base URL.
func (s *Server) BaseURL() string { return s.srv.URL + BasePath }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetDown makes every request answer 503.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// LimitNext makes the next n requests answer 429 with Retry-After: 2.
func (s *Server) LimitNext(n int) { s.mu.Lock(); s.limited = n; s.mu.Unlock() }

// PutClient adds or replaces a client.
func (s *Server) PutClient(k httpjson.Client1C) { s.mu.Lock(); s.clients[k.ID] = k; s.mu.Unlock() }

// Deal returns a deal as the fake holds it.
func (s *Server) Deal(id string) (crm.Deal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deals[id]
	return d, ok
}

// Notes returns the notes added to a deal.
func (s *Server) Notes(dealID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.notes[dealID]...)
}

// Requests returns "METHOD path?query" of every request answered.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		line := r.Method + " " + strings.TrimPrefix(r.URL.Path, BasePath)
		if r.URL.RawQuery != "" {
			line += "?" + r.URL.RawQuery
		}
		s.requests = append(s.requests, line)
		down, limited := s.down, s.limited > 0
		if limited {
			s.limited--
		}
		s.mu.Unlock()
		switch {
		case down:
			problem(w, 503, "unavailable", "The 1C service is being updated.")
		case limited:
			w.Header().Set("Retry-After", "2")
			problem(w, 429, "rate_limited", "Too many requests.")
		case r.Header.Get("Authorization") != "Bearer "+Token:
			problem(w, 401, "unauthorized", "Wrong or missing bearer token.")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) findClient(w http.ResponseWriter, r *http.Request) {
	phone, tg := r.URL.Query().Get("phone"), r.URL.Query().Get("telegram_id")
	if phone == "" && tg == "" {
		problem(w, 400, "invalid", "Pass phone or telegram_id.")
		return
	}
	tgID, _ := strconv.ParseInt(tg, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.clients {
		if tg != "" && k.TelegramID == tgID && tgID != 0 {
			reply(w, 200, k)
			return
		}
		for _, p := range k.Phones {
			if phone != "" && httpjson.NormalizePhone(p) == httpjson.NormalizePhone(phone) {
				reply(w, 200, k)
				return
			}
		}
	}
	problem(w, 404, "not_found", "No such client.")
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.clients[r.PathValue("id")]
	if !ok {
		problem(w, 404, "not_found", "No such client.")
		return
	}
	reply(w, 200, k)
}

// Client returns a client as the fake stores it.
func (s *Server) Client(id string) (httpjson.Client1C, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.clients[id]
	return k, ok
}

// patchClient is PATCH /clients/{id} (schema ClientUpdate): add_phones
// added where the client lacks them, fields set; 204.
func (s *Server) patchClient(w http.ResponseWriter, r *http.Request) {
	var u struct {
		AddPhones []string       `json:"add_phones"`
		Fields    map[string]any `json:"fields"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		problem(w, 400, "invalid", "Not a client update: "+err.Error())
		return
	}
	for _, p := range u.AddPhones {
		if n := httpjson.NormalizePhone(p); !strings.HasPrefix(n, "+") {
			problem(w, 400, "invalid", "add_phones: E.164 numbers, e.g. +79161234567.")
			return
		}
	}
	for k := range u.Fields {
		switch k {
		case "", "id", "name", "phones", "emails", "telegram_id":
			problem(w, 400, "invalid", "fields: custom fields only, not "+strconv.Quote(k)+".")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.clients[r.PathValue("id")]
	if !ok {
		problem(w, 404, "not_found", "No such client.")
		return
	}
	k.Phones = append([]string(nil), k.Phones...)
next:
	for _, p := range u.AddPhones {
		for _, have := range k.Phones {
			if httpjson.NormalizePhone(have) == httpjson.NormalizePhone(p) {
				continue next
			}
		}
		k.Phones = append(k.Phones, p)
	}
	if len(u.Fields) > 0 {
		f := map[string]any{}
		for n, v := range k.Fields {
			f[n] = v
		}
		for n, v := range u.Fields {
			f[n] = v
		}
		k.Fields = f
	}
	s.clients[k.ID] = k
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) balance(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.balances[r.PathValue("id")]
	if !ok {
		problem(w, 404, "not_found", "No such client.")
		return
	}
	reply(w, 200, b)
}

func (s *Server) visitList(w http.ResponseWriter, r *http.Request) {
	var from, to time.Time
	var err error
	if v := r.URL.Query().Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			problem(w, 400, "invalid", "from must be RFC 3339.")
			return
		}
	}
	if v := r.URL.Query().Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			problem(w, 400, "invalid", "to must be RFC 3339.")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := s.clients[id]; !ok {
		problem(w, 404, "not_found", "No such client.")
		return
	}
	out := []httpjson.Visit{}
	for _, v := range s.visits[id] {
		if (from.IsZero() || !v.StartsAt.Before(from)) && (to.IsZero() || v.StartsAt.Before(to)) {
			out = append(out, v)
		}
	}
	reply(w, 200, map[string]any{"visits": out})
}

func (s *Server) getDeal(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deals[r.PathValue("id")]
	if !ok {
		problem(w, 404, "not_found", "No such deal.")
		return
	}
	reply(w, 200, d)
}

func (s *Server) patchDeal(w http.ResponseWriter, r *http.Request) {
	var u struct {
		ResponsibleUserID *string        `json:"responsible_user_id"`
		StageID           *string        `json:"stage_id"`
		Fields            map[string]any `json:"fields"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		problem(w, 400, "invalid", "Not a deal update: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deals[r.PathValue("id")]
	if !ok {
		problem(w, 404, "not_found", "No such deal.")
		return
	}
	if u.ResponsibleUserID != nil {
		d.ResponsibleUserID = *u.ResponsibleUserID
	}
	if u.StageID != nil {
		d.StageID = *u.StageID
	}
	if len(u.Fields) > 0 && d.Fields == nil {
		d.Fields = map[string]any{}
	}
	for k, v := range u.Fields {
		d.Fields[k] = v
	}
	d.UpdatedAt = time.Now().UTC()
	s.deals[d.ID] = d
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) addNote(w http.ResponseWriter, r *http.Request) {
	var n struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil || strings.TrimSpace(n.Text) == "" {
		problem(w, 400, "invalid", "Send {\"text\": \"...\"}.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := s.deals[id]; !ok {
		problem(w, 404, "not_found", "No such deal.")
		return
	}
	s.notes[id] = append(s.notes[id], n.Text)
	reply(w, 201, map[string]any{"id": "N-" + strconv.Itoa(len(s.notes[id]))})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "code": code, "title": http.StatusText(status), "detail": detail})
}
