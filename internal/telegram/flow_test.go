package telegram_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// botTexts returns the bot's messages in the private chat with user.
func (st *stack) botTexts(user int64) []string {
	var out []string
	for _, e := range st.sandbox.PrivateTranscript(st.bot.ID, user) {
		if e.SenderKind == "bot" {
			out = append(out, e.Text)
		}
	}
	return out
}

func (st *stack) waitBotTexts(user int64, n int) []string {
	st.t.Helper()
	eventually(st.t, 10*time.Second, "bot replies", func() bool { return len(st.botTexts(user)) >= n })
	return st.botTexts(user)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func scalar[T any](t *testing.T, q string, args ...any) T {
	t.Helper()
	var v T
	if err := env.Owner.QueryRow(context.Background(), q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// signupDialog asks a name, then a phone with a request_contact button.
func signupDialog() *telegram.Dialog {
	return &telegram.Dialog{Name: "signup", First: "name", Timeout: 30 * time.Minute, Steps: map[string]telegram.Step{
		"name": {
			Prompt: func(ctx context.Context, in *telegram.Inbound, _ *telegram.DialogState) error {
				return in.Reply(ctx, "What is your name?", nil)
			},
			Handle: func(ctx context.Context, in *telegram.Inbound, st *telegram.DialogState) error {
				st.Set("name", in.Text)
				st.Goto("phone")
				return nil
			},
		},
		"phone": {
			Prompt: func(ctx context.Context, in *telegram.Inbound, st *telegram.DialogState) error {
				return in.Reply(ctx, "Thanks, "+st.Get("name")+". Your phone?", map[string]any{
					"keyboard":          [][]map[string]any{{{"text": "Share phone", "request_contact": true}}},
					"one_time_keyboard": true, "resize_keyboard": true,
				})
			},
			Handle: func(ctx context.Context, in *telegram.Inbound, st *telegram.DialogState) error {
				if in.Message == nil || in.Message.Contact == nil {
					return in.Reply(ctx, "Please press the button.", nil)
				}
				st.Done()
				return in.Reply(ctx, "Done: "+st.Get("name")+" "+in.Message.Contact.PhoneNumber, map[string]any{"remove_keyboard": true})
			},
		},
	}}
}

func TestConversationEndToEnd(t *testing.T) {
	fake := clock.NewFake(time.Now())
	st := newStack(t, stackOpts{procOpts: telegram.ProcessorOptions{Clock: fake}})
	st.proc.RegisterDialog(signupDialog())
	st.proc.RegisterCommand("signup", func(ctx context.Context, in *telegram.Inbound) error {
		return in.StartDialog(ctx, "signup", nil)
	})
	var mu sync.Mutex
	var payloads []string
	st.proc.RegisterStartPayload("term_", func(ctx context.Context, in *telegram.Inbound) error {
		mu.Lock()
		payloads = append(payloads, in.Payload)
		mu.Unlock()
		return in.ReplyText(ctx, telegram.TextGreeting, nil)
	})
	u := st.sandbox.CreateUserWith(tgsandbox.User{FirstName: "Ann", Username: "ann", LanguageCode: "ru"})
	greet := textValues[telegram.TextGreeting]
	send := func(text string) {
		t.Helper()
		if _, err := st.sandbox.SendText(u.ID, st.bot.ID, text); err != nil {
			t.Fatal(err)
		}
	}

	// /start with a deep-link payload: greeting, start event with payload.
	if _, err := st.sandbox.SendCommand(u.ID, st.bot.ID, "start", "term_17"); err != nil {
		t.Fatal(err)
	}
	st.waitBotTexts(u.ID, 1)
	if p := scalar[string](t, "SELECT payload->>'payload' FROM events WHERE type='started' AND bot_id=$1", st.bot.ID); p != "term_17" {
		t.Fatalf("start payload %q", p)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(payloads) != 1 || payloads[0] != "term_17" {
		t.Fatalf("deep-link handler saw %v", payloads)
	}
	if lang := scalar[string](t, "SELECT language FROM contacts WHERE tg_user_id=$1", u.ID); lang != "ru" {
		t.Fatalf("contact language %q", lang)
	}
	if n := scalar[int](t, "SELECT count(*) FROM bot_chats WHERE bot_id=$1 AND chat_id=$2 AND reachable", st.bot.ID, u.ID); n != 1 {
		t.Fatal("bot chat not recorded")
	}

	// A two-step dialog, end to end, with request_contact.
	send("/signup")
	st.waitBotTexts(u.ID, 2)
	send("Ann Lee")
	st.waitBotTexts(u.ID, 3)
	if kb := st.sandbox.ReplyKeyboard(st.bot.ID, u.ID); len(kb) == 0 || !json.Valid(kb) {
		t.Fatalf("no contact keyboard shown: %s", kb)
	}
	if _, err := st.sandbox.SendContact(u.ID, st.bot.ID, "+79990001122"); err != nil {
		t.Fatal(err)
	}
	got := st.waitBotTexts(u.ID, 4)
	want := []string{greet, "What is your name?", "Thanks, Ann Lee. Your phone?", "Done: Ann Lee +79990001122"}
	if !equal(got, want) {
		t.Fatalf("transcript %q, want %q", got, want)
	}
	if phone := scalar[string](t, "SELECT phone FROM contacts WHERE tg_user_id=$1", u.ID); phone != "+79990001122" {
		t.Fatalf("phone %q", phone)
	}
	if n := scalar[int](t, "SELECT count(*) FROM events WHERE type='contact_shared' AND bot_id=$1", st.bot.ID); n != 1 {
		t.Fatal("contact_shared event missing")
	}
	// The dialog is over: a plain message reaches normal routing.
	send("hello")
	got = st.waitBotTexts(u.ID, 5)
	if got[4] != greet {
		t.Fatalf("after the dialog: %q", got[4])
	}

	// /cancel ends a dialog.
	send("/signup")
	st.waitBotTexts(u.ID, 6)
	send("/cancel")
	got = st.waitBotTexts(u.ID, 7)
	if got[6] != textValues[telegram.TextDialogCancelled] {
		t.Fatalf("cancel answered %q", got[6])
	}
	send("after cancel")
	if got = st.waitBotTexts(u.ID, 8); got[7] != greet {
		t.Fatalf("after cancel: %q", got[7])
	}

	// A timed-out dialog answers the timeout text, then routes normally.
	send("/signup")
	st.waitBotTexts(u.ID, 9)
	fake.Advance(31 * time.Minute)
	send("too late")
	got = st.waitBotTexts(u.ID, 11)
	if got[9] != textValues[telegram.TextDialogTimeout] || got[10] != greet {
		t.Fatalf("timeout: %q", got[9:])
	}

	// The user blocks the bot: the chat is unreachable, and back on unblock.
	if err := st.sandbox.BlockBot(u.ID, st.bot.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "bot_blocked recorded", func() bool {
		return scalar[bool](t, "SELECT NOT reachable AND blocked_at IS NOT NULL FROM bot_chats WHERE bot_id=$1 AND chat_id=$2", st.bot.ID, u.ID)
	})
	if n := scalar[int](t, "SELECT count(*) FROM events WHERE type='bot_blocked' AND bot_id=$1", st.bot.ID); n != 1 {
		t.Fatal("bot_blocked event missing")
	}
	if err := st.sandbox.UnblockBot(u.ID, st.bot.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "bot_unblocked recorded", func() bool {
		return scalar[bool](t, "SELECT reachable FROM bot_chats WHERE bot_id=$1 AND chat_id=$2", st.bot.ID, u.ID)
	})

	// /stop unsubscribes.
	send("/stop")
	eventually(t, 10*time.Second, "unsubscribed", func() bool {
		return scalar[bool](t, "SELECT unsubscribed FROM bot_chats WHERE bot_id=$1 AND chat_id=$2", st.bot.ID, u.ID)
	})
}

func TestGroupBindingsFollowMigration(t *testing.T) {
	st := newStack(t, stackOpts{})
	var mu sync.Mutex
	var seen []string
	st.proc.RegisterGroupHandler("staff_support", func(_ context.Context, in *telegram.Inbound) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, in.Text)
		return nil
	})
	admin := st.sandbox.CreateUser("Boss", "boss")
	g := st.sandbox.CreateGroup("Staff", admin.ID)
	if err := st.sandbox.AddBotToChat(st.bot.ID, g.ID, &tgsandbox.Rights{CanManageChat: true, CanDeleteMessages: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "binding created", func() bool {
		return scalar[int](t, "SELECT count(*) FROM chat_bindings WHERE bot_id=$1 AND chat_id=$2 AND bot_status='administrator'", st.bot.ID, g.ID) == 1
	})
	if r := scalar[bool](t, "SELECT (rights->>'can_delete_messages')::boolean FROM chat_bindings WHERE chat_id=$1", g.ID); !r {
		t.Fatal("rights not stored")
	}
	if _, err := env.Owner.Exec(context.Background(), "UPDATE chat_bindings SET purpose='staff_support' WHERE chat_id=$1", g.ID); err != nil {
		t.Fatal(err)
	}
	sg, err := st.sandbox.MigrateToSupergroup(g.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			rows, _ := env.Owner.Query(context.Background(), "SELECT chat_id, chat_type, purpose, bot_status FROM chat_bindings WHERE bot_id=$1", st.bot.ID)
			for rows.Next() {
				vals, _ := rows.Values()
				t.Logf("binding %v", vals)
			}
			rows.Close()
			rows, _ = env.Owner.Query(context.Background(), "SELECT type, payload::text FROM events WHERE bot_id=$1", st.bot.ID)
			for rows.Next() {
				vals, _ := rows.Values()
				t.Logf("event %v", vals)
			}
			rows.Close()
		}
	}()
	eventually(t, 10*time.Second, "binding moved", func() bool {
		return scalar[int](t, "SELECT count(*) FROM chat_bindings WHERE bot_id=$1 AND chat_id=$2 AND purpose='staff_support' AND chat_type='supergroup'", st.bot.ID, sg.ID) == 1 &&
			scalar[int](t, "SELECT count(*) FROM chat_bindings WHERE bot_id=$1 AND chat_id=$2", st.bot.ID, g.ID) == 0
	})
	if _, err := st.sandbox.SendText(admin.ID, sg.ID, "ticket reply"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "group handler", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0 && seen[len(seen)-1] == "ticket reply"
	})
}
