// Package broadcast sends campaigns: content for the audience of one bot (a
// segment and a subscription topic), scheduled or sent now, delivered at
// the bot's Telegram limit through the outbox at Bulk priority (a live
// reply on the same bot pre-empts it), at most once per recipient, with a
// checkpoint a restarted worker resumes from, and per-campaign stats and
// exports. The model is listmonk's campaign manager; see docs/broadcasts.md.
package broadcast

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Campaign states.
const (
	StatusDraft     = "draft"
	StatusScheduled = "scheduled"
	StatusSending   = "sending"
	StatusPaused    = "paused"
	StatusDone      = "done"
	StatusCancelled = "cancelled"
)

// Errors mapped to HTTP at the edge.
var (
	ErrNotFound = errors.New("broadcast: not found")
	// ErrState: the action is not allowed in the campaign's current state.
	ErrState = errors.New("broadcast: not allowed in this state")
)

// FieldError names one invalid field.
type FieldError struct{ Field, Code, Message string }

// InvalidError lists the invalid fields of a request.
type InvalidError struct{ Fields []FieldError }

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("broadcast: invalid")
	for _, f := range e.Fields {
		b.WriteString("; " + f.Field + ": " + f.Message)
	}
	return b.String()
}

type validator struct{ fields []FieldError }

func (v *validator) add(field, code, msg string) {
	v.fields = append(v.fields, FieldError{Field: field, Code: code, Message: msg})
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &InvalidError{Fields: v.fields}
}

func invalid(field, code, msg string) error {
	return &InvalidError{Fields: []FieldError{{field, code, msg}}}
}

// Audience pages through a campaign's recipients in bot chat id order
// (*audience.Service).
type Audience interface {
	Page(ctx context.Context, tenantID uuid.UUID, botID int64, segmentID uuid.UUID, topic string, after uuid.UUID, limit int) ([]Recipient, error)
	Count(ctx context.Context, tenantID uuid.UUID, botID int64, segmentID uuid.UUID, topic string) (int, error)
}

// Outbox sends Bot API calls (*outbox.Outbox).
type Outbox interface {
	Enqueue(ctx context.Context, m outbox.Message) (uuid.UUID, error)
	EnqueueTx(ctx context.Context, tx pgx.Tx, m outbox.Message) (uuid.UUID, error)
	EnqueueBatchTx(ctx context.Context, tx pgx.Tx, ms []outbox.Message) ([]uuid.UUID, error)
	AfterCommit(ctx context.Context, ids ...uuid.UUID) error
}

// Surveys is the survey engine (*survey.Service).
type Surveys interface {
	Get(ctx context.Context, tenantID, id uuid.UUID) (survey.Survey, error)
	StartRun(ctx context.Context, tenantID, surveyID uuid.UUID, spec survey.RunSpec) (uuid.UUID, error)
	Ask(ctx context.Context, tenantID, runID uuid.UUID, r survey.Recipient) error
	Stats(ctx context.Context, tenantID, surveyID uuid.UUID, runID *uuid.UUID) (survey.Stats, error)
}

// Texts gives tenant texts (*tenant.Service).
type Texts interface {
	Text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string
}

// SurveySource is the survey run source of campaign surveys.
const SurveySource = "broadcast"

