package automation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/automation"
	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/dispatch"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var nextBotID atomic.Int64

type fakeCRM struct {
	mu      sync.Mutex
	deals   map[string]crm.Deal
	updates []crm.DealUpdate
	notes   []crm.Note
	fail    error
	keys    map[string]bool // keys that succeeded: one call each, as in the crm service
}

func (f *fakeCRM) GetDeal(_ context.Context, _, _ uuid.UUID, id string) (crm.Deal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.deals[id]
	if !ok {
		return crm.Deal{}, crm.ErrNotFound
	}
	return d, nil
}

func (f *fakeCRM) UpdateDeal(_ context.Context, _, _ uuid.UUID, key string, u crm.DealUpdate) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if !f.keys[key] {
		f.keys[key] = true
		f.updates = append(f.updates, u)
	}
	return nil
}

func (f *fakeCRM) AddNote(_ context.Context, _, _ uuid.UUID, key string, n crm.Note) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if !f.keys[key] {
		f.keys[key] = true
		f.notes = append(f.notes, n)
	}
	return nil
}

func (f *fakeCRM) put(d crm.Deal) {
	f.mu.Lock()
	f.deals[d.ID] = d
	f.mu.Unlock()
}

func (f *fakeCRM) recorded() ([]crm.DealUpdate, []crm.Note) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]crm.DealUpdate{}, f.updates...), append([]crm.Note{}, f.notes...)
}

type rig struct {
	t         *testing.T
	sb        *tgsandbox.Server
	svc       *automation.Service
	disp      *dispatch.Service
	crm       *fakeCRM
	clock     *clock.Fake
	tenant    uuid.UUID
	connector uuid.UUID
	bot       tgsandbox.Bot
	group     tgsandbox.Chat
	admin     tgsandbox.User
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// crmWriter is what the rig's services call the CRM through.
type crmWriter interface {
	UpdateDeal(ctx context.Context, tenantID, connectorID uuid.UUID, key string, u crm.DealUpdate) error
	AddNote(ctx context.Context, tenantID, connectorID uuid.UUID, key string, n crm.Note) error
	GetDeal(ctx context.Context, tenantID, connectorID uuid.UUID, id string) (crm.Deal, error)
}

func newRig(t *testing.T, dispatchSettings string) *rig {
	return newRigWith(t, dispatchSettings, nil)
}

// newRigWith runs the services against w (nil: the in-memory fake).
func newRigWith(t *testing.T, dispatchSettings string, w crmWriter) *rig {
	t.Helper()
	log := discard()
	r := &rig{t: t, tenant: ids.New(), connector: ids.New(), crm: &fakeCRM{deals: map[string]crm.Deal{}, keys: map[string]bool{}},
		clock: clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))}
	var writer crmWriter = r.crm
	if w != nil {
		writer = w
	}
	settings := `{}`
	if dispatchSettings != "" {
		settings = `{"feature_settings": {"dispatch": ` + dispatchSettings + `}}`
	}
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name, settings) VALUES ($1, 'Club', $2)", r.tenant, settings); err != nil {
		t.Fatal(err)
	}
	limits := tgsandbox.Limits{Enabled: true, Scale: 100, BotPerSecond: 30, BotBurst: 30, PrivatePerSecond: 1, PrivateBurst: 3, GroupPerMinute: 20}
	r.sb = tgsandbox.New(tgsandbox.Options{Logger: log, Limits: &limits, WebhookRetryMin: 20 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond})
	sbts := httptest.NewServer(r.sb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{3}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	bs := bots.NewService(env.DB, env.Redis.Client, keyring, bots.NewTelegoAPI(sbts.URL, nil),
		bots.Options{PublicURL: "http://" + ln.Addr().String(), MaxConnections: 40, Logger: log})
	tenants := tenant.NewService(env.DB, env.Redis.Client, tenant.WithLogger(log))
	qc := queue.NewClient(env.Redis.Asynq)
	router := telegram.NewRouter(bs, env.Redis.Client, telegram.RouterOptions{Logger: log})
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: log})
	router.Mount(app)
	go func() { _ = app.Listener(ln) }()
	ob := outbox.New(env.DB, env.Redis.Client, qc, bs, outbox.Options{APIURL: sbts.URL, Limits: outbox.Limits{Scale: 100}, Logger: log})
	proc := telegram.NewProcessor(env.DB, env.Redis.Client, qc, ob, tenants, telegram.ProcessorOptions{LockTTL: 3 * time.Second, Logger: log})
	surveys := survey.NewService(env.DB, ob, tenants, survey.Options{Logger: log})
	surveys.Attach(proc)
	r.disp = dispatch.NewService(env.DB, ob, qc, writer, tenants, dispatch.Options{Logger: log})
	r.disp.Attach(proc)
	r.svc = automation.NewService(automation.Deps{DB: env.DB, Queue: qc, Outbox: ob, CRM: writer, Dispatch: r.disp,
		Surveys: surveys, Settings: tenants}, automation.Options{Clock: r.clock, Logger: log, MaxAttempts: 3})
	surveys.OnAnswer("", r.svc.OnSurveyAnswer)
	srv := queue.NewServer(env.Redis.Asynq, queue.ServerOptions{Concurrency: 8, TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: log})
	proc.Register(srv)
	ob.Register(srv)
	r.disp.Register(srv)
	r.svc.Register(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	id := 5_100_000 + nextBotID.Add(1)*7 + time.Now().UnixNano()%1000*10_000
	r.bot, err = r.sb.CreateBotWithToken(fmt.Sprintf("%d:%s", id, ids.Token(26)[:35]), fmt.Sprintf("a%d_bot", id), "Club")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Register(context.Background(), r.tenant, uuid.Nil, r.bot.Token); err != nil {
		t.Fatalf("register bot: %v", err)
	}
	r.admin = r.sb.CreateUser("Boss", "boss")
	r.group = r.sb.CreateSupergroup("Executors", r.admin.ID)
	t.Cleanup(func() {
		sbts.Close()
		_ = r.sb.Close()
		srv.Shutdown()
		_ = app.Shutdown()
		ob.Close()
		_ = qc.Close()
	})
	return r
}

