// Package bots is the bot registry: a tenant registers its BotFather token,
// the platform checks it with getMe, keeps it sealed (AES-256-GCM, aad = bot
// id), points the bot's webhook at an opaque URL with a random secret, and
// reports webhook health. A bot is keyed by Telegram's numeric bot id, so a
// revoked token is replaced without losing anything (DESIGN.md 4a).
//
// The service also answers the two look-ups made before a tenant is known:
// WebhookTarget (the webhook router) and BotToken (the outbox). Both are
// served from an in-process cache that every process drops entries from when
// a bot changes (Redis pub/sub), with a short TTL as the fallback.
package bots

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Errors the HTTP edge maps to problems.
var (
	ErrInvalidTokenFormat  = errors.New("bots: token does not look like a bot token")
	ErrTokenRejected       = errors.New("bots: telegram rejected the token")
	ErrTelegramUnavailable = errors.New("bots: telegram is unreachable")
	ErrBotTaken            = errors.New("bots: bot is registered by another account")
	ErrBotExists           = errors.New("bots: bot is already registered")
	ErrTokenBotMismatch    = errors.New("bots: token belongs to a different bot")
	ErrNotFound            = errors.New("bots: no such bot")
)

// AllowedUpdates are the update types every webhook asks for.
var AllowedUpdates = []string{"message", "edited_message", "callback_query", "my_chat_member", "chat_member", "chat_join_request"}

// InvalidationChannel is the Redis pub/sub channel on which a process
// announces that a bot changed; every process drops its cached entries.
const InvalidationChannel = "helpdesk:bots:changed"

const defaultTelegramTimeout = 15 * time.Second

var tokenRe = regexp.MustCompile(`^(\d+):[\w-]{35}$`)

// ParseToken checks a token's format and returns the bot id it carries.
func ParseToken(token string) (int64, error) {
	m := tokenRe.FindStringSubmatch(token)
	if m == nil {
		return 0, ErrInvalidTokenFormat
	}
	id, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrInvalidTokenFormat
	}
	return id, nil
}

