package audience_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/bots"
	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// rig is the sandbox, the webhook router, a worker with the processor and
// the outbox, and the audience service attached as the app wires it.
type rig struct {
	t      *testing.T
	sb     *tgsandbox.Server
	svc    *audience.Service
	tenant uuid.UUID
	bot    tgsandbox.Bot
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, tenant: ids.New()}
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name) VALUES ($1, 'Audience Bot Co')", r.tenant); err != nil {
		t.Fatal(err)
	}
	r.sb = tgsandbox.New(tgsandbox.Options{Logger: quiet, WebhookRetryMin: 20 * time.Millisecond, WebhookRetryMax: 100 * time.Millisecond})
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
		bots.Options{PublicURL: "http://" + ln.Addr().String(), MaxConnections: 40, Logger: quiet})
	tenants := tenant.NewService(env.DB, env.Redis.Client, tenant.WithLogger(quiet))
	qc := queue.NewClient(env.Redis.Asynq)
	router := telegram.NewRouter(bs, env.Redis.Client, telegram.RouterOptions{Logger: quiet})
	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: quiet})
	router.Mount(app)
	go func() { _ = app.Listener(ln) }()
	ob := outbox.New(env.DB, env.Redis.Client, qc, bs, outbox.Options{APIURL: sbts.URL, Logger: quiet})
	proc := telegram.NewProcessor(env.DB, env.Redis.Client, qc, ob, tenants, telegram.ProcessorOptions{LockTTL: 3 * time.Second, Logger: quiet})
	r.svc = audience.NewService(env.DB, tenants, tenants, audience.Options{Logger: quiet})
	r.svc.Attach(proc)
	srv := queue.NewServer(env.Redis.Asynq, queue.ServerOptions{Concurrency: 8, TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Logger: quiet})
	proc.Register(srv)
	ob.Register(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	id := 7_300_000 + nextBotID.Add(1)*7 + time.Now().UnixNano()%1000*10_000
	r.bot, err = r.sb.CreateBotWithToken(fmt.Sprintf("%d:%s", id, ids.Token(26)[:35]), fmt.Sprintf("a%d_bot", id), "Audience")
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

// lastBotMessage waits for a bot message to the user, newer than after,
// whose text contains text.
func (r *rig) lastBotMessage(userID, after int64, text string) tgsandbox.Entry {
	r.t.Helper()
	var out tgsandbox.Entry
	eventually(r.t, "a bot message with "+text, func() bool {
		for _, e := range r.sb.PrivateTranscript(r.bot.ID, userID) {
			if e.SenderKind == "bot" && e.MessageID > after && strings.Contains(e.Text, text) {
				out = e
			}
		}
		return out.MessageID != 0
	})
	return out
}

// message is a message's current state in the transcript.
func (r *rig) message(userID, id int64) tgsandbox.Entry {
	for _, e := range r.sb.PrivateTranscript(r.bot.ID, userID) {
		if e.MessageID == id {
			return e
		}
	}
	return tgsandbox.Entry{}
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
			out[b.Data] = b.Text
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

// audienceOf is who Page returns for the topic, by chat id.
func (r *rig) audienceOf(topic string) []int64 {
	r.t.Helper()
	page, err := r.svc.Page(context.Background(), r.tenant, r.bot.ID, uuid.Nil, topic, uuid.Nil, 100)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []int64
	for _, p := range page {
		out = append(out, p.ChatID)
	}
	return out
}

// press presses a button and waits for the bot's answer to it.
func (r *rig) press(userID, messageID int64, data string) tgsandbox.CallbackAnswer {
	r.t.Helper()
	q, err := r.sb.PressButton(userID, r.bot.ID, messageID, data)
	if err != nil {
		r.t.Fatal(err)
	}
	var a tgsandbox.CallbackAnswer
	eventually(r.t, "the answer to "+data, func() bool {
		var ok bool
		a, ok = r.sb.CallbackAnswer(q)
		return ok && a.Answered
	})
	return a
}

// The notifications menu: switches per topic change what Page returns;
// /stop takes the person out of every audience and its button undoes it;
// after /stop, switching one topic on subscribes to that topic only; a
// blocked bot takes them out too.
func TestNotificationsMenuAndStop(t *testing.T) {
	r := newRig(t)
	u := r.sb.CreateUserWith(tgsandbox.User{FirstName: "Анна", Username: "anna", LanguageCode: "ru"})
	other := r.sb.CreateUser("Bob", "bob")
	for _, p := range []tgsandbox.User{u, other} {
		if _, err := r.sb.SendCommand(p.ID, r.bot.ID, "start", "term_17"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both subscribers", func() bool { return len(r.audienceOf("")) == 2 })
	everyone := []int64{u.ID, other.ID}
	slices.Sort(everyone)
	same := func(topic string, want ...int64) {
		t.Helper()
		slices.Sort(want)
		eventually(t, fmt.Sprintf("audience of %q = %v", topic, want), func() bool {
			got := r.audienceOf(topic)
			slices.Sort(got)
			return slices.Equal(got, want)
		})
	}

	// The menu, in the person's language, every default topic on.
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "notifications", ""); err != nil {
		t.Fatal(err)
	}
	menu := r.lastBotMessage(u.ID, 0, "Управление оповещениями")
	b := buttons(menu)
	if b["sub:off:news"] != "✅ Новости" || b["sub:off:surveys"] != "✅ Опросы" || b["sub:off:promotions"] != "✅ Акции" || b["sub:stop"] == "" {
		t.Fatalf("menu buttons %v", b)
	}
	// A second copy of the menu, to press a stale button later.
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "settings", ""); err != nil {
		t.Fatal(err)
	}
	menu2 := r.lastBotMessage(u.ID, menu.MessageID, "Управление оповещениями")

	// News off: the menu is redrawn, the toast says so, Page(news) drops her.
	if a := r.press(u.ID, menu.MessageID, "sub:off:news"); !strings.Contains(a.Text, "Новости") {
		t.Fatalf("toast %q", a.Text)
	}
	same("news", other.ID)
	same("surveys", everyone...)
	eventually(t, "the menu redrawn", func() bool { return buttons(r.message(u.ID, menu.MessageID))["sub:on:news"] == "▫️ Новости" })
	// The stale menu still offers "news off": pressing it keeps news off
	// (buttons carry the state they ask for, not a toggle).
	r.press(u.ID, menu2.MessageID, "sub:off:news")
	same("news", other.ID)
	// And on again (each press waits for the redraw it caused).
	r.press(u.ID, menu.MessageID, "sub:on:news")
	same("news", everyone...)
	eventually(t, "the menu redrawn", func() bool { return buttons(r.message(u.ID, menu.MessageID))["sub:off:news"] != "" })
	r.press(u.ID, menu.MessageID, "sub:off:news")
	same("news", other.ID)

	// /stop: out of every audience; the answer's button resumes, keeping
	// the switches she had (news off).
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "stop", ""); err != nil {
		t.Fatal(err)
	}
	stopped := r.lastBotMessage(u.ID, menu2.MessageID, "Вы отписались от всех рассылок")
	same("", other.ID)
	same("surveys", other.ID)
	r.press(u.ID, stopped.MessageID, "sub:resume")
	same("", everyone...)
	same("surveys", everyone...)
	same("news", other.ID)
	eventually(t, "the /stop answer became the menu", func() bool {
		return buttons(r.message(u.ID, stopped.MessageID))["sub:on:news"] != ""
	})

	// /stop again, then switch surveys on from the menu: surveys only.
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "stop", ""); err != nil {
		t.Fatal(err)
	}
	same("", other.ID)
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "notifications", ""); err != nil {
		t.Fatal(err)
	}
	menu3 := r.lastBotMessage(u.ID, stopped.MessageID, "Вы отписались от всех рассылок. Включите")
	b = buttons(menu3)
	if b["sub:on:news"] == "" || b["sub:on:surveys"] == "" || b["sub:on:promotions"] == "" || b["sub:resume"] == "" {
		t.Fatalf("menu after /stop %v", b)
	}
	r.press(u.ID, menu3.MessageID, "sub:on:surveys")
	same("surveys", everyone...)
	same("news", other.ID)
	same("promotions", other.ID)
	same("", everyone...)

	// /start again does not change her choices.
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "start", "term_18"); err != nil {
		t.Fatal(err)
	}
	var starts int
	eventually(t, "the second start recorded", func() bool {
		_ = env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE tenant_id = $1 AND type = 'started'`, r.tenant).Scan(&starts)
		return starts == 3
	})
	same("news", other.ID)

	// Blocking the bot: unreachable, out of every audience.
	if err := r.sb.BlockBot(other.ID, r.bot.ID); err != nil {
		t.Fatal(err)
	}
	same("", u.ID)
	n, err := r.svc.Count(context.Background(), r.tenant, r.bot.ID, uuid.Nil, "surveys")
	if err != nil || n != 1 {
		t.Fatalf("count after the block: %d %v", n, err)
	}
	// The events tell the story for segments and analytics.
	var changes, unsubs, subs int
	_ = env.Owner.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE type = 'subscription_changed'),
		count(*) FILTER (WHERE type = 'unsubscribed'), count(*) FILTER (WHERE type = 'subscribed')
		FROM events WHERE tenant_id = $1`, r.tenant).Scan(&changes, &unsubs, &subs)
	if changes != 4 || unsubs != 2 || subs != 1 {
		t.Fatalf("events: %d changes, %d unsubscribed, %d subscribed", changes, unsubs, subs)
	}
}
