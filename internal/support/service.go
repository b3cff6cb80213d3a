// Package support is the forum-topic support desk (seed 001, docs/support.md):
// a person writes to the tenant's bot, each person gets one forum topic in the
// bot's staff supergroup, messages are relayed both ways with copyMessage,
// the topic's icon shows the status (❗ new, 📝 in work, 🏁 resolved), and
// every message is kept with who wrote it and when.
//
// Order and loss (DESIGN.md invariants 2, 3): topic creation is asynchronous
// through the outbox. Messages that arrive before the topic exists are stored
// as pending, under the topic row's lock; the topic-created result relays the
// header and then every pending message in arrival order, under the same lock,
// so a message handled concurrently is either pending (and relayed by the
// hook) or sees the open topic (and is relayed after the hook's messages).
package support

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Outbox sends Bot API calls and reports their results (*outbox.Outbox).
// Calls made inside the desk's transactions are recorded with EnqueueTx and
// queued with AfterCommit once the transaction committed (txout.go).
type Outbox interface {
	Enqueue(ctx context.Context, m outbox.Message) (uuid.UUID, error)
	EnqueueTx(ctx context.Context, tx pgx.Tx, m outbox.Message) (uuid.UUID, error)
	AfterCommit(ctx context.Context, ids ...uuid.UUID) error
	OnResult(kind string, fn outbox.ResultHook)
	// DeleteServiceMessagesOf and SeenInChat: the service messages of the
	// desk's topic changes (icon, close, reopen) are deleted; the desk tells
	// the outbox which message ids of a staff group it received.
	DeleteServiceMessagesOf(kind string)
	SeenInChat(ctx context.Context, tenantID uuid.UUID, botID, chatID int64, msgIDs ...int64) error
}

// Enqueuer queues asynq tasks (*queue.Client).
type Enqueuer interface {
	Enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error
}

// Texts gives tenant texts (*tenant.Service).
type Texts interface {
	Text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string
}

// TokenSource gives a bot's token for the one read call the desk makes
// directly, getForumTopicIconStickers (*bots.Service).
type TokenSource interface {
	BotToken(ctx context.Context, botID int64) (string, error)
}

// Options tune the desk. Zero values take the defaults.
type Options struct {
	// APIURL is the Bot API server (https://api.telegram.org or the sandbox).
	APIURL     string
	HTTPClient *http.Client
	// NotePrefix marks an agent's message in a topic as an internal note
	// that is not relayed (default "//").
	NotePrefix string
	// IconDebounce: at most one icon edit per topic per this long; the
	// latest status wins (default 10 s). Every edit posts a service message
	// that counts against the group's 20 messages a minute.
	IconDebounce time.Duration
	// IconMaxDefer: an icon edit waits while people's messages wait to be
	// relayed into the same staff group, at most this long past its due
	// time (default 10 min: a 100-message flood takes a group's budget for
	// 5 minutes; a group busier than its budget for longer still sees its
	// icons, late).
	IconMaxDefer time.Duration
	// BindCodeTTL is how long a staff-group bind code is valid (default 1 h).
	BindCodeTTL time.Duration
	// TopicCreatesPerHour caps topic creations (first ones and re-creations
	// of deleted topics) per person and bot (default 3): spam bots cannot
	// flood the staff group with topics.
	TopicCreatesPerHour int64
	// CreateRetryAfter: a topic still being created after this long is
	// asked for again on the person's next message (default 2 min), unless
	// its createForumTopic is still under way in the outbox (waiting for the
	// group's budget in a flood, or its result hook not yet run).
	CreateRetryAfter time.Duration
	// Surveys is the survey engine (*survey.Service); without it no CSAT
	// is asked.
	Surveys Surveys
	// Settings gives tenant settings (request types, CSAT switch); when
	// nil, the Texts source is used if it has them (*tenant.Service does).
	Settings SettingsSource
	// CSATWindow is how long a CSAT question takes answers (default 7 days).
	CSATWindow time.Duration
	// RouteWait: a first message whose person has not chosen a request
	// type from the routing menu by then goes to a staff group untyped on
	// their next message (default 10 min).
	RouteWait time.Duration
	// MaxFileBytes caps the file proxy (default 20 MB, the Bot API's
	// download limit).
	MaxFileBytes int64
	Clock        clock.Clock
	// ClockRate is how many Clock seconds pass per real second: 1 for the
	// real clock; tests that run the desk, the outbox and the sandbox on one
	// fast clock set it so delays handed to the queue are real.
	ClockRate float64
	Logger    *slog.Logger
}