// Options tune the service. Zero values take the defaults.
type Options struct {
	Clock  clock.Clock
	Logger *slog.Logger
	// Limits are the outbox's budgets: a campaign keeps about WindowSpan of
	// its bot's Bulk rate queued in the outbox.
	Limits outbox.Limits
	// WindowSpan is how much sending (at the bot's rate) a campaign keeps
	// queued in the outbox (default 2 s; at least MinWindow messages). Small
	// windows make pause and cancel prompt and share a bot fairly between
	// campaigns; the window must outlast one Step.
	WindowSpan time.Duration
	MinWindow  int
	// Step is the real time between two steps of a campaign's leader while
	// its window has room (default 250 ms); with a full window the next
	// step comes after WindowSpan/2.
	Step time.Duration
	// PageMax bounds the recipients taken in one step (default 1000).
	PageMax int
	// LeaseTTL is the leader lease (default 30 s real time).
	LeaseTTL time.Duration
	// HTTPClient asks the size of media given by URL (default 10 s timeout).
	HTTPClient *http.Client
	// PublicURL is where /r/ click redirects are served (tracked buttons).
	PublicURL string
	// LinkKey signs click tokens (required for tracked buttons).
	LinkKey []byte
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Limits.Scale <= 0 {
		o.Limits.Scale = 1
	}
	if o.Limits.BotPerSecond <= 0 {
		d := outbox.DefaultLimits()
		o.Limits.BotPerSecond, o.Limits.PaidPerSecond = d.BotPerSecond, d.PaidPerSecond
	}
	if o.Limits.PaidPerSecond <= 0 {
		o.Limits.PaidPerSecond = outbox.DefaultLimits().PaidPerSecond
	}
	if o.WindowSpan <= 0 {
		o.WindowSpan = 2 * time.Second
	}
	if o.MinWindow <= 0 {
		o.MinWindow = 20
	}
	if o.Step <= 0 {
		o.Step = 250 * time.Millisecond
	}
	if o.PageMax <= 0 {
		o.PageMax = 1000
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
}

// Service runs campaigns; safe for concurrent use.
type Service struct {
	db       *db.DB
	rdb      *redis.Client
	q        *queue.Client
	ob       Outbox
	audience Audience
	surveys  Surveys
	texts    Texts
	opts     Options
	clock    clock.Clock
	log      *slog.Logger
}

// NewService builds the service. surveys may be nil (no campaign surveys).
func NewService(d *db.DB, rdb *redis.Client, q *queue.Client, ob Outbox, aud Audience, surveys Surveys, texts Texts, opts Options) *Service {
	opts.defaults()
	return &Service{db: d, rdb: rdb, q: q, ob: ob, audience: aud, surveys: surveys, texts: texts, opts: opts,
		clock: opts.Clock, log: opts.Logger}
}

// Def is what an admin writes: the bot, the audience and the content.
type Def struct {
	BotID     int64      `json:"bot_id"`
	Name      string     `json:"name"`
	SegmentID *uuid.UUID `json:"segment_id,omitempty"`
	Topic     string     `json:"topic,omitempty"`
	Content   Content    `json:"content"`
	SurveyID  *uuid.UUID `json:"survey_id,omitempty"`
}

// Campaign is a stored campaign.
type Campaign struct {
	ID           uuid.UUID  `json:"id"`
	BotID        int64      `json:"bot_id"`
	Name         string     `json:"name"`
	SegmentID    *uuid.UUID `json:"segment_id,omitempty"`
	Topic        string     `json:"topic"`
	Content      Content    `json:"content"`
	SurveyID     *uuid.UUID `json:"survey_id,omitempty"`
	Status       string     `json:"status"`
	ScheduledAt  *time.Time `json:"scheduled_at,omitempty"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	AudienceSize *int       `json:"audience_size,omitempty"`
	SurveyRunID  *uuid.UUID `json:"survey_run_id,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

var topicOK = func(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return len(s) <= 64
}

// validate checks d (the bot and survey belong to the tenant, the content
// fits Telegram's limits).
func (s *Service) validate(ctx context.Context, tenantID uuid.UUID, d *Def) error {
	var v validator
	d.Name = strings.TrimSpace(d.Name)
	if n := len([]rune(d.Name)); n == 0 || n > 200 {
		v.add("name", "invalid", "1 to 200 characters")
	}
	if !topicOK(d.Topic) {
		v.add("topic", "invalid", "a subscription topic: up to 64 of a-z, 0-9, _ and -")
	}
	if d.SegmentID != nil && *d.SegmentID == uuid.Nil {
		d.SegmentID = nil
	}
	if d.SurveyID != nil && *d.SurveyID == uuid.Nil {
		d.SurveyID = nil
	}
	var found bool
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bots WHERE tenant_id = $1 AND id = $2)`, tenantID, d.BotID).Scan(&found)
	})
	if err != nil {
		return fmt.Errorf("broadcast: validate: %w", err)
	}
	if !found {
		v.add("bot_id", "not_found", "no such bot")
	}
	if d.SurveyID != nil {
		if s.surveys == nil {
			v.add("survey_id", "unavailable", "surveys are not available")
		} else if _, err := s.surveys.Get(ctx, tenantID, *d.SurveyID); errors.Is(err, survey.ErrNotFound) {
			v.add("survey_id", "not_found", "no such survey")
		} else if err != nil {
			return fmt.Errorf("broadcast: validate: survey: %w", err)
		}
	}
	if d.Content.TrackClicks && (len(s.opts.LinkKey) == 0 || s.opts.PublicURL == "") {
		v.add("content.track_clicks", "unavailable", "click tracking needs the platform's public URL")
	}
	d.Content.validate(ctx, &v, headSize(s.opts.HTTPClient))
	if (d.SegmentID != nil || d.Topic != "") && s.audience != nil && len(v.fields) == 0 {
		// An unknown segment or topic is refused now rather than when sending.
		seg := uuid.Nil
		if d.SegmentID != nil {
			seg = *d.SegmentID
		}
		_, err := s.audience.Count(ctx, tenantID, d.BotID, seg, d.Topic)
		switch {
		case err == nil:
		case errors.Is(err, audience.ErrUnknownTopic):
			v.add("topic", "not_found", "no such subscription topic")
		case errors.Is(err, audience.ErrNotFound):
			v.add("segment_id", "not_found", "no such segment")
		default:
			var inv *audience.InvalidError
			if !errors.As(err, &inv) {
				return fmt.Errorf("broadcast: validate: audience: %w", err)
			}
			v.add("segment_id", "invalid", "the segment cannot be used: "+err.Error())
		}
	}
	return v.err()
}

// Create stores a draft.
func (s *Service) Create(ctx context.Context, tenantID, userID uuid.UUID, d Def) (Campaign, error) {
	if err := s.validate(ctx, tenantID, &d); err != nil {
		return Campaign{}, err
	}
	id := ids.New()
	now := s.clock.Now()
	var by *uuid.UUID
	if userID != uuid.Nil {
		by = &userID
	}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO campaigns (id, tenant_id, bot_id, name, segment_id, topic, content, survey_id, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
			id, tenantID, d.BotID, d.Name, d.SegmentID, d.Topic, d.Content, d.SurveyID, by, now)
		return err
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("broadcast: create: %w", err)
	}
	return s.Get(ctx, tenantID, id)
}

// Update replaces a draft's (or a scheduled campaign's) definition.
func (s *Service) Update(ctx context.Context, tenantID, id uuid.UUID, d Def) (Campaign, error) {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return Campaign{}, err
	}
	if err := s.validate(ctx, tenantID, &d); err != nil {
		return Campaign{}, err
	}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE campaigns SET bot_id = $3, name = $4, segment_id = $5, topic = $6, content = $7, survey_id = $8, updated_at = $9
			WHERE tenant_id = $1 AND id = $2 AND status IN ('draft', 'scheduled')`,
			tenantID, id, d.BotID, d.Name, d.SegmentID, d.Topic, d.Content, d.SurveyID, s.clock.Now())
		if err == nil && tag.RowsAffected() == 0 {
			return ErrState
		}
		return err
	})
	if err != nil {
		return Campaign{}, wrap("update", err)
	}
	return s.Get(ctx, tenantID, id)
}

