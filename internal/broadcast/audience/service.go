// Package audience is who a broadcast reaches (docs/audience.md). Every
// person a bot has met is a subscriber of that bot — a bot chat (DESIGN.md
// 4a) with the contact's attributes: language, first and last seen, tags,
// custom fields, the deep links they came by, phone known or not, support
// requests, per-topic subscription switches, /stop, and whether Telegram
// still lets the bot write to them. Segments are saved filters over these
// (AND/OR groups of conditions), each compiled to one parameterised query;
// the campaign engine pages through a segment with Page and sizes it with
// Count. People manage their subscriptions in the bot: a notifications menu
// with a switch per topic, and /stop.
package audience

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// Errors.
var (
	ErrNotFound     = errors.New("audience: not found")
	ErrNameTaken    = errors.New("audience: a segment with this name exists")
	ErrUnknownTopic = errors.New("audience: unknown subscription topic")
	ErrUnknownBot   = errors.New("audience: unknown bot")
	ErrInUse        = errors.New("audience: the segment is used by a campaign")
)

// FieldError names what is wrong in a request, e.g. the condition
// "filter.conditions[1].value".
type FieldError struct{ Field, Code, Message string }

// InvalidError lists every field error of a request.
type InvalidError struct{ Fields []FieldError }

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "audience: invalid: " + strings.Join(parts, "; ")
}

func invalid(field, code, msg string) error {
	return &InvalidError{Fields: []FieldError{{Field: field, Code: code, Message: msg}}}
}

// Texts gives tenant texts (*tenant.Service).
type Texts interface {
	Text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string
}

// SettingsSource gives a tenant's settings (*tenant.Service): the topic set
// lives in feature_settings.broadcasts.subscriptions.
type SettingsSource interface {
	Settings(ctx context.Context, tenantID uuid.UUID) (tenant.Settings, error)
}

// Options tune the service.
type Options struct {
	Clock  clock.Clock
	Logger *slog.Logger
}

// Service holds audiences and segments; safe for concurrent use.
type Service struct {
	db       *db.DB
	texts    Texts
	settings SettingsSource
	clock    clock.Clock
	log      *slog.Logger
}

// NewService builds the service.
func NewService(d *db.DB, texts Texts, settings SettingsSource, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{db: d, texts: texts, settings: settings, clock: opts.Clock, log: opts.Logger}
}

// Recipient is one person a campaign sends to.
type Recipient struct {
	BotChatID uuid.UUID
	ContactID uuid.UUID
	ChatID    int64
	Lang      string
	FirstName string
	LastName  string
	Username  string
}

// Segment is a saved filter.
type Segment struct {
	ID          uuid.UUID  `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Filter      Filter     `json:"filter"`
	CreatedBy   *uuid.UUID `json:"created_by,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// SegmentDef is what an admin writes.
type SegmentDef struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Filter      Filter `json:"filter"`
}

// Sizes is a live count: Matching is every subscriber of the bot the
// filter matches; Reachable those a campaign (of the topic) would send to.
type Sizes struct {
	Matching  int `json:"matching"`
	Reachable int `json:"count"`
}

// Page returns reachable, subscribed (to topic; "" = any) recipients of the
// bot matching the segment (uuid.Nil = every subscriber of the bot),
// ordered by BotChatID, strictly after `after`, at most limit. An unknown
// segment is ErrNotFound, an unknown topic ErrUnknownTopic.
func (s *Service) Page(ctx context.Context, tenantID uuid.UUID, botID int64, segmentID uuid.UUID, topic string, after uuid.UUID, limit int) ([]Recipient, error) {
	if limit <= 0 {
		limit = 500
	}
	limit = min(limit, 10_000)
	q, err := s.prepare(ctx, tenantID, botID, segmentID, nil, topic)
	if err != nil {
		return nil, err
	}
	out, err := q.page(ctx, s.db, after, limit)
	if err != nil {
		return nil, err
	}
	if q.defaultLang != "" {
		for i := range out {
			if out[i].Lang == "" {
				out[i].Lang = q.defaultLang
			}
		}
	}
	return out, nil
}

// Count is how many recipients Page would return in all.
func (s *Service) Count(ctx context.Context, tenantID uuid.UUID, botID int64, segmentID uuid.UUID, topic string) (int, error) {
	q, err := s.prepare(ctx, tenantID, botID, segmentID, nil, topic)
	if err != nil {
		return 0, err
	}
	sz, err := q.sizes(ctx, s.db)
	return sz.Reachable, err
}

// SegmentSizes is the live count of a saved segment on a bot.
func (s *Service) SegmentSizes(ctx context.Context, tenantID uuid.UUID, botID int64, segmentID uuid.UUID, topic string) (Sizes, error) {
	if err := s.checkBot(ctx, tenantID, botID); err != nil {
		return Sizes{}, err
	}
	q, err := s.prepare(ctx, tenantID, botID, segmentID, nil, topic)
	if err != nil {
		return Sizes{}, err
	}
	return q.sizes(ctx, s.db)
}

// Preview is the live count of an unsaved filter on a bot.
func (s *Service) Preview(ctx context.Context, tenantID uuid.UUID, botID int64, f Filter, topic string) (Sizes, error) {
	if err := s.checkBot(ctx, tenantID, botID); err != nil {
		return Sizes{}, err
	}
	q, err := s.prepare(ctx, tenantID, botID, uuid.Nil, &f, topic)
	if err != nil {
		return Sizes{}, err
	}
	return q.sizes(ctx, s.db)
}

// Validate checks a filter against the filter language and the tenant's
// topics without saving it.
func (s *Service) Validate(ctx context.Context, tenantID uuid.UUID, f Filter) error {
	topics, err := s.topicMap(ctx, tenantID)
	if err != nil {
		return err
	}
	_, err = compileFilter(f, "filter", s.clock.Now(), topics, 0)
	return err
}

// compileFilter compiles f into a boolean SQL expression whose parameters
// are numbered after the first argBase ones.
func compileFilter(f Filter, path string, now time.Time, topics map[string]Topic, argBase int) (*compiler, error) {
	cx := &compiler{now: now, topics: topics, args: make([]any, argBase)}
	expr := ""
	if !f.isGroup() && f.Field == "" && f.Op == "" && f.Value == nil {
		cx.fail(path, "empty", "a segment needs at least one condition")
	} else {
		expr = cx.node(f, path, 1)
	}
	if len(cx.errs) > 0 {
		return nil, &InvalidError{Fields: cx.errs}
	}
	cx.args = cx.args[argBase:]
	cx.expr = expr
	return cx, nil
}
