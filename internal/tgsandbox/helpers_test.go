package tgsandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type env struct {
	t     *testing.T
	s     *Server
	ts    *httptest.Server
	clock *ManualClock
}

// newEnv starts a sandbox with a manual clock, tiny webhook back-off and
// default limits (callers lift them when a test is not about flood control).
func newEnv(t *testing.T, limits *Limits) *env {
	t.Helper()
	clock := NewManualClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	if limits == nil {
		l := NoLimits()
		limits = &l
	}
	s := New(Options{Clock: clock, Limits: limits, WebhookRetryMin: 5 * time.Millisecond, WebhookRetryMax: 20 * time.Millisecond, WebhookTimeout: 2 * time.Second})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &env{t: t, s: s, ts: ts, clock: clock}
}

type apiResp struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
	status int
}

// call posts a JSON body to a Bot API method.
func (e *env) call(token, method string, body any) apiResp {
	e.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		e.t.Fatalf("marshal: %v", err)
	}
	return e.do(http.MethodPost, "/bot"+token+"/"+method, "application/json", bytes.NewReader(raw))
}

func (e *env) do(method, path, ct string, body io.Reader) apiResp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("do %s: %v", path, err)
	}
	defer resp.Body.Close()
	var r apiResp
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		e.t.Fatalf("decode %s: %v", path, err)
	}
	r.status = resp.StatusCode
	return r
}

// ok asserts success and decodes the result.
func (e *env) ok(r apiResp, into any) {
	e.t.Helper()
	if !r.OK {
		e.t.Fatalf("want ok, got %d %q", r.ErrorCode, r.Description)
	}
	if into != nil {
		if err := json.Unmarshal(r.Result, into); err != nil {
			e.t.Fatalf("decode result %s: %v", r.Result, err)
		}
	}
}

func (e *env) fails(r apiResp, code int, desc string) {
	e.t.Helper()
	if r.OK || r.ErrorCode != code || r.Description != desc || r.status != code {
		e.t.Fatalf("want %d %q, got ok=%v %d %q (http %d)", code, desc, r.OK, r.ErrorCode, r.Description, r.status)
	}
}

// started creates a bot and a user who has pressed /start.
func (e *env) started() (Bot, User) {
	e.t.Helper()
	b := e.s.CreateBot("help_bot", "Help")
	u := e.s.CreateUser("Alice", "alice")
	if _, err := e.s.SendCommand(u.ID, b.ID, "start", ""); err != nil {
		e.t.Fatalf("start: %v", err)
	}
	return b, u
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hook is a webhook receiver recording what it got.
type hook struct {
	mu      sync.Mutex
	updates []map[string]json.RawMessage
	secrets []string
	status  func(n int) int // status for the n-th request (0-based); nil = 200
	calls   int
	srv     *httptest.Server
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		n := h.calls
		h.calls++
		st := http.StatusOK
		if h.status != nil {
			st = h.status(n)
		}
		if st == http.StatusOK {
			var u map[string]json.RawMessage
			_ = json.NewDecoder(r.Body).Decode(&u)
			h.updates = append(h.updates, u)
			h.secrets = append(h.secrets, r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		}
		h.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.updates)
}

func (h *hook) snapshot() ([]map[string]json.RawMessage, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]json.RawMessage(nil), h.updates...), append([]string(nil), h.secrets...)
}