// Delete removes a campaign that is not under way (draft, done, cancelled).
func (s *Service) Delete(ctx context.Context, tenantID, id uuid.UUID) error {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return err
	}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM campaigns WHERE tenant_id = $1 AND id = $2 AND status IN ('draft', 'done', 'cancelled')`, tenantID, id)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrState
		}
		return err
	})
	return wrap("delete", err)
}

func wrap(op string, err error) error {
	var inv *InvalidError
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrState) || errors.As(err, &inv) {
		return err
	}
	return fmt.Errorf("broadcast: %s: %w", op, err)
}

// Schedule sets a draft (or a scheduled campaign) to start at `at`. A
// time without a zone ("2026-12-01T10:00") is read in the tenant's time
// zone; a time in the past is refused.
func (s *Service) Schedule(ctx context.Context, tenantID, id uuid.UUID, at string) (Campaign, error) {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return Campaign{}, err
	}
	var tzName string
	if err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT timezone FROM tenants WHERE id = $1`, tenantID).Scan(&tzName)
	}); err != nil {
		return Campaign{}, fmt.Errorf("broadcast: schedule: time zone: %w", err)
	}
	when, err := ParseLocal(at, tzName)
	if err != nil {
		return Campaign{}, invalid("at", "invalid", err.Error())
	}
	if !when.After(s.clock.Now()) {
		return Campaign{}, invalid("at", "in_past", "the time is in the past")
	}
	err = s.transition(ctx, tenantID, id, []string{StatusDraft, StatusScheduled}, StatusScheduled, "scheduled_at = $4", when.UTC())
	if err != nil {
		return Campaign{}, err
	}
	return s.Get(ctx, tenantID, id)
}

// ParseLocal reads RFC 3339 (with a zone), or a wall time
// ("2006-01-02T15:04[:05]" or "2006-01-02 15:04") in the time zone tz.
func ParseLocal(s, tz string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("a date and time such as 2026-12-01T10:00 (in the tenant's time zone, %s) or RFC 3339", loc)
}

