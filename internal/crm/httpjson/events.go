package httpjson

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// EventIn is one CRM event as the tenant's system sends it (schema
// "CRMEvent" in docs/connectors/http-json.md), pushed either to the
// exchange API (POST /api/v1/exchange/deals/events, API key) or to the
// connector's webhook (signed with WebhookSecret).
type EventIn struct {
	// ID is the tenant's id of this occurrence: a redelivery repeats it,
	// and it is what duplicates are recognised by.
	ID          string         `json:"id"`
	Type        string         `json:"type"`
	DealID      string         `json:"deal_id,omitempty"`
	ContactID   string         `json:"contact_id,omitempty"`
	PipelineID  string         `json:"pipeline_id,omitempty"`
	StageID     string         `json:"stage_id,omitempty"`
	PrevStageID string         `json:"prev_stage_id,omitempty"`
	Fields      map[string]any `json:"fields,omitempty"`
	OccurredAt  time.Time      `json:"occurred_at"`
}

// FieldError names what is wrong with a member of a pushed document.
type FieldError struct{ Field, Code, Message string }

const maxIDLen = 200

// Validate checks e (at path, e.g. "events[3]") and returns what is wrong.
func (e EventIn) Validate(path string) []FieldError {
	var errs []FieldError
	add := func(field, code, msg string) { errs = append(errs, FieldError{path + "." + field, code, msg}) }
	if strings.TrimSpace(e.ID) == "" || len(e.ID) > maxIDLen {
		add("id", "required", "the event's own id (1–200 characters), repeated on redelivery")
	}
	switch crm.EventType(e.Type) {
	case crm.DealAdded, crm.DealFieldChanged, crm.DealDeleted:
		if e.DealID == "" {
			add("deal_id", "required", "the deal's id")
		}
	case crm.DealStageEntered:
		if e.DealID == "" {
			add("deal_id", "required", "the deal's id")
		}
		if e.StageID == "" {
			add("stage_id", "required", "the stage the deal entered")
		}
	case crm.ContactChanged:
		if e.ContactID == "" {
			add("contact_id", "required", "the client's id")
		}
	default:
		add("type", "invalid", "one of deal.added, deal.stage_entered, deal.field_changed, deal.deleted, contact.changed")
	}
	for _, s := range []struct{ name, v string }{{"deal_id", e.DealID}, {"contact_id", e.ContactID},
		{"pipeline_id", e.PipelineID}, {"stage_id", e.StageID}, {"prev_stage_id", e.PrevStageID}} {
		if len(s.v) > maxIDLen {
			add(s.name, "too_long", "at most 200 characters")
		}
	}
	if e.OccurredAt.IsZero() {
		add("occurred_at", "required", "when it happened (RFC 3339)")
	}
	return errs
}

// Event converts a valid EventIn to a typed event; the key is the tenant's
// event id, prefixed so it cannot collide with other connectors' keys.
func (e EventIn) Event() crm.Event {
	return crm.Event{
		Type:        crm.EventType(e.Type),
		Key:         "httpjson:" + e.ID,
		DealID:      e.DealID,
		ContactID:   e.ContactID,
		PipelineID:  e.PipelineID,
		StageID:     e.StageID,
		PrevStageID: e.PrevStageID,
		Fields:      e.Fields,
		OccurredAt:  e.OccurredAt.UTC(),
	}
}

// MaxEvents caps one pushed batch.
const MaxEvents = 1000

// ParseWebhook accepts {"events": [CRMEvent, ...]} signed with the
// connector's webhook secret: X-Signature: sha256=<hex HMAC-SHA256 of the
// body>. Without a configured secret every webhook is refused (ErrForged):
// such tenants push through the exchange API with an API key instead.
func (c *Client) ParseWebhook(_ context.Context, r crm.WebhookRequest) ([]crm.Event, error) {
	if c.secret == "" || !ValidSignature(c.secret, r.Body, r.Header.Get("X-Signature")) {
		return nil, fmt.Errorf("httpjson: webhook: %w: X-Signature does not match", crm.ErrForged)
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	var doc struct {
		Events []EventIn `json:"events"`
	}
	if err := dec.Decode(&doc); err != nil || dec.More() {
		return nil, fmt.Errorf("httpjson: webhook: %w: not the documented JSON", crm.ErrMalformed)
	}
	if len(doc.Events) == 0 || len(doc.Events) > MaxEvents {
		return nil, fmt.Errorf("httpjson: webhook: %w: 1 to %d events", crm.ErrMalformed, MaxEvents)
	}
	out := make([]crm.Event, 0, len(doc.Events))
	for i, e := range doc.Events {
		if errs := e.Validate(fmt.Sprintf("events[%d]", i)); len(errs) > 0 {
			return nil, fmt.Errorf("httpjson: webhook: %w: %s: %s", crm.ErrMalformed, errs[0].Field, errs[0].Message)
		}
		out = append(out, e.Event())
	}
	return out, nil
}

// Sign returns the X-Signature value for body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ValidSignature compares in constant time.
func ValidSignature(secret string, body []byte, got string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(strings.TrimSpace(got)))
}
