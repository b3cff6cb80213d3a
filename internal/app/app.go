package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/tgdesk/helpdesk/frontend"
	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/automation"
	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/broadcast"
	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24"
	"github.com/tgdesk/helpdesk/internal/crm/exchange"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson"
	"github.com/tgdesk/helpdesk/internal/dispatch"
	"github.com/tgdesk/helpdesk/internal/ops"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/support"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// App holds every service, built once per process.
type App struct {
	*Deps
	Auth      *auth.Service
	Tenants   *tenant.Service
	Bots      *bots.Service
	Outbox    *outbox.Outbox
	Router    *telegram.Router
	Processor *telegram.Processor
	Support   *support.Service
	Surveys   *survey.Service
	Audience  *audience.Service
	Campaigns *broadcast.Service
	Dispatch  *dispatch.Service
	Rules     *automation.Service
	Ops       *ops.Service
	Exchange  *exchange.Service
	CRM       *crm.Service

	bg     sync.WaitGroup
	cancel context.CancelFunc
}

// The bot registry is the outbox's token source.
var _ outbox.TokenSource = (*bots.Service)(nil)

// The outbox is what bot replies are sent through.
var _ telegram.Sender = (*outbox.Outbox)(nil)

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
		Keyring:           d.Keyring,
		Logger:            d.Log,
	})
	if err != nil {
		return nil, err
	}
	a.Tenants = tenant.NewService(d.DB, d.Redis, tenant.WithLogger(d.Log), tenant.WithClock(d.Clock),
		tenant.WithOwnerProvisioner(a.Auth))
	a.Bots = bots.NewService(d.DB, d.Redis, d.Keyring, bots.NewTelegoAPI(d.Cfg.TelegramAPIURL, nil), bots.Options{
		PublicURL:      d.Cfg.PublicURL,
		MaxConnections: d.Cfg.WebhookMaxConns,
		Clock:          d.Clock,
		Logger:         d.Log,
	})
	a.Outbox = outbox.New(d.DB, d.Redis, d.Queue, a.Bots, outbox.Options{
		APIURL:      d.Cfg.TelegramAPIURL,
		Limits:      d.OutboxLimits,
		Clock:       d.Clock,
		Logger:      d.Log,
		LeaseTTL:    d.Cfg.OutboxLeaseTTL,
		CallTimeout: d.Cfg.OutboxCallTimeout,
	})
	a.Router = telegram.NewRouter(a.Bots, d.Redis, telegram.RouterOptions{Logger: d.Log})
	a.Processor = telegram.NewProcessor(d.DB, d.Redis, d.Queue, a.Outbox, a.Tenants, telegram.ProcessorOptions{
		LockTTL:      d.Cfg.DrainLockTTL,
		SweepEvery:   d.Cfg.UpdatesSweep,
		DrainWorkers: d.Cfg.DrainWorkers,
		Clock:        d.Clock,
		Logger:       d.Log,
	})

	// Subscribers and segments: the notifications menu and /stop in the bot.
	a.Audience = audience.NewService(d.DB, a.Tenants, a.Tenants, audience.Options{Clock: d.Clock, Logger: d.Log})
	a.Audience.Attach(a.Processor)
	// Scheduled surveys ask every reachable subscriber of the schedule's
	// bot, or those of a saved segment.
	a.Surveys = survey.NewService(d.DB, a.Outbox, a.Tenants, survey.Options{Queue: d.Queue, Clock: d.Clock, Logger: d.Log,
		Audience: surveyAudience{all: survey.NewBotAudience(d.DB), segments: a.Audience}})
	a.Surveys.Attach(a.Processor)
	// Campaigns go to the audience's recipients (segments, subscription topics).
	linkKey := sha256.Sum256(append([]byte("broadcast-click-links:"), d.Cfg.JWTSecret...))
	a.Campaigns = broadcast.NewService(d.DB, d.Redis, d.Queue, a.Outbox, a.Audience, a.Surveys, a.Tenants,
		broadcast.Options{Clock: d.Clock, Logger: d.Log, Limits: d.OutboxLimits, PublicURL: d.Cfg.PublicURL, LinkKey: linkKey[:]})
	a.Campaigns.Attach(a.Processor)
	a.Support = support.NewService(d.DB, d.Redis, d.Queue, a.Outbox, a.Tenants, a.Bots, support.Options{
		Surveys: a.Surveys,
		APIURL:  d.Cfg.TelegramAPIURL,
		Clock:   d.Clock,
		Logger:  d.Log,
	})
	// The support desk takes private messages no other feature claims and
	// the messages in staff groups.
	a.Support.Attach(a.Processor)

	// The 1C exchange: pushed clients and CRM events need an event sink
	// (the crm service: a.Exchange.SetSink(...)); until one is attached
	// those pushes answer 503 and 1C sends them again.
	a.Exchange = exchange.NewService(d.DB, exchange.Options{Clock: d.Clock, Logger: d.Log})
	// CRM connectors: one factory per kind (bitrix24 and httpjson plug in
	// the same way); the processor routes crm_ deep links and shared phones.
	a.CRM = crm.NewService(d.DB, d.Redis, d.Queue, d.Keyring, crm.Options{PublicURL: d.Cfg.PublicURL, Clock: d.Clock, Logger: d.Log,
		AllowPrivateNetworks: d.Cfg.CRMAllowPrivateNetworks})
	amo := amocrm.Options{BaseURL: d.Cfg.AmoCRMBaseURL}
	a.CRM.Register(crm.AmoCRM, amocrm.Factory(amo))
	a.CRM.RegisterOAuth(crm.AmoCRM, amocrm.NewOAuth(amo))
	a.CRM.Register(crm.Bitrix24, bitrix24.Factory)
	a.CRM.Register(crm.HTTPJSON, httpjson.Factory)
	a.CRM.Attach(a.Processor)
	// Answers to survey questions mapped to CRM fields are written back.
	a.Surveys.OnAnswer("", a.CRM.OnSurveyAnswer)
	// 1C's pushed clients and CRM events enter the same pipeline as webhooks.
	a.Exchange.SetSink(a.CRM.Intake())

	// Dispatch and automation write back to the CRM through the crm
	// service's durable calls, and the automation rules are its event sink.
	crmw := crmWriter{a.CRM}
	a.Dispatch = dispatch.NewService(d.DB, a.Outbox, d.Queue, crmw, a.Tenants, dispatch.Options{Clock: d.Clock, Logger: d.Log})
	a.Dispatch.Attach(a.Processor)
	a.Rules = automation.NewService(automation.Deps{DB: d.DB, Queue: d.Queue, Outbox: a.Outbox, CRM: crmw,
		Dispatch: a.Dispatch, Surveys: a.Surveys, Settings: a.Tenants}, automation.Options{Clock: d.Clock, Logger: d.Log})
	// Survey answers are bot events for the rules.
	a.Surveys.OnAnswer("", a.Rules.OnSurveyAnswer)
	a.CRM.SetSink(a.Rules)

	a.Ops = ops.NewService(d.DB, d.Redis, asynq.NewInspector(d.AsynqOpt),
		func(ctx context.Context, tenantID uuid.UUID, botID int64) (ops.WebhookInfo, error) {
			w, err := a.Bots.WebhookHealth(ctx, tenantID, botID)
			return ops.WebhookInfo{URL: w.URL, PendingUpdateCount: w.PendingUpdateCount,
				LastErrorDate: w.LastErrorDate, LastErrorMessage: w.LastErrorMessage}, err
		}, d.Clock, d.Log)

	// Background loops every role needs: cache invalidation listeners.
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.bg.Add(2)
	go func() { defer a.bg.Done(); a.Bots.Run(ctx) }()
	go func() {
		defer a.bg.Done()
		if err := a.Tenants.Run(ctx); err != nil && ctx.Err() == nil {
			d.Log.Warn("tenant cache listener stopped", "error", err)
		}
	}()
	return a, nil
}

