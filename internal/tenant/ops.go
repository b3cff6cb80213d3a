package tenant

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Usage is what an operator sees of a tenant: identity and aggregates only,
// never its conversations, contacts or texts.
type Usage struct {
	ID        uuid.UUID `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	Members   int64     `json:"members"`
	Contacts  int64     `json:"contacts"`
	Bots      int64     `json:"bots"`
	Events24h int64     `json:"events_24h"`
	Events30d int64     `json:"events_30d"`
}

// Statuses a tenant can have.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// ListUsage returns every tenant with its usage, through the narrow
// SECURITY DEFINER function ops_tenant_usage().
func (s *Service) ListUsage(ctx context.Context) ([]Usage, error) {
	var out []Usage
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, slug, name, status, created_at, members, contacts, bots, events_24h, events_30d
			FROM ops_tenant_usage()`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Usage, error) {
			var u Usage
			err := r.Scan(&u.ID, &u.Slug, &u.Name, &u.Status, &u.CreatedAt, &u.Members, &u.Contacts, &u.Bots, &u.Events24h, &u.Events30d)
			return u, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tenant: list usage: %w", err)
	}
	if out == nil {
		out = []Usage{}
	}
	return out, nil
}

// SetStatus suspends or reactivates a tenant (operators only; the actor is
// recorded in the tenant's audit log as "operator:<id>"). ErrNotFound when
// there is no such tenant.
func (s *Service) SetStatus(ctx context.Context, tenantID, operator uuid.UUID, status string) (Usage, error) {
	if status != StatusActive && status != StatusSuspended {
		return Usage{}, invalidField("status", "invalid_status", "must be active or suspended")
	}
	changed := false
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var old string
		err := tx.QueryRow(ctx, "SELECT status FROM tenants WHERE id = $1 FOR UPDATE", tenantID).Scan(&old)
		if err == pgx.ErrNoRows {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("tenant: load status: %w", err)
		}
		if old == status {
			return nil
		}
		changed = true
		now := s.clock.Now()
		if _, err := tx.Exec(ctx, "UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1", tenantID, status, now); err != nil {
			return fmt.Errorf("tenant: set status: %w", err)
		}
		return insertAudit(ctx, tx, tenantID, "operator:"+operator.String(), "tenant.status", "tenant",
			map[string]any{"from": old, "to": status}, now)
	})
	if err != nil {
		return Usage{}, err
	}
	if changed {
		s.invalidate(ctx, tenantID)
		s.log.InfoContext(ctx, "tenant status changed", "tenant_id", tenantID, "status", status, "operator", operator)
	}
	list, err := s.ListUsage(ctx)
	if err != nil {
		return Usage{}, err
	}
	for _, u := range list {
		if u.ID == tenantID {
			return u, nil
		}
	}
	return Usage{}, ErrNotFound
}
