// Package automation runs a tenant's rules (trigger -> conditions ->
// actions, stored as data) on CRM events, bot events and schedules, and
// the message sequences rules start (docs/automation.md).
//
// An event runs a rule at most once: the run row is keyed by the rule and
// the event's key, so a redelivered CRM webhook or a retried task finds it
// and runs nothing again. Each action of a run is its own asynq task, so a
// failing action is retried and visible (per rule: last runs with each
// action's outcome and error) without holding up the others.
package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/dispatch"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// Errors.
var (
	ErrNotFound = errors.New("automation: not found")
	// errPermanent marks an action failure that retrying cannot fix.
	errPermanent = errors.New("permanent")
)

// CRMWriter reaches the tenant's CRM (the crm service; durable retried
// calls). key is the call's idempotency key: the same key is one call, a
// new key a new call even with the same content. Actions use the rule
// run id and the action's index.
type CRMWriter interface {
	UpdateDeal(ctx context.Context, tenantID, connectorID uuid.UUID, key string, u crm.DealUpdate) error
	AddNote(ctx context.Context, tenantID, connectorID uuid.UUID, key string, n crm.Note) error
	GetDeal(ctx context.Context, tenantID, connectorID uuid.UUID, id string) (crm.Deal, error)
}

// Dispatcher posts job cards and keeps them in step with their deals
// (*dispatch.Service).
type Dispatcher interface {
	PostJob(ctx context.Context, tenantID, connectorID uuid.UUID, dealID, source string, over dispatch.Config) error
	HandleDealEvent(ctx context.Context, tenantID, connectorID uuid.UUID, e crm.Event) error
}

// Surveys starts survey runs and asks contacts (*survey.Service).
type Surveys interface {
	StartRun(ctx context.Context, tenantID, surveyID uuid.UUID, spec survey.RunSpec) (uuid.UUID, error)
	Ask(ctx context.Context, tenantID, runID uuid.UUID, r survey.Recipient) error
}

// Outbox sends Bot API calls (*outbox.Outbox).
type Outbox interface {
	Enqueue(ctx context.Context, m outbox.Message) (uuid.UUID, error)
	EnqueueTx(ctx context.Context, tx pgx.Tx, m outbox.Message) (uuid.UUID, error)
	AfterCommit(ctx context.Context, ids ...uuid.UUID) error
}

// Settings gives a tenant's settings (*tenant.Service): the time zone of
// schedules.
type Settings interface {
	Settings(ctx context.Context, tenantID uuid.UUID) (tenant.Settings, error)
}

// Options tune the engine.
type Options struct {
	// TickEvery is the scheduler's period: due sequence steps, schedule
	// rules and new bot events are looked at this often (default 2 s).
	TickEvery time.Duration
	// MaxAttempts bounds an action's retries (default 10).
	MaxAttempts int
	Clock       clock.Clock
	Logger      *slog.Logger
}

// Service is the rules engine; safe for concurrent use.
type Service struct {
	db       *db.DB
	q        *queue.Client
	ob       Outbox
	crm      CRMWriter
	dispatch Dispatcher
	surveys  Surveys
	settings Settings
	opts     Options
	clock    clock.Clock
	log      *slog.Logger
}

// Deps are the engine's collaborators; Dispatch and Surveys may be nil
// (their actions then fail visibly).
type Deps struct {
	DB       *db.DB
	Queue    *queue.Client
	Outbox   Outbox
	CRM      CRMWriter
	Dispatch Dispatcher
	Surveys  Surveys
	Settings Settings
}

// NewService builds the engine.
func NewService(d Deps, opts Options) *Service {
	if opts.TickEvery <= 0 {
		opts.TickEvery = 2 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{db: d.DB, q: d.Queue, ob: d.Outbox, crm: d.CRM, dispatch: d.Dispatch, surveys: d.Surveys, settings: d.Settings,
		opts: opts, clock: opts.Clock, log: opts.Logger}
}

// Event is what a rule runs on: a CRM event, a bot event or a schedule tick.
type Event struct {
	// Key deduplicates: a rule runs once per key.
	Key         string     `json:"key"`
	Source      string     `json:"source"` // crm, bot, schedule
	ConnectorID uuid.UUID  `json:"connector_id,omitempty"`
	CRM         *crm.Event `json:"crm,omitempty"`
	Bot         *BotEvent  `json:"bot,omitempty"`
	At          time.Time  `json:"at"`
}

// BotEvent is something a person did with the bot.
type BotEvent struct {
	Type      string         `json:"type"` // started, contact_shared, survey_answered, unsubscribed
	ContactID uuid.UUID      `json:"contact_id"`
	BotID     int64          `json:"bot_id"`
	Payload   map[string]any `json:"payload,omitempty"`
}

// HandleCRMEvent runs the tenant's rules on a CRM event. The crm service
// calls it from its task after deduplicating deliveries; an error makes
// that task retry, and the rule runs already recorded are not repeated.
func (s *Service) HandleCRMEvent(ctx context.Context, tenantID, connectorID uuid.UUID, e crm.Event) error {
	if s.dispatch != nil {
		if err := s.dispatch.HandleDealEvent(ctx, tenantID, connectorID, e); err != nil {
			return err
		}
	}
	at := e.OccurredAt
	if at.IsZero() {
		at = s.clock.Now()
	}
	key := e.Key
	if key == "" {
		key = fmt.Sprintf("%s:%s:%s:%d", e.Type, e.DealID+e.ContactID, e.StageID, at.UnixNano())
	}
	ev := Event{Key: "crm:" + connectorID.String() + ":" + key, Source: "crm", ConnectorID: connectorID, CRM: &e, At: at}
	// One transaction cancels the sequences the deal's stage change ends
	// and reads the rules (the live path counts its round trips).
	var rules []Rule
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		if err := s.cancelLeftStage(ctx, tx, connectorID, e); err != nil {
			return err
		}
		rules, err = loadRules(ctx, tx, triggerOf(ev))
		return err
	})
	if err != nil {
		return fmt.Errorf("automation: crm event: %w", err)
	}
	return s.run(ctx, tenantID, rules, ev)
}

