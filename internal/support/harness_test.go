package support_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/support"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var nextBotID atomic.Int64

// desk is a running slice of the platform: the sandbox, the bot registry,
// the webhook router on a real listener, a worker with the processor, the
// outbox and the support desk wired as the lead wires them.
type desk struct {
	t       *testing.T
	sb      *tgsandbox.Server
	bots    *bots.Service
	tenants *tenant.Service
	ob      *outbox.Outbox
	proc    *telegram.Processor
	svc     *support.Service
	surveys *survey.Service
	tenant  uuid.UUID
	bot     tgsandbox.Bot
	group   tgsandbox.Chat
	admin   tgsandbox.User
}

type deskOpts struct {
	iconDebounce time.Duration
	// settings is the tenant's settings document (tenants.settings), e.g.
	// {"support": {"csat": true}}.
	settings string
	clock    clock.Clock
	// maxFileBytes caps the file proxy (default 20 MB).
	maxFileBytes int64
	// fast runs the sandbox, the outbox and the desk on one fast clock
	// under Telegram's real limits (20 messages a minute per group).
	fast *fastClock
}

// fastClock runs k times faster than real time; the sandbox, the outbox
// and the desk share one so a minute-long group window costs seconds.
type fastClock struct {
	base, start time.Time
	k           float64
}

func newFastClock(k float64) *fastClock {
	return &fastClock{base: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), start: time.Now(), k: k}
}

func (c *fastClock) Now() time.Time {
	return c.base.Add(time.Duration(float64(time.Since(c.start)) * c.k))
}

func newDesk(t *testing.T, o deskOpts) *desk {
	t.Helper()
	log := discard()
	d := &desk{t: t}
	d.tenant = newTenant(t)
	if o.settings != "" {
		if _, err := env.Owner.Exec(context.Background(), `UPDATE tenants SET settings = $2 WHERE id = $1`, d.tenant, o.settings); err != nil {
			t.Fatal(err)
		}
	}
	sbLimits := tgsandbox.Limits{Enabled: true, Scale: 20, BotPerSecond: 30,
		BotBurst: 30, PrivatePerSecond: 1, PrivateBurst: 3, GroupPerMinute: 20}
	var sbClock tgsandbox.Clock
	obLimits, rate := outbox.Limits{Scale: 20}, 1.0
	if o.fast != nil {
		sbLimits, sbClock, obLimits, rate = tgsandbox.DefaultLimits(), o.fast, outbox.Limits{}, o.fast.k
		o.clock = o.fast
	}
	var obClock clock.Clock
	if o.fast != nil {
		obClock = o.fast
	}
	d.sb = tgsandbox.New(tgsandbox.Options{Logger: log, Limits: &sbLimits, Clock: sbClock,
		WebhookRetryMin: 20 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond})
	sbts := httptest.NewServer(d.sb)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	keyring, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{9}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.bots = bots.NewService(env.DB, env.Redis.Client, keyring, bots.NewTelegoAPI(sbts.URL, nil),
		bots.Options{PublicURL: base, MaxConnections: 40, Logger: log})
	d.tenants = tenant.NewService(env.DB, env.Redis.Client, tenant.WithLogger(log))
	qc := queue.NewClient(env.Redis.Asynq)
	router := telegram.NewRouter(d.bots, env.Redis.Client, telegram.RouterOptions{Logger: log})
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: log})
	router.Mount(app)
	go func() { _ = app.Listener(ln) }()

	d.ob = outbox.New(env.DB, env.Redis.Client, qc, d.bots, outbox.Options{APIURL: sbts.URL,
		Limits: obLimits, Clock: obClock, ClockRate: rate, Logger: log})
	d.proc = telegram.NewProcessor(env.DB, env.Redis.Client, qc, d.ob, d.tenants,
		telegram.ProcessorOptions{LockTTL: 3 * time.Second, Logger: log})
	d.surveys = survey.NewService(env.DB, d.ob, d.tenants, survey.Options{Clock: o.clock, Logger: log})
	d.surveys.Attach(d.proc)
	d.svc = support.NewService(env.DB, env.Redis.Client, qc, d.ob, d.tenants, d.bots, support.Options{
		APIURL: sbts.URL, IconDebounce: o.iconDebounce, Surveys: d.surveys, MaxFileBytes: o.maxFileBytes, Clock: o.clock, ClockRate: rate, Logger: log})
	d.svc.Attach(d.proc)

	srv := queue.NewServer(env.Redis.Asynq, queue.ServerOptions{Concurrency: 8,
		TaskCheckInterval: 10 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Logger: log})
	d.proc.Register(srv)
	d.ob.Register(srv)
	d.svc.Register(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}

	id := 8_100_000 + nextBotID.Add(1)*7 + time.Now().UnixNano()%1000*10_000
	d.bot, err = d.sb.CreateBotWithToken(fmt.Sprintf("%d:%s", id, ids.Token(26)[:35]), fmt.Sprintf("s%d_bot", id), "Support")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.bots.Register(context.Background(), d.tenant, uuid.Nil, d.bot.Token); err != nil {
		t.Fatalf("register bot: %v", err)
	}
	d.admin = d.sb.CreateUser("Boss", "boss")
	d.group = d.sb.CreateForumSupergroup("Support staff", d.admin.ID)
	t.Cleanup(func() {
		sbts.Close()
		_ = d.sb.Close()
		srv.Shutdown()
		_ = app.Shutdown()
		d.ob.Close()
		_ = qc.Close()
	})
	return d
}

