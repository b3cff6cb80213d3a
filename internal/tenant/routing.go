package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SetRequestTypes replaces the support desk's routing menu
// (settings.support.request_types; the order is the menu's order) and
// audit-logs the change as support.routing.update with the menu before and
// after. The caller validates the entries (internal/support knows staff
// groups and members); other keys of the settings document are kept. It
// reports whether anything changed.
func (s *Service) SetRequestTypes(ctx context.Context, tenantID, actor uuid.UUID, types []RequestType) (bool, error) {
	if types == nil {
		types = []RequestType{}
	}
	raw, err := json.Marshal(types)
	if err != nil {
		return false, fmt.Errorf("tenant: request types: %w", err)
	}
	changed := false
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		// The row lock orders concurrent editors; the last save wins whole.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", tenantID); err != nil {
			return fmt.Errorf("tenant: lock: %w", err)
		}
		r, err := loadRow(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		before := r.Config.Support.RequestTypes
		if before == nil {
			before = []RequestType{}
		}
		if was, _ := json.Marshal(before); bytes.Equal(was, raw) {
			return nil
		}
		changed = true
		now := s.clock.Now()
		// jsonb_set creates only the last key of a path: make sure "support" exists.
		if _, err := tx.Exec(ctx, `UPDATE tenants SET settings = jsonb_set(
				COALESCE(settings, '{}') || jsonb_build_object('support', COALESCE(settings -> 'support', '{}')),
				'{support,request_types}', $2::jsonb), updated_at = $3 WHERE id = $1`, tenantID, raw, now); err != nil {
			return fmt.Errorf("store: set request types: %w", err)
		}
		return insertAudit(ctx, tx, tenantID, actor.String(), "support.routing.update", "support.request_types",
			map[string]any{"from": before, "to": types}, now)
	})
	if err != nil {
		return false, err
	}
	if changed {
		s.invalidate(ctx, tenantID)
	}
	return changed, nil
}
