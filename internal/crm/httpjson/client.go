// Package httpjson is the crm.Connector for a tenant's own system (1C and
// anything else) speaking the documented HTTP/JSON contract of
// docs/connectors/http-json.md: we call the tenant's endpoints under BaseURL
// with a bearer token (clients by phone or Telegram id, balance, visits,
// deals, notes). The other direction — the tenant pushing to us and pulling
// our events — is internal/crm/exchange.
package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// Config is what a tenant admin enters: the base URL of their endpoints,
// the bearer token we present, and (optional) the secret their system signs
// pushed webhooks with (X-Signature, see ParseWebhook).
type Config struct {
	BaseURL       string `json:"base_url"`
	Token         string `json:"token"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// Client calls one tenant's endpoints. It is safe for concurrent use.
type Client struct {
	base   string // without the trailing slash
	host   string
	token  string
	secret string
	hc     *http.Client
	lim    crm.Limiter
}

var _ crm.Connector = (*Client)(nil)

const maxResponse = 4 << 20

// New validates cfg: an absolute http(s) URL without query or credentials,
// and a token. hc nil means a 15 s timeout; lim nil means no spacing.
func New(cfg Config, hc *http.Client, lim crm.Limiter) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.BaseURL))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: base_url must be an absolute https URL without query", crm.ErrInvalid)
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, fmt.Errorf("%w: token is required", crm.ErrInvalid)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	return &Client{
		base:   strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		host:   u.Host,
		token:  cfg.Token,
		secret: cfg.WebhookSecret,
		hc:     hc,
		lim:    lim,
	}, nil
}

// Kind is crm.HTTPJSON.
func (c *Client) Kind() crm.Kind { return crm.HTTPJSON }

// do sends one request; in (non-nil) is the JSON body, out (non-nil) is
// decoded from a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	if c.lim != nil {
		if err := c.lim.Wait(ctx, "httpjson:"+c.host); err != nil {
			return err
		}
	}
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("httpjson: %s %s: encode: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("httpjson: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("httpjson: %s %s: %w: %v", method, path, crm.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("httpjson: %s %s: read: %w", method, path, crm.ErrUnavailable)
	}
	if resp.StatusCode >= 300 {
		return statusError(method, path, resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("httpjson: %s %s: %w: answer is not the documented JSON: %v", method, path, crm.ErrInvalid, err)
		}
	}
	return nil
}

// statusError maps the contract's statuses (docs/connectors/http-json.md,
// "Errors") to crm errors; the body's detail, when the tenant sends a
// problem, goes into the message.
func statusError(method, path string, resp *http.Response, raw []byte) error {
	var p struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
	}
	_ = json.Unmarshal(raw, &p)
	detail := p.Detail
	if detail == "" {
		detail = p.Title
	}
	wrap := func(kind error) error {
		return fmt.Errorf("httpjson: %s %s: %w (HTTP %d) %s", method, path, kind, resp.StatusCode, detail)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &crm.RateLimitedError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return wrap(crm.ErrUnauthorized)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return wrap(crm.ErrNotFound)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return wrap(crm.ErrUnavailable)
	}
	return wrap(crm.ErrInvalid)
}

// retryAfter reads seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// seg escapes an id as one path segment.
func seg(id string) string { return url.PathEscape(id) }
