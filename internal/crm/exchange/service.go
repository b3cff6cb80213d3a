// Package exchange is the platform's side of the HTTP/JSON contract with a
// tenant's own system (1C): the tenant pushes clients, balances, terminals
// and CRM events with an API key, and pulls our events (new feedback,
// callback requests, taken orders, survey answers) from a per-tenant outbox
// with a cursor, acknowledging what it processed — so their system
// initiates every exchange. docs/connectors/http-json.md is the contract.
//
// Pushed clients and CRM events become typed crm events handed to an
// EventSink (the crm service, which deduplicates them and feeds the
// automation rules); balances and terminals are kept in tables of this
// package for the features that show them.
package exchange

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// EventSink takes typed CRM events; internal/crm's service implements it
// (the same call its webhook endpoint makes). connectorID is the key's
// connector, uuid.Nil when the key names none. An error means the event was
// not taken: the push answers 503 and the tenant's system sends it again
// (the event keys make a repeat harmless).
type EventSink interface {
	HandleCRMEvent(ctx context.Context, tenantID, connectorID uuid.UUID, e crm.Event) error
}

// Errors the HTTP edge maps once.
var (
	ErrNotFound  = errors.New("exchange: not found")
	ErrBadKey    = errors.New("exchange: missing, unknown or revoked API key")
	ErrNoSink    = errors.New("exchange: CRM events are not accepted yet (no event sink)")
	ErrBadCursor = errors.New("exchange: invalid cursor")
	// ErrSinkFailed wraps the sink's error: the batch was not (wholly)
	// taken and is to be sent again.
	ErrSinkFailed = errors.New("exchange: event sink failed")
)

// FieldError names one wrong member of a request ("clients[2].phones[0]").
type FieldError struct{ Field, Code, Message string }

// InvalidError is a request that fails validation; nothing was stored.
type InvalidError struct{ Fields []FieldError }

func (e *InvalidError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "exchange: invalid: " + strings.Join(parts, "; ")
}

// Options configure the service.
type Options struct {
	// Sink receives pushed clients and CRM events; nil refuses those pushes
	// with ErrNoSink (503) rather than dropping them.
	Sink   EventSink
	Clock  clock.Clock
	Logger *slog.Logger
}

// Service runs keys, pushes and the outbox.
type Service struct {
	db    *db.DB
	sink  EventSink
	clock clock.Clock
	log   *slog.Logger
}

// NewService returns the exchange service.
func NewService(d *db.DB, o Options) *Service {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{db: d, sink: o.Sink, clock: o.Clock, log: o.Logger}
}

// SetSink attaches the event sink after construction (the crm service is
// built after this one in internal/app).
func (s *Service) SetSink(sink EventSink) { s.sink = sink }
