package tgsandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"syscall"
	"time"
)

var secretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

type webhookState struct {
	url           string
	secret        string
	maxConn       int
	lastErrorDate int64
	lastErrorMsg  string
	cancel        context.CancelFunc
	wake          chan struct{}
}

func (s *Server) setWebhook(_ context.Context, b *bot, p *params) (any, error) {
	rawURL := p.String("url")
	if p.Bool("drop_pending_updates") {
		b.updates = nil
	}
	var allowed []string
	hasAllowed, err := p.Decode("allowed_updates", &allowed)
	if err != nil {
		return nil, err
	}
	if rawURL == "" {
		s.stopWebhookLocked(b)
		return okResult{true, "Webhook is already deleted"}, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, badRequest("bad webhook: Failed to resolve host: Name or service not known")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, badRequest("bad webhook: An HTTPS URL must be provided for webhook")
	}
	secret := p.String("secret_token")
	if p.has("secret_token") && !secretRe.MatchString(secret) {
		return nil, badRequest("secret token contains unallowed characters")
	}
	maxConn, err := p.IntOr("max_connections", 40)
	if err != nil {
		return nil, err
	}
	// Telegram clamps max_connections into 1..100 instead of refusing.
	maxConn = min(max(maxConn, 1), 100)
	if hasAllowed {
		b.allowed = allowed
	}
	desc := "Webhook was set"
	if b.webhook != nil && b.webhook.url == rawURL {
		desc = "Webhook is already set"
	}
	s.stopWebhookLocked(b)
	s.startWebhookLocked(b, &webhookState{url: rawURL, secret: secret, maxConn: int(maxConn)})
	// A poller waiting in getUpdates must now fail with 409.
	s.wakePollersLocked(b)
	return okResult{true, desc}, nil
}

func (s *Server) deleteWebhook(_ context.Context, b *bot, p *params) (any, error) {
	if p.Bool("drop_pending_updates") {
		b.updates = nil
	}
	desc := "Webhook is already deleted"
	if b.webhook != nil {
		desc = "Webhook was deleted"
	}
	s.stopWebhookLocked(b)
	return okResult{true, desc}, nil
}

type tgWebhookInfo struct {
	URL                  string   `json:"url"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	LastErrorDate        int64    `json:"last_error_date,omitempty"`
	LastErrorMessage     string   `json:"last_error_message,omitempty"`
	MaxConnections       int      `json:"max_connections,omitempty"`
	AllowedUpdates       []string `json:"allowed_updates,omitempty"`
}

func (s *Server) getWebhookInfo(_ context.Context, b *bot, _ *params) (any, error) {
	s.expireLocked(b)
	info := tgWebhookInfo{PendingUpdateCount: len(b.updates)}
	if wh := b.webhook; wh != nil {
		info.URL, info.MaxConnections = wh.url, wh.maxConn
		info.LastErrorDate, info.LastErrorMessage = wh.lastErrorDate, wh.lastErrorMsg
		info.AllowedUpdates = b.allowed
	}
	return info, nil
}

func (s *Server) startWebhookLocked(b *bot, wh *webhookState) {
	ctx, cancel := context.WithCancel(s.ctx)
	wh.cancel, wh.wake = cancel, make(chan struct{}, 1)
	b.webhook = wh
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runWebhook(ctx, b, wh)
	}()
}

func (s *Server) stopWebhookLocked(b *bot) {
	if b.webhook != nil {
		b.webhook.cancel()
		b.webhook = nil
	}
}

func (s *Server) wakeWebhookLocked(b *bot) {
	if b.webhook == nil {
		return
	}
	select {
	case b.webhook.wake <- struct{}{}:
	default:
	}
}

// runWebhook is the one dispatcher of a bot's webhook. It hands updates to
// deliveries in update_id order, at most maxConn at a time; an update waiting
// out its back-off holds back the ones behind it, as Telegram's queue does.
func (s *Server) runWebhook(ctx context.Context, b *bot, wh *webhookState) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := s.dispatchWebhook(ctx, b, wh)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-wh.wake:
		case <-timer.C:
		}
	}
}

// dispatchWebhook starts the deliveries that may start now and says how long
// to sleep if nothing else wakes the dispatcher.
func (s *Server) dispatchWebhook(ctx context.Context, b *bot, wh *webhookState) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.webhook != wh || ctx.Err() != nil {
		return time.Hour
	}
	s.expireLocked(b)
	inFlight := 0
	for _, u := range b.updates {
		if u.inFlight {
			inFlight++
		}
	}
	now := time.Now()
	for _, u := range b.updates {
		if u.inFlight {
			continue
		}
		if now.Before(u.notBefore) {
			return u.notBefore.Sub(now)
		}
		if inFlight >= wh.maxConn {
			break
		}
		if b.dropDeliveries > 0 {
			b.dropDeliveries--
			s.removeUpdateLocked(b, u)
			return 0 // the slice changed; rescan at once
		}
		u.inFlight = true
		inFlight++
		body := u.marshal()
		refuse := b.refuseWebhook
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.deliver(ctx, b, wh, u, body, refuse)
		}()
	}
	return time.Hour
}

func (s *Server) removeUpdateLocked(b *bot, u *update) {
	for i, x := range b.updates {
		if x == u {
			b.updates = append(b.updates[:i:i], b.updates[i+1:]...)
			return
		}
	}
}

// deliver posts one update and records the outcome.
func (s *Server) deliver(ctx context.Context, b *bot, wh *webhookState, u *update, body []byte, refuse bool) {
	errMsg := "Connection refused"
	if !refuse {
		errMsg = s.post(ctx, wh, body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u.inFlight = false
	switch {
	case ctx.Err() != nil:
		// Webhook replaced or server closing: the update stays pending, untouched.
	case errMsg == "":
		s.removeUpdateLocked(b, u)
	default:
		u.attempts++
		backoff := s.opts.WebhookRetryMin << min(u.attempts-1, 20)
		u.notBefore = time.Now().Add(min(backoff, s.opts.WebhookRetryMax))
		if b.webhook == wh {
			wh.lastErrorDate, wh.lastErrorMsg = s.clock.Now().Unix(), errMsg
		}
		s.log.Debug("tgsandbox: webhook delivery failed", "bot_id", b.ID, "update_id", u.id, "error", errMsg)
	}
	if b.webhook == wh {
		s.wakeWebhookLocked(b)
	}
}

// post sends the request and returns "" on success or Telegram's wording of the failure.
func (s *Server) post(ctx context.Context, wh *webhookState, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.url, bytes.NewReader(body))
	if err != nil {
		return "Failed to resolve host: Name or service not known"
	}
	req.Header.Set("Content-Type", "application/json")
	if wh.secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", wh.secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var netErr net.Error
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return "Connection refused"
		case errors.As(err, &netErr) && netErr.Timeout():
			return "Read timeout expired"
		default:
			return "Connection refused"
		}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Sprintf("Wrong response from the webhook: %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return ""
}
