// Package crm connects a tenant to its CRM: one Connector interface (events
// in, actions out, look-ups) with three implementations — amocrm, bitrix24
// and httpjson (1C and anything else) — each tested against an in-repo fake
// that follows the vendor's documented contract (DESIGN.md section 6).
//
// The connector packages know their vendor's wire format and nothing about
// tenants, storage or queues; this package keeps connectors (credentials
// sealed like bot tokens), accepts their webhooks, deduplicates events and
// hands them to the automation rules, and runs every outgoing call through
// asynq with retries.
package crm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Kind names a connector implementation.
type Kind string

const (
	AmoCRM   Kind = "amocrm"
	Bitrix24 Kind = "bitrix24"
	HTTPJSON Kind = "httpjson"
)

// EventType is what happened in the CRM, in the platform's words.
type EventType string

const (
	// DealAdded: a deal was created (it also enters its first stage).
	DealAdded EventType = "deal.added"
	// DealStageEntered: a deal entered StageID of PipelineID (from PrevStageID
	// when the CRM says).
	DealStageEntered EventType = "deal.stage_entered"
	// DealFieldChanged: fields of a deal changed (Fields holds the new values
	// the CRM sent or the fetched deal has).
	DealFieldChanged EventType = "deal.field_changed"
	// DealDeleted: a deal was deleted or cancelled.
	DealDeleted EventType = "deal.deleted"
	// ContactChanged: a contact was added or changed.
	ContactChanged EventType = "contact.changed"
)

// Event is one typed CRM event. Connectors fill what their webhook carries;
// the service may complete a deal event by fetching the deal (Bitrix24 sends
// only the id).
type Event struct {
	Type EventType `json:"type"`
	// Key identifies this occurrence for deduplication: the same delivery
	// repeated has the same key, a later change of the same deal has another
	// (e.g. "lead:123:status:456:1700000000").
	Key         string         `json:"key"`
	AccountID   string         `json:"account_id,omitempty"`
	DealID      string         `json:"deal_id,omitempty"`
	ContactID   string         `json:"contact_id,omitempty"`
	PipelineID  string         `json:"pipeline_id,omitempty"`
	StageID     string         `json:"stage_id,omitempty"`
	PrevStageID string         `json:"prev_stage_id,omitempty"`
	Fields      map[string]any `json:"fields,omitempty"`
	OccurredAt  time.Time      `json:"occurred_at"`
}

// Deal is a CRM deal (amoCRM lead, Bitrix24 deal, 1C order).
type Deal struct {
	ID                string         `json:"id"`
	Name              string         `json:"name"`
	Price             float64        `json:"price"`
	PipelineID        string         `json:"pipeline_id"`
	StageID           string         `json:"stage_id"`
	ResponsibleUserID string         `json:"responsible_user_id"`
	ContactIDs        []string       `json:"contact_ids,omitempty"`
	Fields            map[string]any `json:"fields,omitempty"` // custom fields by field id
	UpdatedAt         time.Time      `json:"updated_at"`
}

// Contact is a CRM contact.
type Contact struct {
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	Phones []string       `json:"phones,omitempty"`
	Emails []string       `json:"emails,omitempty"`
	Fields map[string]any `json:"fields,omitempty"` // custom fields by field id
}

// DealUpdate changes a deal; nil/empty members are left alone.
type DealUpdate struct {
	DealID            string         `json:"deal_id"`
	ResponsibleUserID *string        `json:"responsible_user_id,omitempty"`
	StageID           *string        `json:"stage_id,omitempty"`
	Fields            map[string]any `json:"fields,omitempty"`
}

// ContactUpdate writes to a CRM contact: Phones are added (a phone the
// contact already has, in any spelling, is left alone; none is removed)
// and Fields set custom fields by field id (amoCRM field id, Bitrix24
// UF_CRM_* name, HTTP/JSON field name). Empty members are left alone.
type ContactUpdate struct {
	ContactID string         `json:"contact_id"`
	Phones    []string       `json:"phones,omitempty"`
	Fields    map[string]any `json:"fields,omitempty"`
}

// Note is a text attached to a deal (amoCRM note, Bitrix24 timeline comment).
type Note struct {
	DealID string `json:"deal_id"`
	Text   string `json:"text"`
}

// Pipeline, Stage, User and Field describe the CRM for the rule editor.
type Pipeline struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Stages []Stage `json:"stages"`
}

type Stage struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

type Field struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Entity string `json:"entity"` // deal or contact
}

// WebhookRequest is an incoming CRM webhook as the HTTP edge received it.
type WebhookRequest struct {
	ContentType string
	Query       url.Values
	Header      http.Header
	Body        []byte
}

// Connector is one tenant's connection to one CRM account. Implementations
// are safe for concurrent use; they respect the vendor's request rate
// (through the Limiter they were built with) and map vendor errors to the
// errors below.
type Connector interface {
	Kind() Kind
	// ParseWebhook authenticates (where the vendor signs or carries a token)
	// and decodes a webhook into events; ErrForged or ErrMalformed refuse it.
	ParseWebhook(ctx context.Context, r WebhookRequest) ([]Event, error)
	GetDeal(ctx context.Context, id string) (Deal, error)
	GetContact(ctx context.Context, id string) (Contact, error)
	// FindContactByPhone returns ErrNotFound when no contact has the phone.
	FindContactByPhone(ctx context.Context, phone string) (Contact, error)
	UpdateDeal(ctx context.Context, u DealUpdate) error
	AddNote(ctx context.Context, n Note) error
	// UpdateContact adds phones to and sets fields of a contact
	// (write-back); ErrNotFound when the contact is gone.
	UpdateContact(ctx context.Context, u ContactUpdate) error
	Pipelines(ctx context.Context) ([]Pipeline, error)
	Users(ctx context.Context) ([]User, error)
	Fields(ctx context.Context) ([]Field, error)
}

// Limiter spaces a connector's calls to the vendor's account limit (amoCRM 7
// requests/s, Bitrix24 about 2/s), shared across processes (Redis).
type Limiter interface {
	Wait(ctx context.Context, key string) error
}

// Errors every connector maps its vendor's answers to.
var (
	ErrNotFound     = errors.New("crm: not found")
	ErrUnauthorized = errors.New("crm: unauthorized") // token expired or revoked
	ErrForged       = errors.New("crm: webhook not authentic")
	ErrMalformed    = errors.New("crm: malformed webhook")
	ErrInvalid      = errors.New("crm: invalid request")
	ErrUnavailable  = errors.New("crm: unavailable") // 5xx, network: retry
)

// RateLimitedError is a vendor's 429; RetryAfter is how long to wait (zero
// when the vendor did not say).
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("crm: rate limited (retry after %s)", e.RetryAfter)
}

// Retryable says whether a failed call should be retried later.
func Retryable(err error) bool {
	var rl *RateLimitedError
	return errors.As(err, &rl) || errors.Is(err, ErrUnavailable)
}