// Bot is a registered bot as the API shows it: never the token or secret.
type Bot struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	// PaidBroadcast: campaigns on this bot send with allow_paid_broadcast
	// (up to 1000 msg/s, paid in Telegram Stars from the bot's balance).
	PaidBroadcast bool      `json:"paid_broadcast"`
	WebhookURL    string    `json:"webhook_url"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Target is where a webhook request for a public id belongs.
type Target struct {
	BotID    int64
	TenantID uuid.UUID
	Secret   string
}

// Options tune the service.
type Options struct {
	// PublicURL is the platform's public base URL; webhooks go to
	// PublicURL + "/tg/" + public id.
	PublicURL string
	// MaxConnections is setWebhook's max_connections (Config.WebhookMaxConns).
	MaxConnections int
	// CacheTTL bounds how long a cached look-up may be served after a missed
	// invalidation (default 30 s).
	CacheTTL time.Duration
	Clock    clock.Clock
	Logger   *slog.Logger
}

// Service is the bot registry.
type Service struct {
	db    *db.DB
	rdb   redis.UniversalClient
	keys  *crypto.Keyring
	tg    TelegramAPI
	opts  Options
	log   *slog.Logger
	cache *cache
	group singleflight.Group

	subscribed     chan struct{}
	subscribedOnce sync.Once
}

// NewService builds the registry.
func NewService(d *db.DB, rdb redis.UniversalClient, keys *crypto.Keyring, tg TelegramAPI, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 30 * time.Second
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 40
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	return &Service{db: d, rdb: rdb, keys: keys, tg: tg, opts: opts, log: opts.Logger,
		cache: newCache(opts.Clock, opts.CacheTTL), subscribed: make(chan struct{})}
}

func tokenAAD(botID int64) []byte  { return []byte(strconv.FormatInt(botID, 10)) }
func secretAAD(botID int64) []byte { return []byte("webhook:" + strconv.FormatInt(botID, 10)) }

func (s *Service) webhookURL(publicID string) string { return s.opts.PublicURL + "/tg/" + publicID }

func (s *Service) webhookParams(publicID, secret string) WebhookParams {
	return WebhookParams{URL: s.webhookURL(publicID), Secret: secret, MaxConnections: s.opts.MaxConnections,
		AllowedUpdates: AllowedUpdates}
}

// Register checks a token and registers its bot for tenantID, then points
// the bot's webhook at the platform. Nothing is stored unless every step
// succeeds.
func (s *Service) Register(ctx context.Context, tenantID, actorID uuid.UUID, token string) (Bot, error) {
	botID, err := ParseToken(token)
	if err != nil {
		return Bot{}, err
	}
	if err := s.checkFree(ctx, tenantID, botID); err != nil {
		return Bot{}, err
	}
	info, err := s.tg.GetMe(ctx, token)
	if err != nil {
		return Bot{}, fmt.Errorf("bots: register: %w", err)
	}
	if info.ID != botID {
		return Bot{}, fmt.Errorf("bots: register: getMe answered bot %d: %w", info.ID, ErrTokenRejected)
	}
	tokenSealed, err := s.keys.Seal([]byte(token), tokenAAD(botID))
	if err != nil {
		return Bot{}, fmt.Errorf("bots: register: seal token: %w", err)
	}
	secret := ids.Token(32)
	secretSealed, err := s.keys.Seal([]byte(secret), secretAAD(botID))
	if err != nil {
		return Bot{}, fmt.Errorf("bots: register: seal secret: %w", err)
	}
	row := botRow{ID: botID, PublicID: ids.Token(16), Username: info.Username, Name: info.FirstName,
		TokenSealed: tokenSealed, SecretSealed: secretSealed}
	var out Bot
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := insertBot(ctx, tx, tenantID, row); err != nil {
			return err
		}
		if err := audit(ctx, tx, tenantID, actorID, "bot.registered", botID, nil); err != nil {
			return err
		}
		// Inside the transaction: if Telegram refuses, the row is rolled
		// back and the request changed nothing.
		if err := s.tg.SetWebhook(ctx, token, s.webhookParams(row.PublicID, secret)); err != nil {
			return fmt.Errorf("set webhook: %w", err)
		}
		b, err := getBot(ctx, tx, botID)
		out = s.view(b)
		return err
	})
	if db.IsUniqueViolation(err, "bots_pkey") {
		// Lost a race with another registration of the same bot.
		if ferr := s.checkFree(ctx, tenantID, botID); ferr != nil {
			return Bot{}, ferr
		}
		return Bot{}, ErrBotExists
	}
	if err != nil {
		return Bot{}, fmt.Errorf("bots: register: %w", err)
	}
	s.invalidate(ctx, botID, row.PublicID)
	s.log.Info("bot registered", "tenant_id", tenantID, "bot_id", botID)
	return out, nil
}

// checkFree reports ErrBotTaken when another tenant holds botID and
// ErrBotExists when this tenant already does.
func (s *Service) checkFree(ctx context.Context, tenantID uuid.UUID, botID int64) error {
	return s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var elsewhere bool
		if err := tx.QueryRow(ctx, "SELECT bot_registered_elsewhere($1)", botID).Scan(&elsewhere); err != nil {
			return fmt.Errorf("bots: check owner: %w", err)
		}
		if elsewhere {
			return ErrBotTaken
		}
		if _, err := getBot(ctx, tx, botID); err == nil {
			return ErrBotExists
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	})
}

// List returns the tenant's bots.
func (s *Service) List(ctx context.Context, tenantID uuid.UUID) ([]Bot, error) {
	var out []Bot
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := listBots(ctx, tx)
		for _, r := range rows {
			out = append(out, s.view(r))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bots: list: %w", err)
	}
	return out, nil
}

// Get returns one of the tenant's bots; another tenant's bot is ErrNotFound.
func (s *Service) Get(ctx context.Context, tenantID uuid.UUID, botID int64) (Bot, error) {
	r, err := s.load(ctx, tenantID, botID)
	if err != nil {
		return Bot{}, err
	}
	return s.view(r), nil
}

func (s *Service) load(ctx context.Context, tenantID uuid.UUID, botID int64) (botRow, error) {
	var r botRow
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		r, err = getBot(ctx, tx, botID)
		return err
	})
	if err != nil {
		return botRow{}, fmt.Errorf("bots: get %d: %w", botID, err)
	}
	return r, nil
}

func (s *Service) view(r botRow) Bot {
	return Bot{ID: r.ID, Username: r.Username, Name: r.Name, Status: r.Status, PaidBroadcast: r.Paid,
		WebhookURL: s.webhookURL(r.PublicID), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// opened is a bot row with its secrets in the clear, for Telegram calls.
type opened struct {
	botRow
	token, secret string
}

func (s *Service) open(r botRow) (opened, error) {
	tok, err := s.keys.Open(r.TokenSealed, tokenAAD(r.ID))
	if err != nil {
		return opened{}, fmt.Errorf("bots: open token of %d: %w", r.ID, err)
	}
	sec, err := s.keys.Open(r.SecretSealed, secretAAD(r.ID))
	if err != nil {
		return opened{}, fmt.Errorf("bots: open secret of %d: %w", r.ID, err)
	}
	return opened{botRow: r, token: string(tok), secret: string(sec)}, nil
}

// WebhookHealth asks Telegram how the bot's webhook is doing.
func (s *Service) WebhookHealth(ctx context.Context, tenantID uuid.UUID, botID int64) (WebhookInfo, error) {
	r, err := s.load(ctx, tenantID, botID)
	if err != nil {
		return WebhookInfo{}, err
	}
	o, err := s.open(r)
	if err != nil {
		return WebhookInfo{}, err
	}
	info, err := s.tg.GetWebhookInfo(ctx, o.token)
	if err != nil {
		return WebhookInfo{}, fmt.Errorf("bots: webhook info %d: %w", botID, err)
	}
	return info, nil
}

// ResetWebhook registers the webhook again (after a URL change, or when
// health shows it missing).
func (s *Service) ResetWebhook(ctx context.Context, tenantID, actorID uuid.UUID, botID int64) error {
	r, err := s.load(ctx, tenantID, botID)
	if err != nil {
		return err
	}
	o, err := s.open(r)
	if err != nil {
		return err
	}
	if err := s.tg.SetWebhook(ctx, o.token, s.webhookParams(r.PublicID, o.secret)); err != nil {
		return fmt.Errorf("bots: reset webhook %d: %w", botID, err)
	}
	return s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return audit(ctx, tx, tenantID, actorID, "bot.webhook_reset", botID, nil)
	})
}

// ReplaceToken swaps in a new token for the same bot (after a revoke in
// BotFather), keeping every chat, contact and setting.
func (s *Service) ReplaceToken(ctx context.Context, tenantID, actorID uuid.UUID, botID int64, token string) (Bot, error) {
	newID, err := ParseToken(token)
	if err != nil {
		return Bot{}, err
	}
	r, err := s.load(ctx, tenantID, botID)
	if err != nil {
		return Bot{}, err
	}
	if newID != botID {
		return Bot{}, ErrTokenBotMismatch
	}
	info, err := s.tg.GetMe(ctx, token)
	if err != nil {
		return Bot{}, fmt.Errorf("bots: replace token: %w", err)
	}
	if info.ID != botID {
		return Bot{}, ErrTokenBotMismatch
	}
	o, err := s.open(r)
	if err != nil {
		return Bot{}, err
	}
	sealed, err := s.keys.Seal([]byte(token), tokenAAD(botID))
	if err != nil {
		return Bot{}, fmt.Errorf("bots: replace token: seal: %w", err)
	}
	var out Bot
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := updateToken(ctx, tx, botID, sealed, info); err != nil {
			return err
		}
		if err := audit(ctx, tx, tenantID, actorID, "bot.token_replaced", botID, nil); err != nil {
			return err
		}
		if err := s.tg.SetWebhook(ctx, token, s.webhookParams(r.PublicID, o.secret)); err != nil {
			return fmt.Errorf("set webhook: %w", err)
		}
		b, err := getBot(ctx, tx, botID)
		out = s.view(b)
		return err
	})
	if err != nil {
		return Bot{}, fmt.Errorf("bots: replace token: %w", err)
	}
	s.invalidate(ctx, botID, r.PublicID)
	return out, nil
}

// Delete removes the bot's webhook and then the bot with everything hanging
// off it. A token Telegram no longer accepts does not block the delete.
// SetPaidBroadcast switches paid broadcasts (allow_paid_broadcast) for the
// bot's campaigns on or off. Telegram charges them in Stars to the bot's
// balance, so only the owner may switch it (docs/permissions.md).
func (s *Service) SetPaidBroadcast(ctx context.Context, tenantID, actorID uuid.UUID, botID int64, on bool) (Bot, error) {
	var r botRow
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if r, err = getBot(ctx, tx, botID); err != nil {
			return err
		}
		if r.Paid == on {
			return nil
		}
		if err := tx.QueryRow(ctx, `UPDATE bots SET paid_broadcast = $2, updated_at = now() WHERE id = $1 RETURNING updated_at`,
			botID, on).Scan(&r.UpdatedAt); err != nil {
			return fmt.Errorf("store: set paid broadcast: %w", err)
		}
		r.Paid = on
		return audit(ctx, tx, tenantID, actorID, "bot.paid_broadcast", botID, map[string]any{"paid_broadcast": on})
	})
	if err != nil {
		return Bot{}, fmt.Errorf("bots: paid broadcast %d: %w", botID, err)
	}
	return s.view(r), nil
}

func (s *Service) Delete(ctx context.Context, tenantID, actorID uuid.UUID, botID int64) error {
	r, err := s.load(ctx, tenantID, botID)
	if err != nil {
		return err
	}
	o, err := s.open(r)
	if err != nil {
		return err
	}
	if err := s.tg.DeleteWebhook(ctx, o.token); err != nil && !errors.Is(err, ErrTokenRejected) {
		return fmt.Errorf("bots: delete %d: %w", botID, err)
	}
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := deleteBot(ctx, tx, botID); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actorID, "bot.deleted", botID, nil)
	})
	if err != nil {
		return fmt.Errorf("bots: delete %d: %w", botID, err)
	}
	s.invalidate(ctx, botID, r.PublicID)
	s.log.Info("bot deleted", "tenant_id", tenantID, "bot_id", botID)
	return nil
}
