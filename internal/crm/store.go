package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// Every query runs in db.InTenant (RLS scopes it to one tenant) unless it
// calls one of the SECURITY DEFINER functions of migration 00027.

type connectorRow struct {
	ID             uuid.UUID
	Kind           Kind
	Name           string
	PublicID       string
	CredsSealed    []byte
	OAuthSealed    []byte
	SecretSealed   []byte
	Account        string
	Mapping        Mapping
	Status         string
	TokenExpiresAt *time.Time
	LastSuccessAt  *time.Time
	LastErrorAt    *time.Time
	LastError      string
	EventsReceived int64
	EventsIgnored  int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const connectorCols = `id, kind, name, public_id, credentials_sealed, oauth_sealed, webhook_secret, account, mapping,
	status, token_expires_at, last_success_at, last_error_at, last_error, events_received, events_ignored, created_at, updated_at`

func scanConnector(r pgx.Row) (connectorRow, error) {
	var c connectorRow
	var mapping []byte
	err := r.Scan(&c.ID, &c.Kind, &c.Name, &c.PublicID, &c.CredsSealed, &c.OAuthSealed, &c.SecretSealed, &c.Account,
		&mapping, &c.Status, &c.TokenExpiresAt, &c.LastSuccessAt, &c.LastErrorAt, &c.LastError, &c.EventsReceived,
		&c.EventsIgnored, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return c, err
	}
	_ = json.Unmarshal(mapping, &c.Mapping)
	return c, nil
}

func insertConnector(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, c connectorRow, now time.Time) error {
	m, _ := json.Marshal(c.Mapping)
	_, err := tx.Exec(ctx, `INSERT INTO connectors (id, tenant_id, kind, name, public_id, credentials_sealed, oauth_sealed,
		webhook_secret, account, mapping, token_expires_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)`,
		c.ID, tenantID, c.Kind, c.Name, c.PublicID, c.CredsSealed, c.OAuthSealed, c.SecretSealed, c.Account, m,
		c.TokenExpiresAt, now)
	if err != nil {
		return fmt.Errorf("store: insert connector: %w", err)
	}
	return nil
}

func getConnector(ctx context.Context, tx pgx.Tx, id uuid.UUID) (connectorRow, error) {
	c, err := scanConnector(tx.QueryRow(ctx, `SELECT `+connectorCols+` FROM connectors WHERE id = $1`, id))
	if db.IsNotFound(err) {
		return c, ErrConnectorNotFound
	}
	if err != nil {
		return c, fmt.Errorf("store: connector: %w", err)
	}
	return c, nil
}

func listConnectors(ctx context.Context, tx pgx.Tx) ([]connectorRow, error) {
	rows, err := tx.Query(ctx, `SELECT `+connectorCols+` FROM connectors ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: connectors: %w", err)
	}
	defer rows.Close()
	var out []connectorRow
	for rows.Next() {
		c, err := scanConnector(rows)
		if err != nil {
			return nil, fmt.Errorf("store: connectors: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func updateConnector(ctx context.Context, tx pgx.Tx, id uuid.UUID, name *string, m *Mapping, now time.Time) error {
	var mapping []byte
	if m != nil {
		if m.ContactFields == nil {
			m.ContactFields = map[string]string{}
		}
		mapping, _ = json.Marshal(m)
	}
	tag, err := tx.Exec(ctx, `UPDATE connectors SET name = COALESCE($2, name), mapping = COALESCE($3::jsonb, mapping),
		updated_at = $4 WHERE id = $1`, id, name, mapping, now)
	if err != nil {
		return fmt.Errorf("store: update connector: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrConnectorNotFound
	}
	return nil
}

func deleteConnector(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	tag, err := tx.Exec(ctx, `DELETE FROM connectors WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete connector: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrConnectorNotFound
	}
	return nil
}

// recordOutcome updates health after a call: success time, or the error.
func recordOutcome(ctx context.Context, tx pgx.Tx, id uuid.UUID, callErr error, now time.Time) error {
	var err error
	if callErr == nil {
		_, err = tx.Exec(ctx, `UPDATE connectors SET last_success_at = $2,
			status = CASE WHEN status = 'auth_error' AND oauth_sealed IS NULL THEN 'active' ELSE status END WHERE id = $1`, id, now)
	} else {
		// A refused token needs the admin (a new token, a new
		// authorization): the connector shows auth_error until a success.
		_, err = tx.Exec(ctx, `UPDATE connectors SET last_error_at = $2, last_error = left($3, 500),
			status = CASE WHEN $4 THEN 'auth_error' ELSE status END WHERE id = $1`,
			id, now, callErr.Error(), errors.Is(callErr, ErrUnauthorized))
	}
	if err != nil {
		return fmt.Errorf("store: connector outcome: %w", err)
	}
	return nil
}

func setStatus(ctx context.Context, tx pgx.Tx, id uuid.UUID, status, lastErr string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE connectors SET status = $2, last_error = CASE WHEN $3 = '' THEN last_error ELSE left($3, 500) END,
		last_error_at = CASE WHEN $3 = '' THEN last_error_at ELSE $4 END WHERE id = $1`, id, status, lastErr, now)
	if err != nil {
		return fmt.Errorf("store: connector status: %w", err)
	}
	return nil
}

func countEvents(ctx context.Context, tx pgx.Tx, id uuid.UUID, received, ignored int) error {
	_, err := tx.Exec(ctx, `UPDATE connectors SET events_received = events_received + $2,
		events_ignored = events_ignored + $3 WHERE id = $1`, id, received, ignored)
	if err != nil {
		return fmt.Errorf("store: count events: %w", err)
	}
	return nil
}

func health(ctx context.Context, tx pgx.Tx, r connectorRow) (Health, error) {
	h := Health{Status: r.Status, LastSuccessAt: r.LastSuccessAt, LastErrorAt: r.LastErrorAt, LastError: r.LastError,
		TokenExpiresAt: r.TokenExpiresAt, EventsReceived: r.EventsReceived, EventsIgnored: r.EventsIgnored}
	err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')
		FROM crm_calls WHERE connector_id = $1`, r.ID).Scan(&h.PendingCalls, &h.FailedCalls)
	if err != nil {
		return h, fmt.Errorf("store: call counts: %w", err)
	}
	var c CallView
	err = tx.QueryRow(ctx, `SELECT id, op, status, attempts, last_error, updated_at FROM crm_calls
		WHERE connector_id = $1 ORDER BY updated_at DESC LIMIT 1`, r.ID).
		Scan(&c.ID, &c.Op, &c.Status, &c.Attempts, &c.LastError, &c.UpdatedAt)
	if err == nil {
		h.LastCall = &c
	} else if !db.IsNotFound(err) {
		return h, fmt.Errorf("store: last call: %w", err)
	}
	return h, nil
}

func audit(ctx context.Context, tx pgx.Tx, tenantID, actorID uuid.UUID, action string, target uuid.UUID, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	raw, _ := json.Marshal(details)
	actor := "system"
	if actorID != uuid.Nil {
		actor = "user:" + actorID.String()
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)`,
		tenantID, actor, action, "connector:"+target.String(), raw)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// webhookTarget resolves a public id across tenants (SECURITY DEFINER).
func webhookTarget(ctx context.Context, tx pgx.Tx, publicID string) (id, tenantID uuid.UUID, secret []byte, err error) {
	err = tx.QueryRow(ctx, `SELECT connector_id, tenant_id, webhook_secret FROM crm_webhook_target($1)`, publicID).
		Scan(&id, &tenantID, &secret)
	if db.IsNotFound(err) {
		err = ErrConnectorNotFound
	}
	return
}
