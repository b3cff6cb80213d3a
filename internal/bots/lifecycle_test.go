package bots_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/bots"
)

// rotatingAPI lets a test present a "new" token for an existing sandbox bot
// (the sandbox cannot revoke tokens): the new token is translated to the
// bot's sandbox token on the way out.
type rotatingAPI struct {
	bots.TelegramAPI
	mu    sync.Mutex
	alias map[string]string
}

func (r *rotatingAPI) tr(token string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.alias[token]; ok {
		return t
	}
	return token
}

func (r *rotatingAPI) GetMe(ctx context.Context, token string) (bots.BotInfo, error) {
	return r.TelegramAPI.GetMe(ctx, r.tr(token))
}

func (r *rotatingAPI) SetWebhook(ctx context.Context, token string, w bots.WebhookParams) error {
	return r.TelegramAPI.SetWebhook(ctx, r.tr(token), w)
}

func (r *rotatingAPI) DeleteWebhook(ctx context.Context, token string) error {
	return r.TelegramAPI.DeleteWebhook(ctx, r.tr(token))
}

func TestReplaceTokenAndDelete(t *testing.T) {
	rot := &rotatingAPI{alias: map[string]string{}}
	h := newHarness(t, func(api bots.TelegramAPI) bots.TelegramAPI { rot.TelegramAPI = api; return rot })
	tenant := newTenant(t)
	b := h.newBot("rot_bot", "")
	other := h.newBot("other_bot", "")
	if r := h.register(tenant, b.Token); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	path := "/api/v1/bots/" + jsonNum(b.ID)
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO audit_log (tenant_id, actor, action) VALUES ($1, 'x', 'keep.me')", tenant); err != nil {
		t.Fatal(err)
	}
	newToken := jsonNum(b.ID) + ":" + strings.Repeat("N", 35)
	rot.alias[newToken] = b.Token

	cases := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"bad format", "nope", 422, "invalid_token_format"},
		{"another bot's token", other.Token, 422, "token_bot_mismatch"},
		{"same bot, Telegram refuses", jsonNum(b.ID) + ":" + strings.Repeat("R", 35), 422, "token_rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.call(tenant, auth.RoleAdmin, http.MethodPut, path+"/token", map[string]string{"token": tc.token})
			if r.status != tc.status || r.body["code"] != tc.code {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if tok, _ := h.svc.BotToken(context.Background(), b.ID); tok != b.Token {
				t.Fatal("refused replacement changed the token")
			}
		})
	}
	r := h.call(tenant, auth.RoleAdmin, http.MethodPut, path+"/token", map[string]string{"token": newToken})
	if r.status != http.StatusOK || r.body["id"].(float64) != float64(b.ID) {
		t.Fatalf("replace: %d %s", r.status, r.raw)
	}
	if tok, err := h.svc.BotToken(context.Background(), b.ID); err != nil || tok != newToken {
		t.Fatalf("token after replace: %v", err)
	}
	if strings.Contains(r.raw, newToken) {
		t.Fatal("response carries the token")
	}

	if r := h.call(tenant, auth.RoleAdmin, http.MethodDelete, path, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if countBots(t, b.ID) != 0 {
		t.Fatal("bot still stored")
	}
	if n := h.sandbox.CallCount(b.ID, "deleteWebhook"); n != 1 {
		t.Fatalf("deleteWebhook calls = %d", n)
	}
	if _, err := h.svc.BotToken(context.Background(), b.ID); err == nil {
		t.Fatal("token of a deleted bot still served")
	}
	if r := h.call(tenant, auth.RoleAdmin, http.MethodGet, path, nil); r.status != http.StatusNotFound {
		t.Fatalf("get deleted: %d", r.status)
	}
}

