package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/tgdesk/helpdesk/internal/app"
	"github.com/tgdesk/helpdesk/internal/platform/config"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/logging"
)

// runServer runs the HTTP role, the worker role or both until ctx ends, then
// shuts down gracefully: stop accepting requests, finish in-flight ones, stop
// the scheduler, let running tasks finish (asynq re-queues what does not).
func runServer(ctx context.Context, role string, args []string, stderr io.Writer, lookup func(string) (string, bool)) error {
	if len(args) > 0 {
		return errUsage
	}
	return withApp(ctx, stderr, lookup, func(a *app.App) error { return serveRoles(ctx, role, a) })
}

func serveRoles(ctx context.Context, role string, a *app.App) error {
	cfg, log := a.Cfg, a.Log
	var err error
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	if role == "work" || role == "all" {
		srv, sched := a.Worker()
		if err := srv.Start(); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sched.Run(runCtx)
		}()
		defer srv.Shutdown()
		log.Info("workers started", "concurrency", cfg.WorkerConcurrency)
	}
	if role == "serve" || role == "all" {
		httpApp := a.HTTP()
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := httpApp.Listener(ln); err != nil {
				errs <- fmt.Errorf("http: %w", err)
			}
		}()
		defer func() {
			if err := httpApp.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
				log.Warn("http shutdown", "error", err)
			}
		}()
		log.Info("http listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errs:
	}
	cancel()
	wg.Wait()
	return err
}

func runMigrate(ctx context.Context, stderr io.Writer, lookup func(string) (string, bool)) error {
	cfg, err := config.LoadWithoutSecrets(lookup)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	appRole, err := db.RoleFromURL(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	owner, err := db.RoleFromURL(cfg.MigrateURL)
	if err != nil {
		return err
	}
	if owner == appRole {
		return errors.New("HELPDESK_MIGRATE_DATABASE_URL and HELPDESK_DATABASE_URL use the same role: the application role must not own the tables, or row-level security does not apply to it")
	}
	v, err := db.Migrate(ctx, cfg.MigrateURL, appRole, log)
	if err != nil {
		return err
	}
	log.Info("schema is current", "version", v)
	return nil
}
