package bots_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tgdesk/helpdesk/internal/auth"
)

// POST /bots/check shows what Telegram says about a token and stores
// nothing: no row, no webhook; it refuses what registering would refuse.
func TestCheckTokenBeforeConnecting(t *testing.T) {
	h := newHarness(t, nil)
	tenant, other := newTenant(t), newTenant(t)
	b := h.newBot("preview_bot", "Preview Desk")
	r := h.call(tenant, auth.RoleAdmin, http.MethodPost, "/api/v1/bots/check", map[string]string{"token": b.Token})
	if r.status != http.StatusOK || r.body["name"] != "Preview Desk" || r.body["username"] != "preview_bot" || r.body["id"] != float64(b.ID) {
		t.Fatalf("check: %d %s", r.status, r.raw)
	}
	if strings.Contains(r.raw, b.Token) {
		t.Fatal("the token came back")
	}
	if countBots(t, b.ID) != 0 || h.sandbox.CallCount(b.ID, "setWebhook") != 0 {
		t.Fatal("a check stored the bot or set its webhook")
	}

	taken := h.newBot("taken_preview_bot", "")
	if r := h.register(other, taken.Token); r.status != http.StatusCreated {
		t.Fatalf("setup: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"format", "12345:abc", 422, "invalid_token_format"},
		{"telegram refuses", "777778:" + strings.Repeat("a", 35), 422, "token_rejected"},
		{"another tenant's bot", taken.Token, 409, "bot_taken"},
	} {
		if r := h.call(tenant, auth.RoleAdmin, http.MethodPost, "/api/v1/bots/check", map[string]string{"token": tc.token}); r.status != tc.status || r.body["code"] != tc.code {
			t.Fatalf("%s: %d %s, want %d %s", tc.name, r.status, r.raw, tc.status, tc.code)
		}
	}
	if r := h.call(tenant, auth.RoleAgent, http.MethodPost, "/api/v1/bots/check", map[string]string{"token": b.Token}); r.status != http.StatusForbidden {
		t.Fatalf("agent check: %d", r.status)
	}
}
