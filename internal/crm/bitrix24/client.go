// Package bitrix24 is the crm.Connector for Bitrix24: REST calls through the
// portal's incoming webhook (https://<portal>/rest/<user>/<code>/<method>.json)
// and the portal's outgoing events (ONCRMDEALUPDATE and friends), which are
// accepted only with the application token Bitrix24 shows when the outgoing
// webhook is created. docs/connectors/bitrix24.md describes the setup.
//
// Vendor facts (https://apidocs.bitrix24.com): every method answers
// {"result": ..., "time": {...}} or {"error": "CODE", "error_description":
// "..."}; list methods page by 50 with "next"/"total"; the request limit is a
// leaky bucket of 50 requests draining 2/s per portal, answered with 503
// QUERY_LIMIT_EXCEEDED when full.
package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// Config is what a tenant admin enters: the incoming webhook URL (with the
// rights crm and user) and the application token of the outgoing webhook.
type Config struct {
	WebhookURL       string `json:"webhook_url"`
	ApplicationToken string `json:"application_token"`
}

// Client is one portal's connector. It is safe for concurrent use.
type Client struct {
	base     string // https://portal/rest/1/code/ (with the trailing slash)
	portal   string
	appToken string
	hc       *http.Client
	lim      crm.Limiter
}

var _ crm.Connector = (*Client)(nil)

// maxResponse caps what is read of one answer (crm.deal.fields of a portal
// with hundreds of custom fields is a few hundred KB).
const maxResponse = 8 << 20

// webhookPath is /rest/<user id>/<code>/ optionally followed by a sample
// method (the portal shows the URL as .../rest/1/abc123/profile.json).
var webhookPath = regexp.MustCompile(`^/rest/(\d+)/([A-Za-z0-9_]+)/?([a-z0-9_.]+)?$`)

// New validates cfg and returns a client. hc nil means a client with a 20 s
// timeout; lim nil means no spacing (tests only: production passes the
// shared Redis limiter, 2 requests/s per portal).
func New(cfg Config, hc *http.Client, lim crm.Limiter) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.WebhookURL))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: webhook_url must be https://<portal>/rest/<user>/<code>/", crm.ErrInvalid)
	}
	m := webhookPath.FindStringSubmatch(u.Path)
	if m == nil {
		return nil, fmt.Errorf("%w: webhook_url path must be /rest/<user>/<code>/", crm.ErrInvalid)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	return &Client{
		base:     u.Scheme + "://" + u.Host + "/rest/" + m[1] + "/" + m[2] + "/",
		portal:   u.Host,
		appToken: cfg.ApplicationToken,
		hc:       hc,
		lim:      lim,
	}, nil
}

// Kind is crm.Bitrix24.
func (c *Client) Kind() crm.Kind { return crm.Bitrix24 }

// Portal is the portal's host; the limiter key and the account id of events.
func (c *Client) Portal() string { return c.portal }

