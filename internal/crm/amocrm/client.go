// Package amocrm is the amoCRM (API v4) connector: webhooks in, lead and
// contact look-ups, lead updates and notes out, and the OAuth2 flow. It
// knows amoCRM's wire format and nothing about tenants or storage; the crm
// service keeps credentials, refreshes tokens and queues calls.
//
// Shapes follow amoCRM's documentation (the pages are named where used);
// the fake in amofake serves the same shapes from golden fixtures.
package amocrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// RatePerSecond is amoCRM's limit per account (7 requests a second).
const RatePerSecond = 7

// Options configure every amoCRM connector of a process.
type Options struct {
	// BaseURL, when set, replaces https://<account> for API and token
	// calls (tests point it at the fake). Empty in production.
	BaseURL string
	// AuthorizeURL is amoCRM's consent page (default
	// https://www.amocrm.ru/oauth).
	AuthorizeURL string
	// HTTPClient for OAuth calls (default: 15 s timeout).
	HTTPClient *http.Client
}

// Credentials are what an admin gives to connect with a long-lived token
// (or what an OAuth connector stores: the account only).
type Credentials struct {
	// Account is the account's domain, e.g. example.amocrm.ru.
	Account string `json:"account"`
	// Token is a long-lived token (amoCRM private integration); empty for
	// OAuth connectors, whose token comes from Deps.Tokens.
	Token string `json:"token,omitempty"`
}

var accountRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}\.(amocrm\.ru|amocrm\.com|kommo\.com)$`)

// ValidAccount reports whether account is an amoCRM account domain; no
// request is ever made to any other host.
func ValidAccount(account string) bool { return accountRe.MatchString(account) }

// Client is one account's connector.
type Client struct {
	creds Credentials
	deps  crm.Deps
	base  string
}

var _ crm.Connector = (*Client)(nil)

// Factory builds amoCRM connectors for the crm service's registry.
func Factory(o Options) crm.Factory {
	return func(raw []byte, deps crm.Deps) (crm.Connector, error) {
		var c Credentials
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("%w: credentials: %v", crm.ErrInvalid, err)
		}
		c.Account = strings.ToLower(strings.TrimSpace(c.Account))
		if !ValidAccount(c.Account) {
			return nil, fmt.Errorf("%w: account: must be an amoCRM domain such as example.amocrm.ru", crm.ErrInvalid)
		}
		if c.Token == "" && deps.Tokens == nil {
			return nil, fmt.Errorf("%w: token: a long-lived token is required (or connect by OAuth)", crm.ErrInvalid)
		}
		if deps.HTTPClient == nil {
			deps.HTTPClient = &http.Client{Timeout: 15 * time.Second}
		}
		base := "https://" + c.Account
		if o.BaseURL != "" {
			base = strings.TrimRight(o.BaseURL, "/")
		}
		return &Client{creds: c, deps: deps, base: base}, nil
	}
}

// Kind is crm.AmoCRM.
func (c *Client) Kind() crm.Kind { return crm.AmoCRM }

// ParseWebhook decodes a webhook of this account.
func (c *Client) ParseWebhook(_ context.Context, r crm.WebhookRequest) ([]crm.Event, error) {
	ct := strings.ToLower(r.ContentType)
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, fmt.Errorf("%w: content type %q", crm.ErrMalformed, r.ContentType)
	}
	return ParseWebhook(c.creds.Account, r.Body)
}

func (c *Client) token(ctx context.Context) (string, error) {
	if c.deps.Tokens != nil {
		return c.deps.Tokens.Token(ctx)
	}
	return c.creds.Token, nil
}

// problem is amoCRM's error body (application/problem+json), with the
// validation errors of a 400.
type problem struct {
	Title            string `json:"title"`
	Status           int    `json:"status"`
	Detail           string `json:"detail"`
	ValidationErrors []struct {
		Errors []struct {
			Code   string `json:"code"`
			Path   string `json:"path"`
			Detail string `json:"detail"`
		} `json:"errors"`
	} `json:"validation-errors"`
}

func (p problem) String() string {
	var b strings.Builder
	b.WriteString(p.Detail)
	for _, v := range p.ValidationErrors {
		for _, e := range v.Errors {
			fmt.Fprintf(&b, "; %s: %s", e.Path, e.Detail)
		}
	}
	return b.String()
}

var errNoContent = errors.New("amocrm: no content")

// do makes one API call: the account's rate limit first, then the request;
// a 401 with an OAuth token refreshes it and retries once.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("amocrm: %s %s: %w", method, path, err)
		}
	}
	refreshed := false
	for {
		if c.deps.Limiter != nil {
			if err := c.deps.Limiter.Wait(ctx, c.deps.LimitKey); err != nil {
				return fmt.Errorf("amocrm: rate limiter: %w", err)
			}
		}
		tok, err := c.token(ctx)
		if err != nil {
			return err
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return fmt.Errorf("amocrm: %s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := c.deps.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %s %s: %v", crm.ErrUnavailable, method, path, err)
		}
		raw, rerr := io.ReadAll(io.LimitReader(res.Body, 8<<20))
		res.Body.Close()
		if rerr != nil {
			return fmt.Errorf("%w: %s %s: read: %v", crm.ErrUnavailable, method, path, rerr)
		}
		if res.StatusCode == http.StatusUnauthorized && c.deps.Tokens != nil && !refreshed {
			refreshed = true
			if _, err := c.deps.Tokens.Refresh(ctx, tok); err != nil {
				return err
			}
			continue
		}
		return decode(method, path, res, raw, out)
	}
}

func decode(method, path string, res *http.Response, raw []byte, out any) error {
	var p problem
	switch code := res.StatusCode; {
	case code == http.StatusNoContent:
		return errNoContent
	case code >= 200 && code < 300:
		if out == nil || len(raw) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%w: %s %s: answer: %v", crm.ErrUnavailable, method, path, err)
		}
		return nil
	case code == http.StatusTooManyRequests:
		return &crm.RateLimitedError{RetryAfter: retryAfter(res.Header.Get("Retry-After"))}
	case code >= 500:
		return fmt.Errorf("%w: %s %s: status %d", crm.ErrUnavailable, method, path, code)
	}
	_ = json.Unmarshal(raw, &p)
	switch res.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %s %s: %d %s", crm.ErrUnauthorized, method, path, res.StatusCode, p.String())
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s %s", crm.ErrNotFound, method, path)
	default:
		return fmt.Errorf("%w: %s %s: %d %s", crm.ErrInvalid, method, path, res.StatusCode, p.String())
	}
}

func retryAfter(h string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 && n < 3600 {
		return time.Duration(n) * time.Second
	}
	return 0
}