// SendNow starts a draft or scheduled campaign at once.
func (s *Service) SendNow(ctx context.Context, tenantID, id uuid.UUID) (Campaign, error) {
	return s.start(ctx, tenantID, id, []string{StatusDraft, StatusScheduled})
}

// Resume continues a paused campaign from its checkpoint.
func (s *Service) Resume(ctx context.Context, tenantID, id uuid.UUID) (Campaign, error) {
	return s.start(ctx, tenantID, id, []string{StatusPaused})
}

func (s *Service) start(ctx context.Context, tenantID, id uuid.UUID, from []string) (Campaign, error) {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return Campaign{}, err
	}
	if err := s.transition(ctx, tenantID, id, from, StatusSending, "started_at = COALESCE(started_at, $4)", s.clock.Now()); err != nil {
		return Campaign{}, err
	}
	if err := s.enqueueStep(ctx, tenantID, id, 0); err != nil {
		// The sweeper starts the leader of a sending campaign without one.
		s.log.Warn("broadcast: enqueue leader; the sweeper retries", "tenant_id", tenantID, "campaign_id", id, "error", err)
	}
	return s.Get(ctx, tenantID, id)
}

// Pause stops taking new recipients; messages already handed to the outbox
// (at most one window, about WindowSpan of sending) still go out.
func (s *Service) Pause(ctx context.Context, tenantID, id uuid.UUID) (Campaign, error) {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return Campaign{}, err
	}
	if err := s.transition(ctx, tenantID, id, []string{StatusSending}, StatusPaused, "", nil); err != nil {
		return Campaign{}, err
	}
	return s.Get(ctx, tenantID, id)
}

// Cancel ends a campaign for good; like Pause, the window already queued
// goes out, nothing after it.
func (s *Service) Cancel(ctx context.Context, tenantID, id uuid.UUID) (Campaign, error) {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return Campaign{}, err
	}
	err := s.transition(ctx, tenantID, id, []string{StatusDraft, StatusScheduled, StatusSending, StatusPaused}, StatusCancelled,
		"finished_at = $4", s.clock.Now())
	if err != nil {
		return Campaign{}, err
	}
	return s.Get(ctx, tenantID, id)
}

// transition moves a campaign from one of from to to in one conditional
// UPDATE (two admins pressing at once: one wins, the other gets ErrState).
// set is extra assignments using $4 = arg.
func (s *Service) transition(ctx context.Context, tenantID, id uuid.UUID, from []string, to, set string, arg any) error {
	q := `UPDATE campaigns SET status = $3, updated_at = now()`
	if set != "" {
		q += ", " + set
	}
	q += ` WHERE tenant_id = $1 AND id = $2 AND status = ANY($5)`
	if set == "" {
		q = strings.Replace(q, "$5", "$4", 1)
	}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		args := []any{tenantID, id, to}
		if set != "" {
			args = append(args, arg)
		}
		args = append(args, from)
		tag, err := tx.Exec(ctx, q, args...)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrState
		}
		return err
	})
	return wrap("transition to "+to, err)
}

// Get reads one campaign.
func (s *Service) Get(ctx context.Context, tenantID, id uuid.UUID) (Campaign, error) {
	var c Campaign
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE tenant_id = $1 AND id = $2`, tenantID, id)
		var err error
		c, err = scanCampaign(row)
		return err
	})
	if db.IsNotFound(err) {
		return Campaign{}, ErrNotFound
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("broadcast: get: %w", err)
	}
	return c, nil
}

// List reads the tenant's campaigns, newest first (status "" for all).
func (s *Service) List(ctx context.Context, tenantID uuid.UUID, status string, limit int) ([]Campaign, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	out := []Campaign{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE tenant_id = $1 AND ($2 = '' OR status = $2)
			ORDER BY created_at DESC, id DESC LIMIT $3`, tenantID, status, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCampaign(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("broadcast: list: %w", err)
	}
	return out, nil
}

const campaignCols = `id, bot_id, name, segment_id, topic, content, survey_id, status, scheduled_at, started_at, finished_at,
	audience_size, survey_run_id, created_at, updated_at`

func scanCampaign(row pgx.Row) (Campaign, error) {
	var c Campaign
	err := row.Scan(&c.ID, &c.BotID, &c.Name, &c.SegmentID, &c.Topic, &c.Content, &c.SurveyID, &c.Status, &c.ScheduledAt,
		&c.StartedAt, &c.FinishedAt, &c.AudienceSize, &c.SurveyRunID, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}
