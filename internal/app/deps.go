// Package app wires the platform by hand: it opens the shared dependencies,
// builds every domain service with explicit constructors, and assembles the
// HTTP server and the worker. cmd/helpdesk only parses flags and calls it;
// tests build the same app to exercise the real route table.
package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/config"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/redisconn"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Deps are the shared dependencies every role of the binary uses.
type Deps struct {
	Cfg      *config.Config
	Log      *slog.Logger
	Clock    clock.Clock
	DB       *db.DB
	Redis    *redis.Client
	AsynqOpt asynq.RedisConnOpt
	Queue    *queue.Client
	Keyring  *crypto.Keyring
	// PasswordParams are argon2id costs; tests lower them.
	PasswordParams crypto.PasswordParams
	// OutboxLimits are Telegram's budgets (zero value: the real ones);
	// benchmarks scale them with the sandbox's.
	OutboxLimits outbox.Limits
}

// Open connects to PostgreSQL and Redis and checks the schema is current.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Deps, error) {
	keyring, err := crypto.NewKeyring(cfg.SecretKeyID, cfg.SecretKey, cfg.OldSecretKeys)
	if err != nil {
		return nil, err
	}
	database, err := db.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return nil, err
	}
	if err := database.CheckSchema(ctx); err != nil {
		database.Close()
		return nil, err
	}
	rdb, err := redisconn.Open(ctx, cfg.RedisURL)
	if err != nil {
		database.Close()
		return nil, err
	}
	opt, err := redisconn.AsynqOpt(cfg.RedisURL)
	if err != nil {
		database.Close()
		_ = rdb.Close()
		return nil, err
	}
	return &Deps{
		Cfg:      cfg,
		Log:      log,
		Clock:    clock.Real{},
		DB:       database,
		Redis:    rdb,
		AsynqOpt: opt,
		Queue:    queue.NewClient(opt),
		Keyring:  keyring,

		PasswordParams: crypto.DefaultPasswordParams,
	}, nil
}

// Close releases the connections.
func (d *Deps) Close() {
	if err := d.Queue.Close(); err != nil {
		d.Log.Warn("close queue client", "error", err)
	}
	if err := d.Redis.Close(); err != nil {
		d.Log.Warn("close redis", "error", err)
	}
	d.DB.Close()
}

// Ready checks both stores answer.
func (d *Deps) Ready(ctx context.Context) error {
	if err := d.DB.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := d.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
