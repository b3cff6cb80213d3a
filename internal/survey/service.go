// Package survey is the one survey engine (DESIGN.md 4a, docs/surveys.md):
// CSAT after a ticket, campaign surveys, NPS and rate-the-visit are all
// surveys with ordered questions (single choice, multiple choice, a 1–5 or
// 0–10 scale, free text), runs that send them to contacts or are started by
// a trigger, and answers stored per question with their time — one per
// contact and run; a second tap edits it.
//
// Button answers arrive as callback queries "sv:<run>:<position>:<action>"
// (within Telegram's 64 bytes); free-text answers through the processor's
// dialog "survey". Features learn about answers through hooks registered
// per run source (OnAnswer).
package survey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Question kinds.
const (
	KindSingle = "single"
	KindMulti  = "multi"
	KindScale  = "scale"
	KindText   = "text"
)

// Errors.
var (
	ErrNotFound = errors.New("survey: not found")
	ErrClosed   = errors.New("survey: the run is closed")
	// ErrAnswered: the questions of a survey with answers cannot change
	// (the answers would no longer mean what they meant); copy it instead.
	ErrAnswered = errors.New("survey: the survey has answers")
	// ErrSystem: a feature's system survey (csat) cannot be deleted.
	ErrSystem = errors.New("survey: a system survey")
	// ErrArchived: an archived survey starts no runs.
	ErrArchived = errors.New("survey: the survey is archived")
)

// InvalidError names the field of a survey definition that is wrong.
type InvalidError struct{ Field, Code, Message string }

func (e *InvalidError) Error() string { return "survey: " + e.Field + ": " + e.Message }

// Outbox sends Bot API calls (*outbox.Outbox). A question asked inside the
// engine's transaction is recorded with EnqueueTx and queued with
// AfterCommit once it committed, so nothing is sent for a rolled-back ask
// and no result is seen before the ask row exists.
type Outbox interface {
	Enqueue(ctx context.Context, m outbox.Message) (uuid.UUID, error)
	EnqueueTx(ctx context.Context, tx pgx.Tx, m outbox.Message) (uuid.UUID, error)
	AfterCommit(ctx context.Context, ids ...uuid.UUID) error
}

// Texts gives tenant texts (*tenant.Service).
type Texts interface {
	Text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string
}

// Enqueuer queues asynq tasks (*queue.Client).
type Enqueuer interface {
	Enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error
}

// Options tune the engine.
type Options struct {
	// TextTimeout is how long a person has to type a free-text answer
	// (default 30 min); after it the next message goes to normal routing.
	TextTimeout time.Duration
	// Queue takes the tasks of runs that ask an audience in batches
	// (schedules); without it schedules cannot be set.
	Queue Enqueuer
	// Audience gives the recipients of scheduled runs (default:
	// BotAudience, every reachable subscriber of the schedule's bot).
	Audience Audience
	// AskBatch is how many contacts one batch task asks (default 200).
	AskBatch int
	// ScanEvery is the schedule scan's period (default 1 min).
	ScanEvery time.Duration
	// StallAfter: a run still asking whose last batch is older than this
	// (Clock time) is resumed by the scan (default 2 min).
	StallAfter time.Duration
	Clock      clock.Clock
	Logger     *slog.Logger
}

// Service is the survey engine; safe for concurrent use.
type Service struct {
	db    *db.DB
	ob    Outbox
	texts Texts
	opts  Options
	clock clock.Clock
	log   *slog.Logger

	mu    sync.RWMutex
	hooks map[string][]AnswerHook
}

