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

func seenKey(connectorID uuid.UUID, key string) string {
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
	now := s.clock.Now()
	for _, e := range events {
		if e.Key == "" {
			return res, fmt.Errorf("%w: event without a key", ErrMalformed)
		}
	}
	for _, e := range events {
		if e.OccurredAt.IsZero() {
			e.OccurredAt = now
		}
		fresh, err := s.rdb.SetNX(ctx, seenKey(res.ConnectorID, e.Key), 1, s.opts.DedupeTTL).Result()
		if err != nil {
			return res, fmt.Errorf("%w: dedupe: %v", ErrQueueUnavailable, err)
		}
		if !fresh {
			res.Duplicates++
			continue
		}
		t, opts := NewEventTask(res.TenantID, res.ConnectorID, e)
		if err := s.q.Enqueue(ctx, t, opts...); err != nil {
			// Forget the key so the CRM's retry of this delivery is not
			// taken for a duplicate.
			_ = s.rdb.Del(context.WithoutCancel(ctx), seenKey(res.ConnectorID, e.Key)).Err()
			return res, fmt.Errorf("%w: %v", ErrQueueUnavailable, err)
		}
		res.Accepted++
	}
	if res.Accepted > 0 {
		if err := s.db.InTenant(ctx, res.TenantID, func(tx pgx.Tx) error {
			return countEvents(ctx, tx, res.ConnectorID, res.Accepted, 0)
		}); err != nil {
			s.log.Warn("crm: count events", "connector_id", res.ConnectorID, "error", err)
		}
	}
	return res, nil
}
