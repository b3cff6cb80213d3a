package app

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"net/http"

	"github.com/tgdesk/helpdesk/frontend"
	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// App holds every service, built once per process.
type App struct {
	*Deps
	Auth *auth.Service
}

// New builds the services on top of deps.
func New(d *Deps) (*App, error) {
	a := &App{Deps: d}
	mailer, err := auth.NewMailer(d.Cfg.SMTPURL, d.Cfg.SMTPFrom)
	if err != nil {
		return nil, err
	}
	a.Auth, err = auth.NewService(d.DB, d.Redis, auth.Options{
		JWTSecret:         d.Cfg.JWTSecret,
		AccessTTL:         d.Cfg.AccessTTL,
		RefreshTTL:        d.Cfg.RefreshTTL,
		InviteTTL:         d.Cfg.InviteTTL,
		PublicURL:         d.Cfg.PublicURL,
		LoginMaxPerMinute: d.Cfg.LoginMaxPerMinute,
		PasswordParams:    d.PasswordParams,
		Clock:             d.Clock,
		Mailer:            mailer,
		Logger:            d.Log,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// HTTP assembles the fiber app: health, the public API, webhooks, operator
// routes and the embedded console.
func (a *App) HTTP() *fiber.App {
	app := httpx.NewApp(httpx.Options{BodyLimit: a.Cfg.BodyLimit, Logger: a.Log, TrustedProxies: a.Cfg.TrustedProxies})
	httpx.Health(app, map[string]httpx.Checker{
		"postgres": a.DB.Ping,
		"redis":    func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() },
	})
	authH := auth.NewHandler(a.Auth)

	api := app.Group("/api/v1")
	// Public routes first: auth's Routes installs authentication on api
	// after its own public routes, so everything registered below needs a
	// valid access token.
	authH.Routes(api)

	ops := app.Group("/ops", authH.Authenticate(), auth.RequireOperator())
	_ = ops

	mountConsole(app)
	return app
}

// mountConsole serves the embedded SPA; unknown non-API paths get index.html
// so client-side routes survive a reload.
func mountConsole(app *fiber.App) {
	dist := frontend.Dist()
	if dist == nil {
		app.Get("/", func(c *fiber.Ctx) error {
			c.Type("html")
			return c.SendString("<!doctype html><title>tgdesk</title><p>The console is not built into this binary. Run <code>make run</code> (it builds <code>frontend/</code>) or use the API at <code>/api/v1</code>.</p>")
		})
		return
	}
	app.Use("/", filesystem.New(filesystem.Config{
		Root:         http.FS(dist),
		Index:        "index.html",
		NotFoundFile: "index.html",
		Next: func(c *fiber.Ctx) bool {
			p := c.Path()
			return len(p) >= 4 && (p[:4] == "/api" || p[:4] == "/ops" || p[:3] == "/tg")
		},
	}))
}

// Worker builds the asynq server with every task handler and the scheduler
// with every periodic job.
func (a *App) Worker() (*queue.Server, *queue.Scheduler) {
	srv := queue.NewServer(a.AsynqOpt, queue.ServerOptions{
		Concurrency:       a.Cfg.WorkerConcurrency,
		TaskCheckInterval: a.Cfg.TaskCheckInterval,
		ShutdownTimeout:   a.Cfg.ShutdownTimeout,
		Logger:            a.Log,
	})
	sched := queue.NewScheduler(a.Queue, a.Redis, a.Clock, time.Second, a.Log)
	return srv, sched
}

// Close stops what the services started.
func (a *App) Close() {}