// Close stops the background loops and releases what the services hold.
func (a *App) Close() {
	a.cancel()
	a.bg.Wait()
	a.Outbox.Close()
}

// HTTP assembles the fiber app: health, webhooks, the public API, operator
// routes and the embedded console.
func (a *App) HTTP() *fiber.App {
	app := httpx.NewApp(httpx.Options{BodyLimit: a.Cfg.BodyLimit, Logger: a.Log, TrustedProxies: a.Cfg.TrustedProxies})
	httpx.Health(app, map[string]httpx.Checker{
		"postgres": a.DB.Ping,
		"redis":    func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() },
	})
	a.Router.Mount(app)
	crmH := crm.NewHandler(a.CRM)
	// CRM webhooks and OAuth redirects carry their own authentication (a
	// URL secret, a state): registered before the API's authentication.
	crmH.PublicRoutes(app)

	authH := auth.NewHandler(a.Auth)
	api := app.Group("/api/v1")
	// Routes authenticated by an exchange API key (the tenant's 1C), before
	// the session authentication below.
	exchangeH := exchange.NewHandler(a.Exchange)
	exchangeH.KeyRoutes(api)
	// Public routes first: auth's Routes installs authentication on api
	// after its own public routes, so everything registered below needs a
	// valid access token, and each route states its minimum role.
	authH.Routes(api)
	tenantH := tenant.NewHandler(a.Tenants)
	tenantH.Routes(api)
	bots.NewHandler(a.Bots).Routes(api)
	support.NewHandler(a.Support).Routes(api)
	survey.NewHandler(a.Surveys).Routes(api)
	dispatch.NewHandler(a.Dispatch).Routes(api)
	automation.NewHandler(a.Rules).Routes(api)
	audience.NewHandler(a.Audience).Routes(api)
	exchangeH.Routes(api)
	campaigns := broadcast.NewHandler(a.Campaigns)
	campaigns.Routes(api)
	campaigns.PublicRoutes(app)
	crmH.Routes(api)

	opsGroup := app.Group("/ops", authH.Authenticate(), auth.RequireOperator())
	tenantH.OpsRoutes(opsGroup)
	ops.NewHandler(a.Ops).Routes(opsGroup)

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
			return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/ops/") || strings.HasPrefix(p, "/tg/") || strings.HasPrefix(p, "/r/") ||
				strings.HasPrefix(p, "/hooks/") ||
				p == "/healthz" || p == "/readyz"
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
	a.Processor.Register(srv)
	sched.Register(a.Processor.Sweeper())
	a.Outbox.Register(srv)
	a.Support.Register(srv)
	sched.Register(a.Outbox.Sweeper())
	a.Surveys.Register(srv)
	sched.Register(a.Surveys.Periodic())
	a.Campaigns.Register(srv)
	sched.Register(a.Campaigns.Sweeper())
	a.CRM.RegisterTasks(srv)
	sched.Register(a.CRM.Sweeper())
	a.Dispatch.Register(srv)
	sched.Register(a.Dispatch.Sweeper())
	a.Rules.Register(srv)
	sched.Register(a.Rules.Ticker())
	return srv, sched
}