// NewService builds the engine.
func NewService(d *db.DB, ob Outbox, texts Texts, opts Options) *Service {
	if opts.TextTimeout <= 0 {
		opts.TextTimeout = 30 * time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Audience == nil {
		opts.Audience = NewBotAudience(d)
	}
	if opts.AskBatch <= 0 {
		opts.AskBatch = 200
	}
	if opts.ScanEvery <= 0 {
		opts.ScanEvery = time.Minute
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = 2 * time.Minute
	}
	return &Service{db: d, ob: ob, texts: texts, opts: opts, clock: opts.Clock, log: opts.Logger,
		hooks: map[string][]AnswerHook{}}
}

// Question is one question of a survey.
type Question struct {
	ID       uuid.UUID `json:"id"`
	Position int       `json:"position"`
	Kind     string    `json:"kind"`
	Prompt   string    `json:"prompt"`
	// PromptKey, when set, is a text catalogue key rendered in the
	// person's language instead of Prompt ({min} and {max} are given).
	PromptKey string   `json:"prompt_key,omitempty"`
	Options   []string `json:"options"`
	ScaleMin  int      `json:"scale_min,omitempty"`
	ScaleMax  int      `json:"scale_max,omitempty"`
	Optional  bool     `json:"optional"`
}

// Survey is a survey with its questions in order.
type Survey struct {
	ID    uuid.UUID `json:"id"`
	Key   string    `json:"key,omitempty"`
	Title string    `json:"title"`
	// ThanksSticker is a sticker file_id sent after the thanks text when a
	// contact completes the survey ("" for none).
	ThanksSticker string     `json:"thanks_sticker,omitempty"`
	Questions     []Question `json:"questions"`
	CreatedAt     time.Time  `json:"created_at"`
	ArchivedAt    *time.Time `json:"archived_at,omitempty"`
}

// Def defines a new survey; questions are numbered in the given order.
type Def struct {
	Key           string     `json:"-"`
	Title         string     `json:"title"`
	ThanksSticker string     `json:"thanks_sticker,omitempty"`
	Questions     []Question `json:"questions"`
}

// validate checks a definition; the field names follow the JSON body.
func (d *Def) validate() error {
	if d.Title == "" || len([]rune(d.Title)) > 200 {
		return &InvalidError{"title", "invalid", "1 to 200 characters"}
	}
	if err := validSticker(d.ThanksSticker); err != nil {
		return err
	}
	return validQuestions(d.Questions)
}

// validSticker: a Telegram file_id (or an HTTPS URL of a .webp), no spaces.
func validSticker(s string) error {
	if len(s) > 256 || strings.ContainsAny(s, " \t\r\n") {
		return &InvalidError{"thanks_sticker", "invalid", "a sticker file_id of at most 256 characters"}
	}
	return nil
}

// validQuestions checks and numbers questions.
func validQuestions(qs []Question) error {
	if len(qs) == 0 || len(qs) > 50 {
		return &InvalidError{"questions", "invalid", "1 to 50 questions"}
	}
	for i := range qs {
		q := &qs[i]
		f := fmt.Sprintf("questions[%d]", i)
		q.Position = i + 1
		if q.Prompt == "" && q.PromptKey == "" || len([]rune(q.Prompt)) > 1000 {
			return &InvalidError{f + ".prompt", "invalid", "1 to 1000 characters"}
		}
		switch q.Kind {
		case KindSingle, KindMulti:
			if len(q.Options) < 2 || len(q.Options) > 10 {
				return &InvalidError{f + ".options", "invalid", "2 to 10 options"}
			}
			for _, o := range q.Options {
				if o == "" || len([]rune(o)) > 60 {
					return &InvalidError{f + ".options", "invalid", "each option 1 to 60 characters"}
				}
			}
		case KindScale:
			if !(q.ScaleMin == 1 && q.ScaleMax == 5) && !(q.ScaleMin == 0 && q.ScaleMax == 10) &&
				!(q.ScaleMin == 1 && q.ScaleMax == 10) {
				return &InvalidError{f + ".scale_min", "invalid", "a scale is 1–5, 0–10 or 1–10"}
			}
			q.Options = nil
		case KindText:
			q.Options = nil
		default:
			return &InvalidError{f + ".kind", "invalid", "one of single, multi, scale, text"}
		}
		if q.Options == nil {
			q.Options = []string{}
		}
	}
	return nil
}

// CreateSurvey stores a new survey.
func (s *Service) CreateSurvey(ctx context.Context, tenantID uuid.UUID, d Def) (Survey, error) {
	if err := d.validate(); err != nil {
		return Survey{}, err
	}
	var out Survey
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = insertSurvey(ctx, tx, tenantID, d, s.clock.Now())
		return err
	})
	if err != nil {
		return Survey{}, fmt.Errorf("survey: create: %w", err)
	}
	return out, nil
}