// envelope is every answer of the REST API.
type envelope struct {
	Result           json.RawMessage `json:"result"`
	Next             *int            `json:"next"`
	Total            *int            `json:"total"`
	Error            *string         `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// call POSTs params as JSON to method and decodes the envelope. The limiter
// key is the portal: Bitrix24 counts requests per portal, whichever webhook
// or app makes them.
func (c *Client) call(ctx context.Context, method string, params any) (envelope, error) {
	var env envelope
	if c.lim != nil {
		if err := c.lim.Wait(ctx, "bitrix24:"+c.portal); err != nil {
			return env, err
		}
	}
	body, err := json.Marshal(params)
	if err != nil {
		return env, fmt.Errorf("bitrix24: %s: encode: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+method+".json", bytes.NewReader(body))
	if err != nil {
		return env, fmt.Errorf("bitrix24: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return env, ctx.Err()
		}
		// The error text may carry the URL, which holds the webhook
		// code: name the method only.
		return env, fmt.Errorf("bitrix24: %s: %w: %s", method, crm.ErrUnavailable, redact(err.Error(), c.base))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return env, fmt.Errorf("bitrix24: %s: read: %w", method, crm.ErrUnavailable)
	}
	jsonErr := json.Unmarshal(raw, &env)
	if env.Error != nil || resp.StatusCode >= 300 || jsonErr != nil {
		return env, mapError(method, resp, env, jsonErr)
	}
	return env, nil
}

// mapError turns an error answer into the crm errors. Codes from
// https://apidocs.bitrix24.com/error-codes.html and the methods' pages.
func mapError(method string, resp *http.Response, env envelope, jsonErr error) error {
	code, desc := "", env.ErrorDescription
	if env.Error != nil {
		code = *env.Error
	}
	wrap := func(kind error) error {
		if code == "" && desc == "" {
			return fmt.Errorf("bitrix24: %s: %w (HTTP %d)", method, kind, resp.StatusCode)
		}
		return fmt.Errorf("bitrix24: %s: %w: %s %s", method, kind, code, desc)
	}
	switch strings.ToUpper(code) {
	case "QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT":
		return &crm.RateLimitedError{RetryAfter: retryAfter(resp)}
	case "EXPIRED_TOKEN", "INVALID_TOKEN", "NO_AUTH_FOUND", "INVALID_CREDENTIALS", "WRONG_AUTH_TYPE",
		"AUTHORIZATION_ERROR", "INSUFFICIENT_SCOPE", "ACCESS_DENIED", "USER_ACCESS_ERROR", "ALLOWED_ONLY_INTRANET_USER",
		"PAYMENT_REQUIRED":
		return wrap(crm.ErrUnauthorized)
	case "NOT_FOUND", "ERROR_NOT_FOUND", "OWNER_NOT_FOUND", "ENTITY_NOT_FOUND":
		return wrap(crm.ErrNotFound)
	case "INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER", "OVERLOAD_LIMIT", "PORTAL_DELETED":
		// OVERLOAD_LIMIT is a manual block lifted by Bitrix24 support:
		// retrying is all we can do, and health shows the error.
		return wrap(crm.ErrUnavailable)
	}
	// crm.deal.get and crm.contact.get answer an unknown id with an empty
	// code and "Not found" (HTTP 400).
	if strings.EqualFold(strings.TrimSpace(desc), "not found") {
		return wrap(crm.ErrNotFound)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &crm.RateLimitedError{RetryAfter: retryAfter(resp)}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return wrap(crm.ErrUnauthorized)
	case resp.StatusCode >= 500, jsonErr != nil:
		// A proxy's HTML page or a cut body: the portal is not answering.
		return wrap(crm.ErrUnavailable)
	}
	return wrap(crm.ErrInvalid)
}

func retryAfter(resp *http.Response) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

func redact(s, secret string) string { return strings.ReplaceAll(s, secret, "<webhook>/") }

// list calls a list method page by page (50 rows a page, "start" = the
// previous answer's "next") until no "next" or max rows.
func (c *Client) list(ctx context.Context, method string, params map[string]any, max int, each func(json.RawMessage) error) error {
	start := 0
	seen := 0
	for {
		p := map[string]any{}
		for k, v := range params {
			p[k] = v
		}
		if start > 0 {
			p["start"] = start
		}
		env, err := c.call(ctx, method, p)
		if err != nil {
			return err
		}
		var rows []json.RawMessage
		if err := json.Unmarshal(env.Result, &rows); err != nil {
			return fmt.Errorf("bitrix24: %s: decode: %w", method, crm.ErrUnavailable)
		}
		for _, r := range rows {
			if err := each(r); err != nil {
				return err
			}
			seen++
			if max > 0 && seen >= max {
				return nil
			}
		}
		if env.Next == nil || *env.Next <= start || len(rows) == 0 {
			return nil
		}
		start = *env.Next
	}
}

var errDecode = errors.New("unexpected answer")

func decode(method string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("bitrix24: %s: %w: %w", method, crm.ErrUnavailable, errDecode)
	}
	return nil
}
