package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// handleEvent completes an event where the webhook was thin, syncs mapped
// contact fields, and hands the event to the sink. An event naming a deal
// or contact the CRM does not have, or that the rules refuse as unknown,
// is logged and counted on the connector (events_ignored, last_error), not
// retried.
func (s *Service) handleEvent(ctx context.Context, t *asynq.Task) error {
	var p eventPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	e := p.Event
	if p.ConnectorID == uuid.Nil {
		return s.deliver(ctx, p, e) // pushed by the tenant's system without a connector
	}
	var row connectorRow
	err := s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		row, err = getConnector(ctx, tx, p.ConnectorID)
		return err
	})
	if errors.Is(err, ErrConnectorNotFound) {
		s.log.Info("crm: event of a deleted connector dropped", "tenant_id", p.TenantID, "connector_id", p.ConnectorID, "key", e.Key)
		return nil
	}
	if err != nil {
		return err
	}
	if !p.Pushed {
		conn, err := s.build(p.TenantID, row)
		if err != nil {
			// A kind this worker does not know, or credentials it cannot
			// open: a deployment problem, so the event waits (retried)
			// rather than being dropped.
			return fmt.Errorf("crm: event %s: build connector: %w", e.Key, err)
		}
		if e, err = s.complete(ctx, p, conn, e); err != nil {
			switch {
			case errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalid):
				return s.ignore(ctx, p, fmt.Errorf("unknown deal %q", e.DealID))
			default:
				return s.retryLater(err)
			}
		}
	}
	if e.Type == ContactChanged {
		if err := s.syncContact(ctx, p.TenantID, row, &e); err != nil {
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
				return s.ignore(ctx, p, fmt.Errorf("unknown contact %q", e.ContactID))
			}
			return s.retryLater(err)
		}
	}
	return s.deliver(ctx, p, e)
}

// deliver hands the event to the sink.
func (s *Service) deliver(ctx context.Context, p eventPayload, e Event) error {
	s.mu.RLock()
	sink := s.sink
	s.mu.RUnlock()
	if sink == nil {
		s.log.Debug("crm: no event sink; event dropped", "tenant_id", p.TenantID, "connector_id", p.ConnectorID, "type", e.Type)
		return nil
	}
	if err := sink.HandleCRMEvent(ctx, p.TenantID, p.ConnectorID, e); err != nil {
		if errors.Is(err, ErrNotFound) {
			if p.ConnectorID == uuid.Nil {
				s.log.Warn("crm: pushed event ignored", "tenant_id", p.TenantID, "key", e.Key, "reason", err)
				return nil
			}
			return s.ignore(ctx, p, err)
		}
		return fmt.Errorf("crm: event %s: %w", e.Key, err)
	}
	return nil
}

func stageKey(connectorID uuid.UUID, dealID string) string {
	return "crm:stage:" + connectorID.String() + ":" + dealID
}

// stageMemory is how long the last seen stage of a deal is kept.
const stageMemory = 90 * 24 * time.Hour

// complete fills in what the webhook did not carry: a Resolver connector
// resolves the event against the deal's last seen stage; otherwise a deal
// event without its stage or pipeline is completed with GetDeal. The
// resolved stage is remembered for the next event of the deal.
func (s *Service) complete(ctx context.Context, p eventPayload, conn Connector, e Event) (Event, error) {
	if e.DealID == "" {
		return e, nil
	}
	key := stageKey(p.ConnectorID, e.DealID)
	if e.Type == DealDeleted {
		_ = s.rdb.Del(ctx, key).Err()
		return e, nil
	}
	if r, ok := conn.(Resolver); ok {
		last, err := s.rdb.Get(ctx, key).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return e, fmt.Errorf("%w: last stage: %v", ErrUnavailable, err)
		}
		if e, err = r.Resolve(ctx, e, last); err != nil {
			return e, err
		}
	} else if (e.Type == DealStageEntered || e.Type == DealAdded || e.Type == DealFieldChanged) && (e.StageID == "" || e.PipelineID == "") {
		d, err := conn.GetDeal(ctx, e.DealID)
		if err != nil {
			return e, err
		}
		e.StageID, e.PipelineID = d.StageID, d.PipelineID
		if e.Fields == nil {
			e.Fields = d.Fields
		}
	}
	if e.StageID != "" {
		if err := s.rdb.Set(ctx, key, e.StageID, stageMemory).Err(); err != nil {
			s.log.Warn("crm: remember stage", "connector_id", p.ConnectorID, "deal_id", e.DealID, "error", err)
		}
	}
	return e, nil
}

// retryLater keeps a CRM outage from burning the task's retries quickly:
// a 429 waits as asked.
func (s *Service) retryLater(err error) error {
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return s.rateLimited(rl.RetryAfter, err)
	}
	return fmt.Errorf("crm: event: %w", err)
}

func (s *Service) ignore(ctx context.Context, p eventPayload, why error) error {
	s.log.Warn("crm: event ignored", "tenant_id", p.TenantID, "connector_id", p.ConnectorID, "type", p.Event.Type,
		"key", p.Event.Key, "reason", why)
	wctx := context.WithoutCancel(ctx)
	return s.db.InTenant(wctx, p.TenantID, func(tx pgx.Tx) error {
		if err := countEvents(wctx, tx, p.ConnectorID, 0, 1); err != nil {
			return err
		}
		return recordOutcome(wctx, tx, p.ConnectorID, fmt.Errorf("event %s ignored: %w", p.Event.Key, why), s.clock.Now())
	})
}

// syncContact copies the mapped CRM fields of a changed contact into the
// custom attributes of every Telegram contact linked to it. When the
// webhook did not carry the mapped fields, the contact is fetched.
func (s *Service) syncContact(ctx context.Context, tenantID uuid.UUID, row connectorRow, e *Event) error {
	if len(row.Mapping.ContactFields) == 0 || e.ContactID == "" {
		return nil
	}
	has := false
	for f := range row.Mapping.ContactFields {
		if _, ok := e.Fields[f]; ok {
			has = true
		}
	}
	if !has {
		conn, err := s.build(tenantID, row)
		if err != nil {
			return err
		}
		c, err := conn.GetContact(ctx, e.ContactID)
		if err != nil {
			return err
		}
		if e.Fields == nil {
			e.Fields = map[string]any{}
		}
		for k, v := range c.Fields {
			e.Fields[k] = v
		}
	}
	patch := map[string]any{}
	for f, attr := range row.Mapping.ContactFields {
		if v, ok := e.Fields[f]; ok {
			patch[attr] = v
		}
	}
	if len(patch) == 0 {
		return nil
	}
	raw, _ := json.Marshal(patch)
	match, _ := json.Marshal(map[string]any{row.ID.String(): map[string]string{"contact_id": e.ContactID}})
	return s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE contacts SET custom = custom || $1::jsonb, updated_at = $3
			WHERE crm_links @> $2::jsonb`, raw, match, s.clock.Now())
		if err != nil {
			return fmt.Errorf("store: sync contact fields: %w", err)
		}
		if tag.RowsAffected() > 0 {
			s.log.Info("crm: contact fields synced", "tenant_id", tenantID, "connector_id", row.ID, "contacts", tag.RowsAffected())
		}
		return nil
	})
}
