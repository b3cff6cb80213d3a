package automation

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/robfig/cron/v3"
)

// Trigger types.
const (
	TriggerStageEntered = "deal.stage_entered"
	TriggerFieldChanged = "deal.field_changed"
	TriggerDealDeleted  = "deal.deleted"
	TriggerContact      = "contact.changed"
	TriggerSchedule     = "schedule"
	TriggerBotEvent     = "bot.event"
)

var triggerTypes = []string{TriggerStageEntered, TriggerFieldChanged, TriggerDealDeleted, TriggerContact, TriggerSchedule, TriggerBotEvent}

// Bot events a rule can react to (the processor's events table and the
// survey engine's answers).
var botEvents = []string{"started", "contact_shared", "survey_answered", "unsubscribed"}

// Action types.
const (
	ActionDispatchPost  = "dispatch.post"
	ActionSequenceStart = "sequence.start"
	ActionSequenceStop  = "sequence.stop"
	ActionMessageSend   = "message.send"
	ActionSurveySend    = "survey.send"
	ActionTagAdd        = "tag.add"
	ActionTagRemove     = "tag.remove"
	ActionCRMUpdate     = "crm.update"
	ActionStaffNotify   = "staff.notify"
)

var actionTypes = []string{ActionDispatchPost, ActionSequenceStart, ActionSequenceStop, ActionMessageSend, ActionSurveySend,
	ActionTagAdd, ActionTagRemove, ActionCRMUpdate, ActionStaffNotify}

// Trigger says which events a rule looks at. Empty members match anything.
type Trigger struct {
	Type        string     `json:"type"`
	ConnectorID *uuid.UUID `json:"connector_id,omitempty"`
	PipelineID  string     `json:"pipeline_id,omitempty"`
	StageID     string     `json:"stage_id,omitempty"`
	// Field: deal.field_changed fires only when this field is among the changed ones.
	Field string `json:"field,omitempty"`
	// Cron: schedule rules, standard five fields in the tenant's time zone.
	Cron string `json:"cron,omitempty"`
	// Event and Payload: bot.event rules (Payload is a prefix of the
	// /start payload for "started").
	Event   string `json:"event,omitempty"`
	Payload string `json:"payload,omitempty"`
}

