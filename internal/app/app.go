package app

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"net/http"

	"github.com/tgdesk/helpdesk/frontend"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// App holds every service, built once per process.
type App struct {
	*Deps
}

// New builds the services on top of deps.
func New(d *Deps) (*App, error) {
	return &App{Deps: d}, nil
}

// HTTP assembles the fiber app: health, the public API, webhooks, operator
// routes and the embedded console.
func (a *App) HTTP() *fiber.App {
	app := httpx.NewApp(httpx.Options{BodyLimit: a.Cfg.BodyLimit, Logger: a.Log})
	httpx.Health(app, map[string]httpx.Checker{
		"postgres": a.DB.Ping,
		"redis":    func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() },
	})
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