// HandleBotEvent runs the tenant's bot-event rules.
func (s *Service) HandleBotEvent(ctx context.Context, tenantID uuid.UUID, key string, e BotEvent) error {
	return s.Handle(ctx, tenantID, Event{Key: "bot:" + key, Source: "bot", Bot: &e, At: s.clock.Now()})
}

// OnSurveyAnswer feeds the survey engine's answers to bot-event rules
// (register it with survey.Service.OnAnswer("")).
func (s *Service) OnSurveyAnswer(ctx context.Context, a survey.Answer) error {
	if a.Edited {
		return nil
	}
	key := fmt.Sprintf("survey:%s:%s:%s", a.RunID, a.Question.ID, a.ContactID)
	return s.HandleBotEvent(ctx, a.TenantID, key, BotEvent{Type: "survey_answered", ContactID: a.ContactID, BotID: a.BotID,
		Payload: map[string]any{"run_id": a.RunID.String(), "source": a.Source, "position": a.Question.Position,
			"completed": a.Completed, "value": a.Value.Value, "text": a.Value.Text}})
}

// Handle runs every enabled rule whose trigger and conditions match ev.
func (s *Service) Handle(ctx context.Context, tenantID uuid.UUID, ev Event) error {
	rules, err := s.rulesFor(ctx, tenantID, triggerOf(ev))
	if err != nil {
		return err
	}
	return s.run(ctx, tenantID, rules, ev)
}

// run starts a run of every rule whose trigger and conditions match ev.
func (s *Service) run(ctx context.Context, tenantID uuid.UUID, rules []Rule, ev Event) error {
	var errs []error
	for _, r := range rules {
		ok, _, err := s.matches(ctx, tenantID, r, ev)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", r.ID, err))
			continue
		}
		if ok {
			if err := s.startRun(ctx, tenantID, r, ev); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// triggerOf is the trigger type an event can fire.
func triggerOf(ev Event) string {
	switch {
	case ev.Source == "schedule":
		return TriggerSchedule
	case ev.Bot != nil:
		return TriggerBotEvent
	case ev.CRM == nil:
		return ""
	}
	switch ev.CRM.Type {
	case crm.DealStageEntered, crm.DealAdded:
		return TriggerStageEntered
	case crm.DealFieldChanged:
		return TriggerFieldChanged
	case crm.DealDeleted:
		return TriggerDealDeleted
	case crm.ContactChanged:
		return TriggerContact
	}
	return ""
}

// triggerMatches checks a rule's trigger against an event (conditions aside).
func triggerMatches(t Trigger, ev Event) (bool, string) {
	if t.Type != triggerOf(ev) {
		return false, "trigger type " + t.Type + " does not take this event"
	}
	if e := ev.CRM; e != nil {
		if t.ConnectorID != nil && *t.ConnectorID != ev.ConnectorID {
			return false, "another connector"
		}
		if t.PipelineID != "" && t.PipelineID != e.PipelineID {
			return false, "pipeline " + e.PipelineID + " is not " + t.PipelineID
		}
		if t.StageID != "" && t.StageID != e.StageID {
			return false, "stage " + e.StageID + " is not " + t.StageID
		}
		if t.Field != "" {
			if _, ok := e.Fields[t.Field]; !ok {
				return false, "field " + t.Field + " did not change"
			}
		}
	}
	if b := ev.Bot; b != nil {
		if t.Event != b.Type {
			return false, "bot event " + b.Type + " is not " + t.Event
		}
		if t.Payload != "" {
			p, _ := b.Payload["payload"].(string)
			if len(p) < len(t.Payload) || p[:len(t.Payload)] != t.Payload {
				return false, "start payload does not begin with " + t.Payload
			}
		}
	}
	return true, ""
}

// ConditionResult is one condition's verdict (dry runs show them).
type ConditionResult struct {
	Condition
	Actual any  `json:"actual"`
	OK     bool `json:"ok"`
}

// matches evaluates the trigger and the conditions.
func (s *Service) matches(ctx context.Context, tenantID uuid.UUID, r Rule, ev Event) (bool, []ConditionResult, error) {
	if ok, _ := triggerMatches(r.Trigger, ev); !ok {
		return false, nil, nil
	}
	if len(r.Conditions) == 0 {
		return true, nil, nil
	}
	f, err := s.facts(ctx, tenantID, ev)
	if err != nil {
		return false, nil, err
	}
	all := true
	out := make([]ConditionResult, 0, len(r.Conditions))
	for _, c := range r.Conditions {
		actual, ok := f[c.Field]
		res := evaluate(c, actual, ok)
		out = append(out, ConditionResult{Condition: c, Actual: actual, OK: res})
		all = all && res
	}
	return all, out, nil
}

func (s *Service) inTenant(ctx context.Context, tenantID uuid.UUID, fn func(tx pgx.Tx) error) error {
	return s.db.InTenant(ctx, tenantID, fn)
}

func marshal(v any) []byte {
	raw, _ := json.Marshal(v)
	return raw
}