func (o *Options) defaults() {
	if o.APIURL == "" {
		o.APIURL = "https://api.telegram.org"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if o.NotePrefix == "" {
		o.NotePrefix = "//"
	}
	if o.IconDebounce <= 0 {
		o.IconDebounce = 10 * time.Second
	}
	if o.IconMaxDefer <= 0 {
		o.IconMaxDefer = 10 * time.Minute
	}
	if o.BindCodeTTL <= 0 {
		o.BindCodeTTL = time.Hour
	}
	if o.TopicCreatesPerHour <= 0 {
		o.TopicCreatesPerHour = 3
	}
	if o.CreateRetryAfter <= 0 {
		o.CreateRetryAfter = 2 * time.Minute
	}
	if o.CSATWindow <= 0 {
		o.CSATWindow = 7 * 24 * time.Hour
	}
	if o.RouteWait <= 0 {
		o.RouteWait = 10 * time.Minute
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 20 << 20
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.ClockRate <= 0 {
		o.ClockRate = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Service is the support desk; safe for concurrent use.
type Service struct {
	db     *db.DB
	rdb    redis.UniversalClient
	q      Enqueuer
	ob     Outbox
	texts  Texts
	tokens TokenSource
	opts   Options
	clock  clock.Clock
	log    *slog.Logger

	iconsMu sync.Mutex
	icons   map[int64]map[string]string // bot -> emoji -> custom_emoji_id
}

// realDur is the real time a Clock duration takes (task delays).
func (s *Service) realDur(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.opts.ClockRate)
}

// Outbox kinds of the desk's calls; results are routed back by kind.
const (
	kindTopic    = "support.topic"     // createForumTopic; Ref "<topic id>:<generation>"
	kindHeader   = "support.header"    // the user card at the top of a topic
	kindRelayIn  = "support.relay_in"  // a person's message copied into the topic; Ref message id
	kindRelayOut = "support.relay_out" // an agent's message copied to the person; Ref message id
	kindMirror   = "support.mirror"    // a console reply mirrored into the topic
	kindState    = "support.state"     // close/reopen/icon edits
	kindNotice   = "support.notice"    // texts to the person (received, resolved)
	kindNote     = "support.note"      // the desk's notes in a topic (blocked, cannot be copied)
)

// NewService builds the desk and registers its outbox result hooks.
func NewService(d *db.DB, rdb redis.UniversalClient, q Enqueuer, ob Outbox, texts Texts, tokens TokenSource, opts Options) *Service {
	opts.defaults()
	if opts.Settings == nil {
		opts.Settings, _ = texts.(SettingsSource)
	}
	s := &Service{db: d, rdb: rdb, q: q, ob: ob, texts: texts, tokens: tokens, opts: opts, clock: opts.Clock,
		log: opts.Logger, icons: map[int64]map[string]string{}}
	if opts.Surveys != nil {
		opts.Surveys.OnAnswer(csatSource, s.onCSAT)
	}
	ob.OnResult(kindTopic, s.onTopicCreated)
	ob.OnResult(kindRelayIn, s.onRelayIn)
	ob.OnResult(kindRelayOut, s.onRelayOut)
	ob.DeleteServiceMessagesOf(kindState)
	return s
}