// Two processes: one serves webhooks from its cache, the other deletes the
// bot; the first stops serving it once the invalidation arrives, without
// waiting for the TTL.
func TestCacheInvalidationAcrossProcesses(t *testing.T) {
	h := newHarness(t, nil)
	tenant := newTenant(t)
	b := h.newBot("cache_bot", "")
	r := h.register(tenant, b.Token)
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	publicID := strings.TrimPrefix(r.body["webhook_url"].(string), "http://127.0.0.1:1/tg/")

	reader := bots.NewService(env.DB, env.Redis.Client, h.keys, nil, bots.Options{CacheTTL: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); reader.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-reader.Subscribed():
	case <-time.After(5 * time.Second):
		t.Fatal("never subscribed")
	}

	if _, err := reader.WebhookTarget(ctx, publicID); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.BotToken(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	// The cache answers without the database: the row is gone behind its back.
	if _, err := env.Owner.Exec(ctx, "UPDATE bots SET public_id = 'moved' WHERE id = $1", b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.WebhookTarget(ctx, publicID); err != nil {
		t.Fatalf("cached target: %v", err)
	}
	if _, err := env.Owner.Exec(ctx, "UPDATE bots SET public_id = $2 WHERE id = $1", b.ID, publicID); err != nil {
		t.Fatal(err)
	}

	if r := h.call(tenant, auth.RoleAdmin, http.MethodDelete, "/api/v1/bots/"+jsonNum(b.ID), nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := reader.WebhookTarget(ctx, publicID)
		if errors.Is(err, bots.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target still served after invalidation: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := reader.BotToken(ctx, b.ID); err == nil {
		t.Fatal("token still served after invalidation")
	}
	if _, err := reader.WebhookTarget(ctx, "never-existed"); !errors.Is(err, bots.ErrNotFound) {
		t.Fatalf("unknown public id: %v", err)
	}
}

// The full admin flow, with every log line and response searched for the
// token and the webhook secret.
func TestSecretsNeverLeak(t *testing.T) {
	rot := &rotatingAPI{alias: map[string]string{}}
	h := newHarness(t, func(api bots.TelegramAPI) bots.TelegramAPI { rot.TelegramAPI = api; return rot })
	tenant := newTenant(t)
	b := h.newBot("secret_bot", "")
	r := h.register(tenant, b.Token)
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d", r.status)
	}
	publicID := strings.TrimPrefix(r.body["webhook_url"].(string), "http://127.0.0.1:1/tg/")
	tgt, err := h.svc.WebhookTarget(context.Background(), publicID)
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/bots/" + jsonNum(b.ID)
	newToken := jsonNum(b.ID) + ":" + strings.Repeat("S", 35)
	rot.alias[newToken] = b.Token
	h.register(tenant, b.Token) // bot_exists
	h.call(tenant, auth.RoleAdmin, http.MethodGet, "/api/v1/bots", nil)
	h.call(tenant, auth.RoleAdmin, http.MethodGet, path, nil)
	h.call(tenant, auth.RoleAdmin, http.MethodGet, path+"/webhook", nil)
	h.call(tenant, auth.RoleAdmin, http.MethodPost, path+"/webhook", nil)
	h.call(tenant, auth.RoleAdmin, http.MethodPut, path+"/token", map[string]string{"token": jsonNum(b.ID) + ":" + strings.Repeat("Q", 35)})
	h.call(tenant, auth.RoleAdmin, http.MethodPut, path+"/token", map[string]string{"token": newToken})
	h.call(tenant, auth.RoleAdmin, http.MethodDelete, path, nil)

	logs := h.logs.String()
	if !strings.Contains(logs, "http request") {
		t.Fatal("the captured logger saw nothing")
	}
	for _, secret := range []string{b.Token, newToken, tgt.Secret, strings.Split(b.Token, ":")[1]} {
		if strings.Contains(logs, secret) {
			t.Fatal("a log line carries a secret")
		}
		for _, body := range h.bodies {
			if strings.Contains(body, secret) {
				t.Fatalf("a response carries a secret: %s", body)
			}
		}
	}
}
