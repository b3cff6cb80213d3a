package tgsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func updateText(t *testing.T, u map[string]json.RawMessage) string {
	t.Helper()
	var m tgMessage
	if err := json.Unmarshal(u["message"], &m); err != nil {
		t.Fatalf("decode message: %v", err)
	}
	return m.Text
}

func TestWebhookDeliveryWithSecretInOrder(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	h := newHook(t)
	e.ok(e.call(b.Token, "setWebhook", map[string]any{"url": h.srv.URL, "secret_token": "s3cr-et_", "max_connections": 1}), nil)
	for i := range 20 {
		if _, err := e.s.SendText(u.ID, b.ID, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "21 deliveries", func() bool { return h.count() == 21 })
	ups, secrets := h.snapshot()
	var last int64
	for i, up := range ups {
		var id int64
		_ = json.Unmarshal(up["update_id"], &id)
		if id <= last {
			t.Fatalf("update %d id %d after %d: out of order", i, id, last)
		}
		last = id
		if secrets[i] != "s3cr-et_" {
			t.Fatalf("secret header = %q", secrets[i])
		}
	}
	if got := updateText(t, ups[0]); got != "/start" {
		t.Fatalf("first update text %q", got)
	}
	if got := updateText(t, ups[20]); got != "m19" {
		t.Fatalf("last update text %q", got)
	}
	// The receiver records an update before the sandbox sees the 200, so poll.
	var info tgWebhookInfo
	eventually(t, "no pending updates", func() bool {
		e.ok(e.call(b.Token, "getWebhookInfo", nil), &info)
		return info.PendingUpdateCount == 0
	})
	if info.URL != h.srv.URL || info.MaxConnections != 1 || info.LastErrorMessage != "" {
		t.Fatalf("info = %+v", info)
	}
}

func TestWebhookRetriesAndReportsErrors(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	h := newHook(t)
	h.status = func(n int) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	e.ok(e.call(b.Token, "setWebhook", map[string]any{"url": h.srv.URL}), nil)
	eventually(t, "delivery after retries", func() bool { return h.count() == 1 })
	var info tgWebhookInfo
	e.ok(e.call(b.Token, "getWebhookInfo", nil), &info)
	if info.LastErrorMessage != "Wrong response from the webhook: 503 Service Unavailable" || info.LastErrorDate != e.clock.Now().Unix() {
		t.Fatalf("info = %+v", info)
	}
	// Refused connections are reported the way Telegram words them, and kept pending.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	e.ok(e.call(b.Token, "setWebhook", map[string]any{"url": deadURL}), nil)
	if _, err := e.s.SendText(u.ID, b.ID, "lost?"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "connection refused reported", func() bool {
		e.ok(e.call(b.Token, "getWebhookInfo", nil), &info)
		return info.LastErrorMessage == "Connection refused" && info.PendingUpdateCount == 1
	})
	// Pointing the webhook back at a live receiver delivers the kept update.
	e.ok(e.call(b.Token, "setWebhook", map[string]any{"url": h.srv.URL}), nil)
	eventually(t, "kept update delivered", func() bool { return h.count() == 2 })
	ups, _ := h.snapshot()
	if got := updateText(t, ups[1]); got != "lost?" {
		t.Fatalf("text = %q", got)
	}
}

func TestWebhookMaxConnections(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	var mu sync.Mutex
	inFlight, peak, total := 0, 0, 0
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		total++
		peak = max(peak, inFlight)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer srv.Close()
	defer close(release)
	for i := range 9 {
		if _, err := e.s.SendText(u.ID, b.ID, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	e.ok(e.call(b.Token, "setWebhook", map[string]any{"url": srv.URL, "max_connections": 3}), nil)
	eventually(t, "3 in flight", func() bool { mu.Lock(); defer mu.Unlock(); return inFlight == 3 })
	time.Sleep(20 * time.Millisecond) // give a 4th connection a chance to (wrongly) open
	mu.Lock()
	defer mu.Unlock()
	if peak != 3 {
		t.Fatalf("peak in flight = %d, want 3", peak)
	}
}

func TestGetUpdatesAndWebhookExclusive(t *testing.T) {
	e := newEnv(t, nil)
	b, _ := e.started()
	h := newHook(t)
	e.ok(e.call(b.Token, "setWebhook", map[string]any{"url": h.srv.URL}), nil)
	e.fails(e.call(b.Token, "getUpdates", nil), 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
	e.ok(e.call(b.Token, "deleteWebhook", map[string]any{"drop_pending_updates": true}), nil)
	var ups []json.RawMessage
	e.ok(e.call(b.Token, "getUpdates", nil), &ups)
}

func TestSetWebhookValidation(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("v_bot", "V")
	tests := []struct {
		name string
		body map[string]any
		desc string
	}{
		{name: "secret with space", body: map[string]any{"url": "https://x.example/h", "secret_token": "a b"}, desc: "Bad Request: secret token contains unallowed characters"},
		{name: "secret too long", body: map[string]any{"url": "https://x.example/h", "secret_token": strings.Repeat("a", 257)}, desc: "Bad Request: secret token contains unallowed characters"},
		{name: "ftp", body: map[string]any{"url": "ftp://x.example/h"}, desc: "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"},
		{name: "ok", body: map[string]any{"url": "https://x.example/h", "secret_token": strings.Repeat("a", 256), "max_connections": 500, "allowed_updates": []string{"message"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.call(b.Token, "setWebhook", tc.body)
			if tc.desc != "" {
				e.fails(r, 400, tc.desc)
				return
			}
			e.ok(r, nil)
			if r.Description != "Webhook was set" {
				t.Fatalf("description %q", r.Description)
			}
			var info tgWebhookInfo
			e.ok(e.call(b.Token, "getWebhookInfo", nil), &info)
			if info.MaxConnections != 100 || len(info.AllowedUpdates) != 1 {
				t.Fatalf("info = %+v", info)
			}
		})
	}
}

func TestLongPollWakesOnUpdate(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": -1}), nil)
	var ups []json.RawMessage
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": 2, "timeout": 0}), &ups)
	done := make(chan apiResp, 1)
	go func() {
		// call uses t only on failure; do the request by hand to stay goroutine-safe.
		resp, err := http.Post(e.ts.URL+"/bot"+b.Token+"/getUpdates", "application/json", strings.NewReader(`{"offset":2,"timeout":10}`))
		if err != nil {
			done <- apiResp{}
			return
		}
		defer resp.Body.Close()
		var r apiResp
		_ = json.NewDecoder(resp.Body).Decode(&r)
		done <- r
	}()
	eventually(t, "poller waiting", func() bool { return e.s.CallCount(b.ID, "getUpdates") == 3 })
	start := time.Now()
	if _, err := e.s.SendText(u.ID, b.ID, "wake"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if !r.OK || time.Since(start) > 5*time.Second {
		t.Fatalf("long poll = %+v", r)
	}
	_ = json.Unmarshal(r.Result, &ups)
	if len(ups) != 1 {
		t.Fatalf("updates = %s", r.Result)
	}
}

func TestAllowedUpdatesFilter(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": -1, "allowed_updates": []string{"callback_query"}}), nil)
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": 2}), nil)
	if _, err := e.s.SendText(u.ID, b.ID, "filtered"); err != nil {
		t.Fatal(err)
	}
	var ups []json.RawMessage
	e.ok(e.call(b.Token, "getUpdates", nil), &ups)
	if len(ups) != 0 {
		t.Fatalf("message update delivered despite allowed_updates: %s", ups)
	}
}