// EnsureSurvey returns the tenant's system survey with key, creating it
// from d the first time (concurrent callers get the same one).
func (s *Service) EnsureSurvey(ctx context.Context, tenantID uuid.UUID, key string, d Def) (Survey, error) {
	d.Key = key
	if err := d.validate(); err != nil {
		return Survey{}, err
	}
	var out Survey
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = insertSurvey(ctx, tx, tenantID, d, s.clock.Now())
		if !errors.Is(err, errExists) {
			return err
		}
		var id uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT id FROM surveys WHERE key = $1`, key).Scan(&id); err != nil {
			return err
		}
		out, err = loadSurvey(ctx, tx, id)
		return err
	})
	if err != nil {
		return Survey{}, fmt.Errorf("survey: ensure %s: %w", key, err)
	}
	return out, nil
}

// Get returns a survey with its questions.
func (s *Service) Get(ctx context.Context, tenantID, id uuid.UUID) (Survey, error) {
	var out Survey
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = loadSurvey(ctx, tx, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Survey{}, err
	}
	if err != nil {
		return Survey{}, fmt.Errorf("survey: get: %w", err)
	}
	return out, nil
}

// RunSpec starts a run: Source names the feature (csat, broadcast), Ref
// what it is for; ClosesAt (optional) refuses answers after it.
type RunSpec struct {
	Source   string
	Ref      string
	ClosesAt *time.Time
}

// StartRun opens a run of a survey.
func (s *Service) StartRun(ctx context.Context, tenantID, surveyID uuid.UUID, spec RunSpec) (uuid.UUID, error) {
	id := ids.New()
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var archived bool
		if err := tx.QueryRow(ctx, `SELECT archived_at IS NOT NULL FROM surveys WHERE id = $1`, surveyID).Scan(&archived); db.IsNotFound(err) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if archived {
			return ErrArchived
		}
		_, err := tx.Exec(ctx, `INSERT INTO survey_runs (id, tenant_id, survey_id, source, ref, closes_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, tenantID, surveyID, spec.Source, spec.Ref, spec.ClosesAt, s.clock.Now())
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrArchived) {
		return uuid.Nil, err
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("survey: start run: %w", err)
	}
	return id, nil
}

// CloseRun closes a run: later answers are refused politely.
func (s *Service) CloseRun(ctx context.Context, tenantID, runID uuid.UUID) error {
	return s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE survey_runs SET closed_at = COALESCE(closed_at, $2) WHERE id = $1`, runID, s.clock.Now())
		if err != nil {
			return fmt.Errorf("survey: close run: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// AnswerHook learns about a stored answer (after its transaction committed).
type AnswerHook func(ctx context.Context, a Answer) error

// Answer is one stored answer with the contact's answers so far.
type Answer struct {
	TenantID  uuid.UUID
	RunID     uuid.UUID
	Source    string
	Ref       string
	ContactID uuid.UUID
	BotID     int64
	ChatID    int64
	Question  Question
	Value     Value
	// Edited: the contact changed an earlier answer to this question.
	Edited bool
	// Completed: this answer finished the survey for the contact.
	Completed bool
	// All are the contact's answers in this run by question position.
	All map[int]Value
}

// Value is an answer's content.
type Value struct {
	Choices []int  `json:"choices,omitempty"`
	Value   *int   `json:"value,omitempty"`
	Text    string `json:"text,omitempty"`
	Skipped bool   `json:"skipped,omitempty"`
}

// OnAnswer registers fn for answers in runs of source ("" for all).
func (s *Service) OnAnswer(source string, fn AnswerHook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[source] = append(s.hooks[source], fn)
}

func (s *Service) fire(ctx context.Context, a Answer) error {
	s.mu.RLock()
	hs := append(append([]AnswerHook{}, s.hooks[a.Source]...), s.hooks[""]...)
	s.mu.RUnlock()
	var errs []error
	for _, h := range hs {
		if err := h(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
