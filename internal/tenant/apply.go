package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Apply outcomes.
const (
	OutcomeCreated   = "created"
	OutcomeUpdated   = "updated"
	OutcomeUnchanged = "unchanged"
)

// ApplyActor is the audit-log actor of template applies.
const ApplyActor = "system:apply"

// Result reports what Apply did.
type Result struct {
	TenantID uuid.UUID `json:"tenant_id"`
	Slug     string    `json:"slug"`
	Template string    `json:"template"`
	Outcome  string    `json:"outcome"`
	// Changes names the fields that changed (empty when unchanged).
	Changes []string `json:"changes,omitempty"`
	// OwnerID is the demo owner's user id (uuid.Nil when none was made).
	OwnerID uuid.UUID `json:"owner_id"`
	// Skipped lists sections present in the template but not applied.
	Skipped []string `json:"skipped,omitempty"`
}

// ApplyFile applies the template whose tenant.yaml (or folder) is at path:
// `helpdesk tenant apply tenants/beauty-clinic/tenant.yaml`.
func (s *Service) ApplyFile(ctx context.Context, path string) (Result, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}
	dir := abs
	if !fi.IsDir() {
		if filepath.Base(abs) != "tenant.yaml" {
			return Result{}, fmt.Errorf("apply: %s: give a template's tenant.yaml or its folder", path)
		}
		dir = filepath.Dir(abs)
	}
	return s.Apply(ctx, os.DirFS(filepath.Dir(dir)), filepath.Base(dir))
}

// Apply creates or updates the tenant described by the template in
// fsys/dir, keyed by its slug. It is idempotent: applying the same template
// again changes nothing and reports OutcomeUnchanged. It sets what the
// template declares (name, time zone, languages, features, commands, support
// routing, feature settings, the template's texts as the tenant's text
// defaults) and keeps what the tenant did on its own (its text overrides,
// status, members). The demo owner is ensured through the OwnerProvisioner.
func (s *Service) Apply(ctx context.Context, fsys fs.FS, dir string) (Result, error) {
	t, err := LoadTemplate(fsys, dir, s.schema, s.catalog)
	if err != nil {
		return Result{}, err
	}
	want := desiredRow(t)
	res := Result{Slug: t.Slug, Template: t.Name, Skipped: slices.Clone(t.Reserved)}

	id, err := s.tenantIDBySlug(ctx, t.Slug)
	if err != nil {
		return Result{}, err
	}
	if id == uuid.Nil {
		created, newID, err := s.insertFromTemplate(ctx, want)
		if err != nil {
			return Result{}, err
		}
		if created {
			res.TenantID, res.Outcome = newID, OutcomeCreated
		} else if id, err = s.tenantIDBySlug(ctx, t.Slug); err != nil || id == uuid.Nil {
			// A concurrent apply inserted the slug first; update that one.
			return Result{}, fmt.Errorf("apply: %s: slug taken concurrently but not found: %v", t.Slug, err)
		}
	}
	if res.Outcome == "" {
		want.ID = id
		res.TenantID = id
		changes, err := s.updateFromTemplate(ctx, want)
		if err != nil {
			return Result{}, err
		}
		res.Changes = changes
		res.Outcome = OutcomeUnchanged
		if len(changes) > 0 {
			res.Outcome = OutcomeUpdated
		}
	}
	if res.Outcome != OutcomeUnchanged {
		s.invalidate(ctx, res.TenantID)
	}
	if t.Owner != nil {
		if s.owners == nil {
			res.Skipped = append(res.Skipped, "owner")
		} else {
			res.OwnerID, err = s.owners.EnsureOwner(ctx, res.TenantID, t.Owner.Email, t.Owner.Name, t.Owner.Password)
			if err != nil {
				return res, fmt.Errorf("apply: %s: owner %s: %w", t.Slug, t.Owner.Email, err)
			}
		}
	}
	s.log.InfoContext(ctx, "tenant template applied", "tenant_id", res.TenantID, "slug", res.Slug,
		"template", res.Template, "outcome", res.Outcome, "changes", res.Changes)
	return res, nil
}

