package dispatch_test

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

	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/dispatch"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var nextBotID atomic.Int64

// fakeCRM is a CRMWriter that keeps deals in memory, records calls and
// fails while fail is set. Like the crm service, a key that succeeded
// before is one call: it is not recorded again.
type fakeCRM struct {
	mu      sync.Mutex
	deals   map[string]crm.Deal
	updates []crm.DealUpdate
	notes   []crm.Note
	fail    error
	calls   int
	keys    map[string]bool
}

func newFakeCRM() *fakeCRM { return &fakeCRM{deals: map[string]crm.Deal{}, keys: map[string]bool{}} }

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
	f.calls++
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
	f.calls++
	if f.fail != nil {
		return f.fail
	}
	if !f.keys[key] {
		f.keys[key] = true
		f.notes = append(f.notes, n)
	}
	return nil
}

func (f *fakeCRM) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeCRM) recorded() ([]crm.DealUpdate, []crm.Note) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]crm.DealUpdate{}, f.updates...), append([]crm.Note{}, f.notes...)
}

// rig is the sandbox, the webhook router, a worker with the processor,
// the outbox and the dispatch desk wired as the lead wires them.
type rig struct {
	t         *testing.T
	sb        *tgsandbox.Server
	svc       *dispatch.Service
	crm       *fakeCRM
	tenant    uuid.UUID
	connector uuid.UUID
	bot       tgsandbox.Bot
	group     tgsandbox.Chat
	admin     tgsandbox.User
}

type rigOpts struct {
	settings string // the tenant's "dispatch" settings (JSON object)
	members  []int64
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	log := discard()
	r := &rig{t: t, tenant: ids.New(), connector: ids.New(), crm: newFakeCRM()}
	settings := `{}`
	if o.settings != "" {
		settings = `{"feature_settings": {"dispatch": ` + o.settings + `}}`
	}
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name, settings) VALUES ($1, 'Courier Co', $2)", r.tenant, settings); err != nil {
		t.Fatal(err)
	}
	limits := tgsandbox.Limits{Enabled: true, Scale: 100, BotPerSecond: 30, BotBurst: 30, PrivatePerSecond: 1, PrivateBurst: 3, GroupPerMinute: 20}
	r.sb = tgsandbox.New(tgsandbox.Options{Logger: log, Limits: &limits, WebhookRetryMin: 20 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond})
	sbts := httptest.NewServer(r.sb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{5}, 32), nil)
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
	r.svc = dispatch.NewService(env.DB, ob, qc, r.crm, tenants, dispatch.Options{Logger: log})
	r.svc.Attach(proc)
	srv := queue.NewServer(env.Redis.Asynq, queue.ServerOptions{Concurrency: 8, TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: log})
	proc.Register(srv)
	ob.Register(srv)
	r.svc.Register(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	id := 6_100_000 + nextBotID.Add(1)*7 + time.Now().UnixNano()%1000*10_000
	r.bot, err = r.sb.CreateBotWithToken(fmt.Sprintf("%d:%s", id, ids.Token(26)[:35]), fmt.Sprintf("d%d_bot", id), "Dispatch")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Register(context.Background(), r.tenant, uuid.Nil, r.bot.Token); err != nil {
		t.Fatalf("register bot: %v", err)
	}
	r.admin = r.sb.CreateUser("Boss", "boss")
	r.group = r.sb.CreateSupergroup("Executors", append([]int64{r.admin.ID}, o.members...)...)
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

// bind adds the bot to the group and binds it as the executors' chat.
func (r *rig) bind() {
	r.t.Helper()
	if err := r.sb.AddBotToChat(r.bot.ID, r.group.ID, nil); err != nil {
		r.t.Fatal(err)
	}
	eventually(r.t, "the binding", func() bool {
		var n int
		_ = env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM chat_bindings WHERE bot_id = $1 AND chat_id = $2`, r.bot.ID, r.group.ID).Scan(&n)
		return n == 1
	})
	code, err := r.svc.CreateBindCode(context.Background(), r.tenant, uuid.Nil)
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
	r.groupMessage("чат исполнителей")
}

// user creates a sandbox user who is a member of the group.
func (r *rig) user(name string) tgsandbox.User {
	u := r.sb.CreateUser(name, strings.ToLower(name))
	if err := r.sb.AddUserToChat(u.ID, r.group.ID); err != nil {
		r.t.Fatal(err)
	}
	return u
}

// executor registers u through "/start dreg" and approves them.
func (r *rig) executor(u tgsandbox.User, crmUser string) {
	r.t.Helper()
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "start", "dreg"); err != nil {
		r.t.Fatal(err)
	}
	var id uuid.UUID
	eventually(r.t, "registration", func() bool {
		return env.Owner.QueryRow(context.Background(), `SELECT id FROM dispatch_executors WHERE tenant_id = $1 AND tg_user_id = $2`, r.tenant, u.ID).Scan(&id) == nil
	})
	st := "approved"
	p := dispatch.ExecutorPatch{Status: &st}
	if crmUser != "" {
		p.CRMUserID = &crmUser
	}
	if _, err := r.svc.UpdateExecutor(context.Background(), r.tenant, uuid.Nil, id, p); err != nil {
		r.t.Fatal(err)
	}
}

// deal stores a deal in the fake CRM.
func (r *rig) deal(id, responsible string) crm.Deal {
	d := crm.Deal{ID: id, Name: "Move a sofa " + id, Price: 2500, PipelineID: "p1", StageID: "search", ResponsibleUserID: responsible,
		Fields: map[string]any{"f_terms": "Two loaders, 2 hours", "f_addr": "Lenina 1", "f_deadline": "today 18:00",
			"f_phone": "+79990001122", "f_client": "Ivan"}}
	r.crm.mu.Lock()
	r.crm.deals[id] = d
	r.crm.mu.Unlock()
	return d
}

var spec = dispatch.Config{Fields: map[string]string{"terms": "f_terms", "address": "f_addr", "deadline": "f_deadline",
	"client_phone": "f_phone", "client_name": "f_client"}}

// groupMessage waits for the bot's latest group message containing text.
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

// privateGot are the texts the bot sent to the user.
func (r *rig) privateGot(userID int64) []string {
	var out []string
	for _, e := range r.sb.PrivateTranscript(r.bot.ID, userID) {
		if e.SenderKind == "bot" {
			out = append(out, e.Text)
		}
	}
	return out
}

func (r *rig) waitPrivate(userID int64, text string) {
	r.t.Helper()
	eventually(r.t, "a private message with "+text, func() bool { return contains(r.privateGot(userID), text) })
}

func (r *rig) answer(id string) tgsandbox.CallbackAnswer {
	r.t.Helper()
	var a tgsandbox.CallbackAnswer
	eventually(r.t, "the callback answer", func() bool {
		a, _ = r.sb.CallbackAnswer(id)
		return a.Answered
	})
	return a
}

// buttons are a message's inline buttons: label -> callback_data.
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

func (r *rig) job(dealID string) dispatch.Job {
	r.t.Helper()
	jobs, err := r.svc.Jobs(context.Background(), r.tenant, "", 100)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, j := range jobs {
		if j.DealID == dealID {
			return j
		}
	}
	r.t.Fatalf("no job for deal %s", dealID)
	return dispatch.Job{}
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
