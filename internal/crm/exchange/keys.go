package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// keyPrefix marks our keys so a leaked one is recognisable in a scan.
const keyPrefix = "hxk_"

// Key is an API key as listed (never the key itself).
type Key struct {
	ID          uuid.UUID  `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	ConnectorID *uuid.UUID `json:"connector_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Caller is an authenticated key: whose it is and for which connector.
type Caller struct {
	KeyID       uuid.UUID
	TenantID    uuid.UUID
	ConnectorID uuid.UUID // uuid.Nil when the key names none
}

// CreateKey makes a key for the tenant and returns it with the secret,
// which is not stored (only its SHA-256) and cannot be shown again.
func (s *Service) CreateKey(ctx context.Context, tenantID uuid.UUID, name string, connectorID *uuid.UUID, createdBy uuid.UUID) (Key, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 100 {
		return Key{}, "", &InvalidError{[]FieldError{{"name", "invalid", "1 to 100 characters, e.g. \"1C production\""}}}
	}
	secret := keyPrefix + ids.Token(32)
	k := Key{ID: ids.New(), Name: name, Prefix: secret[:len(keyPrefix)+6], ConnectorID: connectorID, CreatedAt: s.clock.Now().UTC()}
	var by *uuid.UUID
	if createdBy != uuid.Nil {
		by = &createdBy
	}
	var unknown bool
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if connectorID != nil {
			// No foreign key (a connector may be deleted after its key):
			// the id is checked here, under the tenant's RLS, so a typo or
			// another tenant's id is refused instead of a silently broken key.
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM connectors WHERE id = $1`, *connectorID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				unknown = true
				return nil
			}
			if err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO exchange_keys (id, tenant_id, name, key_hash, prefix, connector_id, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, k.ID, tenantID, k.Name, ids.Hash(secret), k.Prefix, connectorID, by, k.CreatedAt)
		return err
	})
	if err != nil {
		return Key{}, "", fmt.Errorf("exchange: create key: %w", err)
	}
	if unknown {
		return Key{}, "", &InvalidError{[]FieldError{{"connector_id", "unknown_connector", "not a connector of this company"}}}
	}
	return k, secret, nil
}

// Keys lists the tenant's keys, revoked ones included, newest first.
func (s *Service) Keys(ctx context.Context, tenantID uuid.UUID) ([]Key, error) {
	out := []Key{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, prefix, connector_id, created_at, last_used_at, revoked_at
			FROM exchange_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC`, tenantID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k Key
			if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &k.ConnectorID, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("exchange: list keys: %w", err)
	}
	return out, nil
}

// RevokeKey revokes a key at once; revoking it again is a no-op. Another
// tenant's key answers ErrNotFound.
func (s *Service) RevokeKey(ctx context.Context, tenantID, id uuid.UUID) error {
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var revoked time.Time
		return tx.QueryRow(ctx, `UPDATE exchange_keys SET revoked_at = coalesce(revoked_at, $3)
			WHERE tenant_id = $1 AND id = $2 RETURNING revoked_at`, tenantID, id, s.clock.Now().UTC()).Scan(&revoked)
	})
	if db.IsNotFound(err) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("exchange: revoke key: %w", err)
	}
	return nil
}

// Authenticate resolves a presented key (through the narrow SECURITY
// DEFINER look-up: the tenant is not known yet). Unknown and revoked keys
// are ErrBadKey alike.
func (s *Service) Authenticate(ctx context.Context, secret string) (Caller, error) {
	if !strings.HasPrefix(secret, keyPrefix) || len(secret) > 200 {
		return Caller{}, ErrBadKey
	}
	var c Caller
	var conn *uuid.UUID
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT key_id, tenant_id, connector_id FROM exchange_key_auth($1)`, ids.Hash(secret)).
			Scan(&c.KeyID, &c.TenantID, &conn)
	})
	if db.IsNotFound(err) {
		return Caller{}, ErrBadKey
	}
	if err != nil {
		return Caller{}, fmt.Errorf("exchange: authenticate: %w", err)
	}
	if conn != nil {
		c.ConnectorID = *conn
	}
	return c, nil
}