func newTenant(t *testing.T) uuid.UUID {
	t.Helper()
	id := ids.New()
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name) VALUES ($1, 'Topic VPN')", id); err != nil {
		t.Fatal(err)
	}
	return id
}

// bindGroup adds the bot with all rights and binds the group with a code.
func (d *desk) bindGroup() {
	d.t.Helper()
	if err := d.sb.AddBotToChat(d.bot.ID, d.group.ID, tgsandbox.AllRights()); err != nil {
		d.t.Fatal(err)
	}
	d.waitBinding("administrator")
	code, err := d.svc.CreateBindCode(context.Background(), d.tenant, uuid.Nil)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.sb.SendText(d.admin.ID, d.group.ID, code.Command); err != nil {
		d.t.Fatal(err)
	}
	eventually(d.t, 30*time.Second, "the group is bound", func() bool {
		gs, err := d.svc.StaffGroups(context.Background(), d.tenant)
		return err == nil && len(gs) == 1 && gs[0].Status == "ok"
	})
}

// waitBinding waits until the platform recorded the bot's status in the group.
func (d *desk) waitBinding(status string) {
	d.t.Helper()
	eventually(d.t, 30*time.Second, "binding "+status, func() bool {
		var got string
		_ = env.Owner.QueryRow(context.Background(), `SELECT bot_status FROM chat_bindings WHERE bot_id = $1 AND chat_id = $2`,
			d.bot.ID, d.group.ID).Scan(&got)
		return got == status
	})
}

// liveTopics are the group's topics that are not deleted.
func (d *desk) liveTopics() []tgsandbox.TopicInfo {
	var out []tgsandbox.TopicInfo
	for _, tp := range d.sb.Topics(d.group.ID) {
		if !tp.Deleted {
			out = append(out, tp)
		}
	}
	return out
}

// topicTexts are the texts (or captions) of content messages in a topic, in order.
func (d *desk) topicTexts(thread int64) []string {
	var out []string
	for _, e := range d.sb.Transcript(d.group.ID) {
		if e.ThreadID != thread || e.Service != "" || e.Deleted {
			continue
		}
		out = append(out, e.Text+e.Caption)
	}
	return out
}

// userGot are the texts the bot sent to the user.
func (d *desk) userGot(userID int64) []string {
	var out []string
	for _, e := range d.sb.PrivateTranscript(d.bot.ID, userID) {
		if e.SenderKind == "bot" {
			out = append(out, e.Text+e.Caption)
		}
	}
	return out
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}
