package crm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/crypto"
)

// ErrBodyTooLarge refuses a webhook over MaxWebhookBody.
var ErrBodyTooLarge = errors.New("crm: webhook body too large")

// ErrQueueUnavailable means an event could not be queued; the CRM should
// retry the delivery (503).
var ErrQueueUnavailable = errors.New("crm: event queue unavailable")

// WebhookResult counts what one delivery brought.
type WebhookResult struct {
	ConnectorID uuid.UUID
	TenantID    uuid.UUID
	Accepted    int
	Duplicates  int
}

// seenKey scopes an event key to its connector, or to the tenant for
// events pushed without one.
func seenKey(tenantID, connectorID uuid.UUID, key string) string {
	if connectorID == uuid.Nil {
		return "crm:seen:tenant:" + tenantID.String() + ":" + key
	}
	return "crm:seen:" + connectorID.String() + ":" + key
}

// HandleWebhook authenticates a delivery by the secret in its URL (constant
// time), parses it with the connector, and queues each event not seen
// before. Nothing happens unless the secret matches and the body parses.
func (s *Service) HandleWebhook(ctx context.Context, publicID, secret string, r WebhookRequest) (WebhookResult, error) {
	if len(publicID) > 64 || len(secret) > 128 {
		return WebhookResult{}, ErrConnectorNotFound
	}
	var res WebhookResult
	var sealed []byte
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		res.ConnectorID, res.TenantID, sealed, err = webhookTarget(ctx, tx, publicID)
		return err
	})
	if err != nil {
		return res, err
	}
	want, err := s.keys.Open(sealed, secretAAD(res.ConnectorID))
	if err != nil {
		return res, fmt.Errorf("crm: open webhook secret: %w", err)
	}
	if !crypto.Equal(secret, string(want)) {
		return res, fmt.Errorf("%w: wrong secret", ErrForged)
	}
	if len(r.Body) > s.opts.MaxWebhookBody {
		return res, ErrBodyTooLarge
	}
	conn, err := s.Connector(ctx, res.TenantID, res.ConnectorID)
	if err != nil {
		return res, err
	}
	events, err := conn.ParseWebhook(ctx, r)
	if err != nil {
		return res, err
	}
	for _, e := range events {
		if e.Key == "" {
			return res, fmt.Errorf("%w: event without a key", ErrMalformed)
		}
	}
	res.Accepted, res.Duplicates, err = s.accept(ctx, res.TenantID, res.ConnectorID, events, false)
	return res, err
}

// accept deduplicates events by key and queues the new ones; an event is
// forgotten again if its enqueue fails, so the sender's retry is not taken
// for a duplicate.
func (s *Service) accept(ctx context.Context, tenantID, connectorID uuid.UUID, events []Event, pushed bool) (accepted, duplicates int, err error) {
	now := s.clock.Now()
	for _, e := range events {
		if e.OccurredAt.IsZero() {
			e.OccurredAt = now
		}
		fresh, err := s.rdb.SetNX(ctx, seenKey(tenantID, connectorID, e.Key), 1, s.opts.DedupeTTL).Result()
		if err != nil {
			return accepted, duplicates, fmt.Errorf("%w: dedupe: %v", ErrQueueUnavailable, err)
		}
		if !fresh {
			duplicates++
			continue
		}
		t, opts := newEventTask(eventPayload{TenantID: tenantID, ConnectorID: connectorID, Event: e, Pushed: pushed})
		if err := s.q.Enqueue(ctx, t, opts...); err != nil {
			_ = s.rdb.Del(context.WithoutCancel(ctx), seenKey(tenantID, connectorID, e.Key)).Err()
			return accepted, duplicates, fmt.Errorf("%w: %v", ErrQueueUnavailable, err)
		}
		accepted++
	}
	if accepted > 0 && connectorID != uuid.Nil {
		if err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
			return countEvents(ctx, tx, connectorID, accepted, 0)
		}); err != nil {
			s.log.Warn("crm: count events", "connector_id", connectorID, "error", err)
		}
	}
	return accepted, duplicates, nil
}

// Ingest takes events a tenant's system pushed (the 1C exchange,
// internal/crm/exchange) into the same pipeline as webhooks: deduplicated
// by key, queued, then contact sync and the rules. connectorID is the
// pushing key's connector, uuid.Nil when none. Pushed events are complete
// by contract: they are not completed from the CRM.
func (s *Service) Ingest(ctx context.Context, tenantID, connectorID uuid.UUID, events ...Event) error {
	for _, e := range events {
		if e.Key == "" || e.Type == "" {
			return fmt.Errorf("%w: event without a type or key", ErrMalformed)
		}
	}
	if connectorID != uuid.Nil {
		if err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
			_, err := getConnector(ctx, tx, connectorID)
			return err
		}); err != nil {
			return err
		}
	}
	_, _, err := s.accept(ctx, tenantID, connectorID, events, true)
	return err
}

// Intake is Ingest as an EventSink, for the exchange:
// exchange.SetSink(crmService.Intake()).
func (s *Service) Intake() EventSink { return intake{s} }

type intake struct{ s *Service }

func (i intake) HandleCRMEvent(ctx context.Context, tenantID, connectorID uuid.UUID, e Event) error {
	return i.s.Ingest(ctx, tenantID, connectorID, e)
}
