package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/tgdesk/helpdesk/internal/platform/logging"
)

// transportError is a call that got no Bot API answer. sent tells whether
// the request may have reached Telegram (written, or answered 5xx): such a
// call is ambiguous and is never repeated for bulk messages. Its text never
// holds the URL, which carries the token.
type transportError struct {
	sent   bool
	status int
	msg    string
}

func (e *transportError) Error() string { return e.msg }

// caller is the telego API caller shared by every bot: one pooled HTTP
// client, errors stripped of the URL, and a record of whether the request
// was written before it failed.
type caller struct{ c *http.Client }

var _ ta.Caller = caller{}

func (h caller) Call(ctx context.Context, u string, data *ta.RequestData) (*ta.Response, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
	var body io.Reader = data.BodyStream
	if data.BodyRaw != nil {
		body = bytes.NewReader(data.BodyRaw)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, u, body)
	if err != nil {
		return nil, &transportError{msg: "bot api: build request"}
	}
	req.Header.Set(ta.ContentTypeHeader, data.ContentType)
	resp, err := h.c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error's text holds the URL, and so the token
		}
		return nil, &transportError{sent: wrote.Load(), msg: "bot api: " + logging.Redact(err.Error())}
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, &transportError{sent: true, status: resp.StatusCode, msg: "bot api: read answer: " + logging.Redact(err.Error())}
	}
	var r ta.Response
	if json.Unmarshal(raw, &r) != nil || (!r.Ok && r.Error == nil) {
		return nil, &transportError{sent: true, status: resp.StatusCode, msg: fmt.Sprintf("bot api: http %d without a Bot API answer", resp.StatusCode)}
	}
	return &r, nil
}

// clients caches one telego bot per bot id, rebuilt when its token changes;
// tokens are re-read from the TokenSource after ttl and at once after a 401.
type clients struct {
	apiURL string
	caller caller
	tokens TokenSource
	ttl    time.Duration

	mu sync.Mutex
	m  map[int64]*client
}

// client is immutable once cached.
type client struct {
	token   string
	bot     *telego.Bot
	fetched time.Time
}

func newClients(o Options, tokens TokenSource) *clients {
	return &clients{apiURL: strings.TrimRight(o.APIURL, "/"), caller: caller{c: o.HTTPClient}, tokens: tokens, ttl: o.TokenTTL, m: map[int64]*client{}}
}

func (c *clients) get(ctx context.Context, botID int64) (*client, error) {
	c.mu.Lock()
	cur := c.m[botID]
	c.mu.Unlock()
	if cur != nil && time.Since(cur.fetched) < c.ttl {
		return cur, nil
	}
	token, err := c.tokens.BotToken(ctx, botID)
	if err != nil {
		return nil, fmt.Errorf("outbox: token of bot %d: %w", botID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A cached client is never mutated (senders read it without the lock):
	// a refresh stores a new value.
	if cur = c.m[botID]; cur != nil && cur.token == token {
		cur = &client{token: token, bot: cur.bot, fetched: time.Now()}
		c.m[botID] = cur
		return cur, nil
	}
	// The discard logger matters: telego's debug log prints request URLs,
	// which carry the token.
	b, err := telego.NewBot(token, telego.WithAPIServer(c.apiURL), telego.WithDiscardLogger(), telego.WithAPICaller(c.caller))
	if err != nil {
		return nil, fmt.Errorf("outbox: client of bot %d: invalid token", botID)
	}
	cur = &client{token: token, bot: b, fetched: time.Now()}
	c.m[botID] = cur
	return cur, nil
}

func (c *clients) drop(botID int64) {
	c.mu.Lock()
	delete(c.m, botID)
	c.mu.Unlock()
}

// call posts a raw JSON body to a Bot API method with the bot's token.
func (c *clients) call(ctx context.Context, cl *client, method string, body []byte) (*ta.Response, error) {
	u := c.apiURL + "/bot" + cl.token + "/" + method
	r, err := c.caller.Call(ctx, u, &ta.RequestData{ContentType: ta.ContentTypeJSON, BodyRaw: body})
	if err != nil {
		var te *transportError
		if errors.As(err, &te) {
			te.msg = strings.ReplaceAll(te.msg, cl.token, "[token]")
		}
		return nil, err
	}
	return r, nil
}

// Bot returns the cached telego client of a bot, for synchronous calls that
// are not sends (getMe, getFile, getChatMember). Sends go through Enqueue.
func (o *Outbox) Bot(ctx context.Context, botID int64) (*telego.Bot, error) {
	cl, err := o.bots.get(ctx, botID)
	if err != nil {
		return nil, err
	}
	return cl.bot, nil
}
