package survey_test

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/bots"
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

// rig is the sandbox, the webhook router, a worker with the processor and
// the outbox, and the survey engine attached as the lead wires it.
type rig struct {
	t      *testing.T
	sb     *tgsandbox.Server
	svc    *survey.Service
	qc     *queue.Client
	tenant uuid.UUID
	bot    tgsandbox.Bot
}

func newRig(t *testing.T) *rig { return newRigWith(t, nil) }

// newRigWith builds the rig with engine options changed by opt (a clock, a
// batch size); the engine gets the rig's task queue.
func newRigWith(t *testing.T, opt func(*survey.Options)) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{t: t, tenant: ids.New()}
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name) VALUES ($1, 'Survey Co')", r.tenant); err != nil {
		t.Fatal(err)
	}
	r.sb = tgsandbox.New(tgsandbox.Options{Logger: log, WebhookRetryMin: 20 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond})
	sbts := httptest.NewServer(r.sb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{7}, 32), nil)
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
	ob := outbox.New(env.DB, env.Redis.Client, qc, bs, outbox.Options{APIURL: sbts.URL, Logger: log})
	proc := telegram.NewProcessor(env.DB, env.Redis.Client, qc, ob, tenants, telegram.ProcessorOptions{LockTTL: 3 * time.Second, Logger: log})
	o := survey.Options{Logger: log, Queue: qc}
	if opt != nil {
		opt(&o)
	}
	r.qc = qc
	r.svc = survey.NewService(env.DB, ob, tenants, o)
	r.svc.Attach(proc)
	srv := queue.NewServer(env.Redis.Asynq, queue.ServerOptions{Concurrency: 8, TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: log})
	proc.Register(srv)
	ob.Register(srv)
	r.svc.Register(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	id := 7_100_000 + nextBotID.Add(1)*7 + time.Now().UnixNano()%1000*10_000
	r.bot, err = r.sb.CreateBotWithToken(fmt.Sprintf("%d:%s", id, ids.Token(26)[:35]), fmt.Sprintf("v%d_bot", id), "Surveys")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Register(context.Background(), r.tenant, uuid.Nil, r.bot.Token); err != nil {
		t.Fatalf("register bot: %v", err)
	}
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

// person is a sandbox user who has started the bot, with their contact.
type person struct {
	user      tgsandbox.User
	contactID uuid.UUID
	chatID    int64
}

func (r *rig) person(name string) person {
	r.t.Helper()
	u := r.sb.CreateUser(name, strings.ToLower(name))
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "start", ""); err != nil {
		r.t.Fatal(err)
	}
	p := person{user: u}
	eventually(r.t, "the contact", func() bool {
		err := env.Owner.QueryRow(context.Background(), `SELECT contact_id, chat_id FROM bot_chats WHERE bot_id = $1 AND chat_id = $2`,
			r.bot.ID, u.ID).Scan(&p.contactID, &p.chatID)
		return err == nil
	})
	return p
}

// botMessage waits for the bot's latest message to the user containing text.
func (r *rig) botMessage(userID int64, text string) tgsandbox.Entry {
	r.t.Helper()
	var out tgsandbox.Entry
	eventually(r.t, "a bot message with "+text, func() bool {
		for _, e := range r.sb.PrivateTranscript(r.bot.ID, userID) {
			if e.SenderKind == "bot" && strings.Contains(e.Text, text) {
				out = e
			}
		}
		return out.MessageID != 0
	})
	return out
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
