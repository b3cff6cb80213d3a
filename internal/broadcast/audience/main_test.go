package audience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var (
	now       = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	nextBotID atomic.Int64
	quiet     = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func days(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

// world is a tenant with bots and subscribers written straight into the
// tables, as the update processor, the outbox and the support desk leave them.
type world struct {
	t      *testing.T
	tenant uuid.UUID
	svc    *audience.Service
	clock  *clock.Fake
}

func newWorld(t *testing.T, settings string) *world {
	t.Helper()
	w := &world{t: t, tenant: ids.New(), clock: clock.NewFake(now)}
	if settings == "" {
		settings = "{}"
	}
	w.exec("INSERT INTO tenants (id, name, settings) VALUES ($1, 'Audience Co', $2)", w.tenant, settings)
	tenants := tenant.NewService(env.DB, env.Redis.Client, tenant.WithLogger(quiet))
	w.svc = audience.NewService(env.DB, tenants, tenants, audience.Options{Clock: w.clock, Logger: quiet})
	return w
}

func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	if _, err := env.Owner.Exec(context.Background(), sql, args...); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
}

func (w *world) bot() int64 {
	w.t.Helper()
	id := 8_100_000 + nextBotID.Add(1)*13 + time.Now().UnixNano()%1000*10_000
	w.exec(`INSERT INTO bots (id, tenant_id, public_id, token_sealed, webhook_secret) VALUES ($1, $2, $3, '\x00', '\x00')`,
		id, w.tenant, ids.Token(9))
	return id
}

// sub describes a subscriber.
type sub struct {
	lang, phone  string
	tags         []string
	custom       string
	firstSeen    time.Time
	lastSeen     time.Time
	subs         string
	unsubscribed bool
	unreachable  bool
	erased       bool
	starts       []string    // /start payloads on this bot
	tickets      []time.Time // support tickets opened
}

var nextUser atomic.Int64

// add creates a contact (or reuses contactID) and its chat with the bot;
// it returns the chat id and the contact id.
func (w *world) add(botID int64, contactID uuid.UUID, s sub) (int64, uuid.UUID) {
	w.t.Helper()
	chatID := 500_000 + nextUser.Add(1)
	if s.firstSeen.IsZero() {
		s.firstSeen = days(100)
	}
	if s.lastSeen.IsZero() {
		s.lastSeen = days(1)
	}
	if s.custom == "" {
		s.custom = "{}"
	}
	if s.subs == "" {
		s.subs = "{}"
	}
	if s.tags == nil {
		s.tags = []string{}
	}
	if contactID == uuid.Nil {
		contactID = ids.New()
		var erased *time.Time
		if s.erased {
			erased = &now
		}
		w.exec(`INSERT INTO contacts (id, tenant_id, tg_user_id, first_name, language, phone, tags, custom, erased_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, contactID, w.tenant, chatID, fmt.Sprint("u", chatID), s.lang, s.phone,
			s.tags, s.custom, erased)
	}
	w.exec(`INSERT INTO bot_chats (id, tenant_id, bot_id, contact_id, chat_id, reachable, subscriptions, unsubscribed, first_seen_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, ids.New(), w.tenant, botID, contactID, chatID, !s.unreachable, s.subs,
		s.unsubscribed, s.firstSeen, s.lastSeen)
	for _, p := range s.starts {
		payload, _ := json.Marshal(map[string]any{"payload": p})
		w.exec(`INSERT INTO events (tenant_id, contact_id, bot_id, type, payload, occurred_at) VALUES ($1, $2, $3, 'started', $4, $5)`,
			w.tenant, contactID, botID, payload, s.firstSeen)
	}
	for _, at := range s.tickets {
		status := "resolved"
		w.exec(`INSERT INTO support_tickets (id, tenant_id, bot_id, contact_id, status, opened_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			ids.New(), w.tenant, botID, contactID, status, at)
	}
	return chatID, contactID
}

func mustFilter(t *testing.T, s string) audience.Filter {
	t.Helper()
	var f audience.Filter
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatalf("filter %s: %v", s, err)
	}
	return f
}
