package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// row is the tenants row as stored. Every query here runs inside
// db.InTenant, so RLS shows only the caller's tenant; the WHERE id = $1 keeps
// each query scoped by its owner all the same.
type row struct {
	ID              uuid.UUID
	Slug            string
	Name            string
	Timezone        string
	Languages       []string
	DefaultLanguage string
	Features        map[string]bool
	Status          string
	Template        string
	Config          storedConfig
	TextDefaults    map[string]map[string]string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// storedConfig is the tenants.settings jsonb document.
type storedConfig struct {
	Commands map[string][]Command      `json:"commands,omitempty"`
	Support  SupportConfig             `json:"support"`
	Settings map[string]map[string]any `json:"feature_settings,omitempty"`
}

const selectTenant = `SELECT id, COALESCE(slug, ''), name, timezone, languages, default_language, features,
	status, template, settings, text_defaults, created_at, updated_at FROM tenants WHERE id = $1`

func loadRow(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*row, error) {
	var r row
	var features, cfg, texts []byte
	err := tx.QueryRow(ctx, selectTenant, id).Scan(&r.ID, &r.Slug, &r.Name, &r.Timezone, &r.Languages,
		&r.DefaultLanguage, &features, &r.Status, &r.Template, &cfg, &texts, &r.CreatedAt, &r.UpdatedAt)
	if db.IsNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: load tenant: %w", err)
	}
	if err := json.Unmarshal(features, &r.Features); err != nil {
		return nil, fmt.Errorf("store: tenant features: %w", err)
	}
	if err := json.Unmarshal(cfg, &r.Config); err != nil {
		return nil, fmt.Errorf("store: tenant settings: %w", err)
	}
	if err := json.Unmarshal(texts, &r.TextDefaults); err != nil {
		return nil, fmt.Errorf("store: tenant text defaults: %w", err)
	}
	return &r, nil
}

// loadOverrides returns the tenant's own texts: lang -> key -> value.
func loadOverrides(ctx context.Context, tx pgx.Tx, id uuid.UUID) (map[string]map[string]string, error) {
	rows, err := tx.Query(ctx, "SELECT key, lang, value FROM tenant_texts WHERE tenant_id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("store: load texts: %w", err)
	}
	out := map[string]map[string]string{}
	var key, lang, value string
	_, err = pgx.ForEachRow(rows, []any{&key, &lang, &value}, func() error {
		if out[lang] == nil {
			out[lang] = map[string]string{}
		}
		out[lang][key] = value
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: load texts: %w", err)
	}
	return out, nil
}

func updateBasics(ctx context.Context, tx pgx.Tx, r *row, now time.Time) error {
	features, _ := json.Marshal(r.Features)
	_, err := tx.Exec(ctx, `UPDATE tenants SET name = $2, timezone = $3, languages = $4, default_language = $5,
		features = $6, updated_at = $7 WHERE id = $1`,
		r.ID, r.Name, r.Timezone, r.Languages, r.DefaultLanguage, features, now)
	if err != nil {
		return fmt.Errorf("store: update tenant: %w", err)
	}
	return nil
}

// upsertText writes an override and reports whether anything changed.
func upsertText(ctx context.Context, tx pgx.Tx, id uuid.UUID, key, lang, value string, now time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO tenant_texts (tenant_id, key, lang, value, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, key, lang) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
		WHERE tenant_texts.value IS DISTINCT FROM EXCLUDED.value`, id, key, lang, value, now)
	if err != nil {
		return false, fmt.Errorf("store: upsert text: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

func deleteText(ctx context.Context, tx pgx.Tx, id uuid.UUID, key, lang string) (bool, error) {
	tag, err := tx.Exec(ctx, "DELETE FROM tenant_texts WHERE tenant_id = $1 AND key = $2 AND lang = $3", id, key, lang)
	if err != nil {
		return false, fmt.Errorf("store: delete text: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

func insertAudit(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, actor, action, target string, details any, at time.Time) error {
	d, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("store: audit details: %w", err)
	}
	_, err = tx.Exec(ctx, "INSERT INTO audit_log (tenant_id, actor, action, target, details, at) VALUES ($1, $2, $3, $4, $5, $6)",
		tenantID, actor, action, target, d, at)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}