// crmWriter adapts the crm service to the CRMWriter dispatch and automation
// declare: updates and notes become durable, retried calls under the
// caller's idempotency key (a take's job and generation, a rule run's
// action) — not their content, which two different takes or events can
// share; deals are read through the tenant's connector.
type crmWriter struct{ s *crm.Service }

func (w crmWriter) UpdateDeal(ctx context.Context, tenantID, connectorID uuid.UUID, key string, u crm.DealUpdate) error {
	_, err := w.s.UpdateDeal(ctx, tenantID, connectorID, key, u)
	return err
}

func (w crmWriter) AddNote(ctx context.Context, tenantID, connectorID uuid.UUID, key string, n crm.Note) error {
	_, err := w.s.AddNote(ctx, tenantID, connectorID, key, n)
	return err
}

func (w crmWriter) GetDeal(ctx context.Context, tenantID, connectorID uuid.UUID, id string) (crm.Deal, error) {
	c, err := w.s.Connector(ctx, tenantID, connectorID)
	if err != nil {
		return crm.Deal{}, err
	}
	return c.GetDeal(ctx, id)
}

// surveyAudience gives scheduled surveys their recipients: the default
// audience for a whole bot, the audience service for a segment (subscribed
// to the "surveys" topic when the tenant has one). A segment deleted
// mid-run ends the run's asking instead of failing it forever.
type surveyAudience struct {
	all      *survey.BotAudience
	segments *audience.Service
}

func (a surveyAudience) Page(ctx context.Context, tenantID uuid.UUID, spec survey.AudienceSpec, cursor string, limit int) (survey.Page, error) {
	if spec.SegmentID == uuid.Nil {
		return a.all.Page(ctx, tenantID, spec, cursor, limit)
	}
	after := uuid.Nil
	if cursor != "" {
		var err error
		if after, err = uuid.Parse(cursor); err != nil {
			return survey.Page{}, fmt.Errorf("survey audience: cursor %q: %w", cursor, err)
		}
	}
	rs, err := a.segments.Page(ctx, tenantID, spec.BotID, spec.SegmentID, "surveys", after, limit)
	if errors.Is(err, audience.ErrUnknownTopic) {
		rs, err = a.segments.Page(ctx, tenantID, spec.BotID, spec.SegmentID, "", after, limit)
	}
	if errors.Is(err, audience.ErrNotFound) {
		return survey.Page{Next: cursor, Done: true}, nil
	}
	if err != nil {
		return survey.Page{}, err
	}
	out := survey.Page{Next: cursor, Done: len(rs) < limit}
	for _, r := range rs {
		out.Recipients = append(out.Recipients, survey.Recipient{BotID: spec.BotID, ChatID: r.ChatID, ContactID: r.ContactID, Lang: r.Lang})
		out.Next = r.BotChatID.String()
	}
	return out, nil
}
