package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// SecretHeader carries the webhook secret Telegram was given.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Targets resolves a webhook URL's public id (bots.Service implements it
// from memory; unknown ids are bots.ErrNotFound).
type Targets interface {
	WebhookTarget(ctx context.Context, publicID string) (bots.Target, error)
}

// RouterOptions tune the webhook router.
type RouterOptions struct {
	// SeenTTL is how long update ids are remembered for dedupe (default
	// 25 h: Telegram keeps undelivered updates for 24 h).
	SeenTTL time.Duration
	// RedisTimeout bounds the Redis work of one request (default 2 s), so
	// a hung Redis answers 503 quickly and Telegram retries.
	RedisTimeout time.Duration
	// MaxBody is the largest update accepted (default 256 KiB, well above
	// any real update, below the app-wide BodyLimit); larger answers 413.
	MaxBody int
	Logger  *slog.Logger
}

// Router is the webhook intake.
type Router struct {
	targets Targets
	rdb     redis.Scripter
	opts    RouterOptions
	log     *slog.Logger
}

// NewRouter builds the webhook router.
func NewRouter(targets Targets, rdb redis.Scripter, opts RouterOptions) *Router {
	if opts.SeenTTL <= 0 {
		opts.SeenTTL = 25 * time.Hour
	}
	if opts.RedisTimeout <= 0 {
		opts.RedisTimeout = 2 * time.Second
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 256 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Router{targets: targets, rdb: rdb, opts: opts, log: opts.Logger}
}

// Mount registers POST /tg/:publicID on app, without authentication: the
// secret header is the authentication. Updates are a few kilobytes; the
// app's BodyLimit (413 above it) is the hard cap.
func (r *Router) Mount(app fiber.Router) {
	app.Post("/tg/:publicID", r.handle)
}

func (r *Router) handle(c *fiber.Ctx) error {
	ctx := c.UserContext()
	target, err := r.targets.WebhookTarget(ctx, c.Params("publicID"))
	if errors.Is(err, bots.ErrNotFound) {
		return httpx.NewProblem(http.StatusNotFound, "unknown_bot", "No bot is registered at this address.")
	}
	if err != nil {
		r.log.Error("webhook: resolve bot", "error", err)
		return httpx.Unavailable("lookup_unavailable", "The bot could not be resolved; retry.")
	}
	if !crypto.Equal(c.Get(SecretHeader), target.Secret) {
		return httpx.Unauthorized("bad_secret", "The webhook secret does not match.")
	}
	httpx.LogAttrs(c, slog.String("tenant_id", target.TenantID.String()), slog.Int64("bot_id", target.BotID))

	body := c.Body()
	if len(body) > r.opts.MaxBody {
		return httpx.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", "The update is larger than this endpoint accepts.")
	}
	// One pass: Unmarshal validates the whole body (trailing garbage is an
	// error) while it decodes.
	var u Update
	if err := json.Unmarshal(body, &u); err != nil || u.UpdateID <= 0 {
		return httpx.BadRequest("invalid_update", "The body is not a Telegram update with an update_id.")
	}
	// Copy: fasthttp reuses the body buffer after the handler returns.
	raw := append([]byte(nil), bytes.TrimSpace(body)...)
	m := mailbox{TenantID: target.TenantID, BotID: target.BotID, ChatID: u.ChatID()}

	// One script dedupes, files and, unless a drain is already queued for
	// the chat, hands it to the drain workers: after it nothing can fail
	// that would strand the update (docs/webhooks.md).
	rctx, cancel := context.WithTimeout(ctx, r.opts.RedisTimeout)
	defer cancel()
	if _, _, err := accept(rctx, r.rdb, m, u.UpdateID, raw, r.opts.SeenTTL); err != nil {
		r.log.Error("webhook: redis refused the update", "tenant_id", target.TenantID, "bot_id", target.BotID,
			"update_id", u.UpdateID, "error", err)
		return httpx.Unavailable("queue_unavailable", "The update could not be queued; retry.")
	}
	return c.SendStatus(http.StatusOK)
}