func desiredRow(t *Template) *row {
	features := map[string]bool{}
	for _, f := range Features {
		features[f] = t.Features[f]
	}
	texts := t.Texts
	if texts == nil {
		texts = map[string]map[string]string{}
	}
	return &row{Slug: t.Slug, Name: t.TenantName, Timezone: t.Timezone, Languages: slices.Clone(t.Languages),
		DefaultLanguage: t.DefaultLanguage, Features: features, Template: t.Name,
		Config:       storedConfig{Commands: t.Commands, Support: t.Support, Settings: t.Settings},
		TextDefaults: texts}
}

// tenantIDBySlug finds a tenant across tenants through the narrow SECURITY
// DEFINER function; uuid.Nil when there is none.
func (s *Service) tenantIDBySlug(ctx context.Context, slug string) (uuid.UUID, error) {
	var id *uuid.UUID
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT tenant_id_by_slug($1)", slug).Scan(&id)
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("apply: find tenant %q: %w", slug, err)
	}
	if id == nil {
		return uuid.Nil, nil
	}
	return *id, nil
}

func (s *Service) insertFromTemplate(ctx context.Context, r *row) (bool, uuid.UUID, error) {
	id := ids.New()
	features, _ := json.Marshal(r.Features)
	cfg, _ := json.Marshal(r.Config)
	texts, _ := json.Marshal(r.TextDefaults)
	created := false
	err := s.db.InTenant(ctx, id, func(tx pgx.Tx) error {
		now := s.clock.Now()
		tag, err := tx.Exec(ctx, `INSERT INTO tenants (id, slug, name, timezone, languages, default_language, features,
			template, settings, text_defaults, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT (slug) DO NOTHING`,
			id, r.Slug, r.Name, r.Timezone, r.Languages, r.DefaultLanguage, features, r.Template, cfg, texts, now)
		if err != nil {
			return fmt.Errorf("apply: insert tenant: %w", err)
		}
		if created = tag.RowsAffected() == 1; !created {
			return nil
		}
		return insertAudit(ctx, tx, id, ApplyActor, "tenant.apply", "tenant",
			map[string]any{"template": r.Template, "outcome": OutcomeCreated}, now)
	})
	return created, id, err
}

// updateFromTemplate writes only when something differs and returns the
// names of the fields that did.
func (s *Service) updateFromTemplate(ctx context.Context, want *row) ([]string, error) {
	var changes []string
	err := s.db.InTenant(ctx, want.ID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", want.ID); err != nil {
			return fmt.Errorf("apply: lock: %w", err)
		}
		have, err := loadRow(ctx, tx, want.ID)
		if err != nil {
			return err
		}
		changes = diffRows(have, want)
		if len(changes) == 0 {
			return nil
		}
		features, _ := json.Marshal(want.Features)
		cfg, _ := json.Marshal(want.Config)
		texts, _ := json.Marshal(want.TextDefaults)
		now := s.clock.Now()
		_, err = tx.Exec(ctx, `UPDATE tenants SET name = $2, timezone = $3, languages = $4, default_language = $5,
			features = $6, template = $7, settings = $8, text_defaults = $9, updated_at = $10 WHERE id = $1`,
			want.ID, want.Name, want.Timezone, want.Languages, want.DefaultLanguage, features, want.Template, cfg, texts, now)
		if err != nil {
			return fmt.Errorf("apply: update tenant: %w", err)
		}
		return insertAudit(ctx, tx, want.ID, ApplyActor, "tenant.apply", "tenant",
			map[string]any{"template": want.Template, "outcome": OutcomeUpdated, "changes": changes}, now)
	})
	return changes, err
}

func diffRows(have, want *row) []string {
	var out []string
	add := func(differs bool, name string) {
		if differs {
			out = append(out, name)
		}
	}
	add(have.Name != want.Name, "name")
	add(have.Timezone != want.Timezone, "timezone")
	add(!slices.Equal(have.Languages, want.Languages), "languages")
	add(have.DefaultLanguage != want.DefaultLanguage, "default_language")
	add(!maps.Equal(have.Features, want.Features), "features")
	add(have.Template != want.Template, "template")
	add(!sameJSON(have.Config, want.Config), "settings")
	add(!sameJSON(have.TextDefaults, want.TextDefaults), "texts")
	return out
}

// sameJSON compares two values by their JSON encoding (map keys sorted), the
// form they are stored in.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