// Condition compares one fact of the event or the contact (event.stage_id,
// event.fields.<id>, contact.tags, contact.phone, contact.language,
// contact.custom.<key>, bot.payload) with Value.
type Condition struct {
	Field string `json:"field"`
	// Op: eq, ne, in, contains, exists, not_exists, gt, lt.
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Action is one thing a rule does; Params depend on Type (docs/automation.md).
type Action struct {
	Type   string          `json:"type"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Rule is a tenant's automation rule.
type Rule struct {
	ID         uuid.UUID   `json:"id"`
	Name       string      `json:"name"`
	Enabled    bool        `json:"enabled"`
	Trigger    Trigger     `json:"trigger"`
	Conditions []Condition `json:"conditions"`
	Actions    []Action    `json:"actions"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// RuleDef creates or replaces a rule.
type RuleDef struct {
	Name       string      `json:"name"`
	Enabled    *bool       `json:"enabled"`
	Trigger    Trigger     `json:"trigger"`
	Conditions []Condition `json:"conditions"`
	Actions    []Action    `json:"actions"`
}

// InvalidError names the field that is wrong.
type InvalidError struct{ Field, Code, Message string }

func (e *InvalidError) Error() string { return "automation: " + e.Field + ": " + e.Message }

func invalid(field, code, msg string) error {
	return &InvalidError{Field: field, Code: code, Message: msg}
}

var condOps = []string{"eq", "ne", "in", "contains", "exists", "not_exists", "gt", "lt"}

func (d *RuleDef) validate() error {
	d.Name = strings.TrimSpace(d.Name)
	if n := len([]rune(d.Name)); n < 1 || n > 200 {
		return invalid("name", "invalid_length", "must be 1–200 characters")
	}
	if !slices.Contains(triggerTypes, d.Trigger.Type) {
		return invalid("trigger.type", "invalid_value", "must be one of "+strings.Join(triggerTypes, ", "))
	}
	switch d.Trigger.Type {
	case TriggerSchedule:
		if _, err := cron.ParseStandard(d.Trigger.Cron); err != nil || d.Trigger.Cron == "" || strings.Contains(d.Trigger.Cron, "TZ=") {
			return invalid("trigger.cron", "invalid_cron", "must be a five-field cron expression (the tenant's time zone applies)")
		}
	case TriggerBotEvent:
		if !slices.Contains(botEvents, d.Trigger.Event) {
			return invalid("trigger.event", "invalid_value", "must be one of "+strings.Join(botEvents, ", "))
		}
	}
	if d.Conditions == nil {
		d.Conditions = []Condition{}
	}
	for i, c := range d.Conditions {
		if c.Field == "" || len(c.Field) > 200 {
			return invalid(fmt.Sprintf("conditions[%d].field", i), "required", "must name a fact such as event.stage_id or contact.tags")
		}
		if !slices.Contains(condOps, c.Op) {
			return invalid(fmt.Sprintf("conditions[%d].op", i), "invalid_value", "must be one of "+strings.Join(condOps, ", "))
		}
	}
	if len(d.Actions) == 0 || len(d.Actions) > 20 {
		return invalid("actions", "invalid_length", "must hold 1–20 actions")
	}
	for i, a := range d.Actions {
		if !slices.Contains(actionTypes, a.Type) {
			return invalid(fmt.Sprintf("actions[%d].type", i), "invalid_value", "must be one of "+strings.Join(actionTypes, ", "))
		}
		if err := validateParams(a); err != nil {
			return invalid(fmt.Sprintf("actions[%d].params", i), "invalid_params", err.Error())
		}
	}
	return nil
}

// Action parameters.
type (
	sequenceParams struct {
		SequenceID uuid.UUID `json:"sequence_id"`
	}
	textParams struct {
		Text   string `json:"text"`
		ChatID int64  `json:"chat_id,omitempty"`
	}
	surveyParams struct {
		SurveyID uuid.UUID `json:"survey_id"`
	}
	tagParams struct {
		Tag string `json:"tag"`
	}
	crmParams struct {
		StageID string         `json:"stage_id,omitempty"`
		Fields  map[string]any `json:"fields,omitempty"`
		Note    string         `json:"note,omitempty"`
	}
)

func decode(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func validateParams(a Action) error {
	switch a.Type {
	case ActionSequenceStart:
		var p sequenceParams
		if err := decode(a.Params, &p); err != nil || p.SequenceID == uuid.Nil {
			return fmt.Errorf("needs sequence_id")
		}
	case ActionSequenceStop:
		var p sequenceParams
		if err := decode(a.Params, &p); err != nil {
			return fmt.Errorf("takes an optional sequence_id")
		}
	case ActionMessageSend, ActionStaffNotify:
		var p textParams
		if err := decode(a.Params, &p); err != nil || strings.TrimSpace(p.Text) == "" || len([]rune(p.Text)) > 4096 {
			return fmt.Errorf("needs text (1–4096 characters)")
		}
	case ActionSurveySend:
		var p surveyParams
		if err := decode(a.Params, &p); err != nil || p.SurveyID == uuid.Nil {
			return fmt.Errorf("needs survey_id")
		}
	case ActionTagAdd, ActionTagRemove:
		var p tagParams
		if err := decode(a.Params, &p); err != nil || strings.TrimSpace(p.Tag) == "" || len(p.Tag) > 100 {
			return fmt.Errorf("needs tag (1–100 characters)")
		}
	case ActionCRMUpdate:
		var p crmParams
		if err := decode(a.Params, &p); err != nil || (p.StageID == "" && len(p.Fields) == 0 && p.Note == "") {
			return fmt.Errorf("needs stage_id, fields or note")
		}
	case ActionDispatchPost:
		var p map[string]any
		if err := json.Unmarshal(orEmpty(a.Params), &p); err != nil {
			return fmt.Errorf("must be an object (dispatch settings: fields, taken_stage_id, chat_id)")
		}
	}
	return nil
}

func orEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}