// bindExecutors binds the group as the executors' chat.
func (r *rig) bindExecutors() {
	r.t.Helper()
	if err := r.sb.AddBotToChat(r.bot.ID, r.group.ID, nil); err != nil {
		r.t.Fatal(err)
	}
	eventually(r.t, "the binding", func() bool {
		var n int
		_ = env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM chat_bindings WHERE bot_id = $1 AND chat_id = $2`, r.bot.ID, r.group.ID).Scan(&n)
		return n == 1
	})
	code, err := r.disp.CreateBindCode(context.Background(), r.tenant, uuid.Nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.sb.SendText(r.admin.ID, r.group.ID, code.Command); err != nil {
		r.t.Fatal(err)
	}
	eventually(r.t, "the executors' chat is bound", func() bool {
		var purpose string
		_ = env.Owner.QueryRow(context.Background(), `SELECT purpose FROM chat_bindings WHERE bot_id = $1 AND chat_id = $2`, r.bot.ID, r.group.ID).Scan(&purpose)
		return purpose == dispatch.PurposeExecutors
	})
}

// member is a person who started the bot, linked to CRM contact crmID.
type member struct {
	user      tgsandbox.User
	contactID uuid.UUID
}

func (r *rig) member(name, crmID string) member {
	r.t.Helper()
	u := r.sb.CreateUser(name, strings.ToLower(name))
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "start", ""); err != nil {
		r.t.Fatal(err)
	}
	m := member{user: u}
	eventually(r.t, "the contact", func() bool {
		return env.Owner.QueryRow(context.Background(), `SELECT contact_id FROM bot_chats WHERE bot_id = $1 AND chat_id = $2`,
			r.bot.ID, u.ID).Scan(&m.contactID) == nil
	})
	if crmID != "" {
		if _, err := env.Owner.Exec(context.Background(), `UPDATE contacts SET crm_links = jsonb_build_object($2::text, jsonb_build_object('contact_id', $3::text)) WHERE id = $1`,
			m.contactID, r.connector.String(), crmID); err != nil {
			r.t.Fatal(err)
		}
	}
	return m
}

func (r *rig) rule(def string) automation.Rule {
	r.t.Helper()
	var d automation.RuleDef
	if err := json.Unmarshal([]byte(def), &d); err != nil {
		r.t.Fatal(err)
	}
	rule, err := r.svc.CreateRule(context.Background(), r.tenant, uuid.Nil, d)
	if err != nil {
		r.t.Fatal(err)
	}
	return rule
}

func (r *rig) sequence(def string) automation.Sequence {
	r.t.Helper()
	var d automation.SequenceDef
	if err := json.Unmarshal([]byte(def), &d); err != nil {
		r.t.Fatal(err)
	}
	q, err := r.svc.CreateSequence(context.Background(), r.tenant, uuid.Nil, d)
	if err != nil {
		r.t.Fatal(err)
	}
	return q
}

// runsSettled waits until the rule has n runs whose actions all finished.
func (r *rig) runsSettled(ruleID uuid.UUID, n int) []automation.Run {
	r.t.Helper()
	var runs []automation.Run
	eventually(r.t, fmt.Sprintf("%d settled runs", n), func() bool {
		var err error
		runs, err = r.svc.Runs(context.Background(), r.tenant, ruleID, 50)
		if err != nil || len(runs) != n {
			return false
		}
		for _, run := range runs {
			if run.Outcome == "pending" {
				return false
			}
			// A run is "failed" as soon as one action failed, while
			// another may still be pending.
			for _, a := range run.Actions {
				if a.Status == "pending" {
					return false
				}
			}
		}
		return true
	})
	return runs
}

func (r *rig) privateGot(userID int64) []string {
	var out []string
	for _, e := range r.sb.PrivateTranscript(r.bot.ID, userID) {
		if e.SenderKind == "bot" {
			out = append(out, e.Text+e.Caption)
		}
	}
	return out
}

func (r *rig) groupMessage(text string) tgsandbox.Entry {
	r.t.Helper()
	var out tgsandbox.Entry
	eventually(r.t, "a group message with "+text, func() bool {
		out = tgsandbox.Entry{}
		for _, e := range r.sb.Transcript(r.group.ID) {
			if e.SenderKind == "bot" && !e.Deleted && strings.Contains(e.Text, text) {
				out = e
			}
		}
		return out.MessageID != 0
	})
	return out
}

func buttons(e tgsandbox.Entry) map[string]string {
	var m struct {
		ReplyMarkup struct {
			InlineKeyboard [][]struct {
				Text string `json:"text"`
				Data string `json:"callback_data"`
			} `json:"inline_keyboard"`
		} `json:"reply_markup"`
	}
	_ = json.Unmarshal(e.Message, &m)
	out := map[string]string{}
	for _, row := range m.ReplyMarkup.InlineKeyboard {
		for _, b := range row {
			out[b.Text] = b.Data
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
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
