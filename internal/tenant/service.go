// Package tenant owns a tenant's settings (name, time zone, languages,
// feature switches), its bot texts with their ru/en defaults and the
// per-tenant renderer every bot uses, the declarative templates in tenants/
// and `tenant apply`, and the operators' tenant list.
package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones must load on hosts without /usr/share/zoneinfo

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/tenants"
)

// OwnerProvisioner creates (or finds) a tenant's owner account; the auth
// package implements it. It must be idempotent by email.
type OwnerProvisioner interface {
	EnsureOwner(ctx context.Context, tenantID uuid.UUID, email, name, password string) (uuid.UUID, error)
}

// Service is the tenant domain.
type Service struct {
	db      *db.DB
	rdb     *redis.Client
	log     *slog.Logger
	clock   clock.Clock
	catalog *Catalog
	schema  *Schema
	owners  OwnerProvisioner
	cache   *stateCache
	channel string
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithClock sets the clock.
func WithClock(c clock.Clock) Option { return func(s *Service) { s.clock = c } }

// WithOwnerProvisioner lets Apply create the template's demo owner.
func WithOwnerProvisioner(p OwnerProvisioner) Option { return func(s *Service) { s.owners = p } }

// WithCacheTTL bounds how long a cached tenant is trusted even when no
// invalidation arrives (a safety net; invalidations are the real mechanism).
func WithCacheTTL(d time.Duration) Option { return func(s *Service) { s.cache.ttl = d } }

// WithInvalidationChannel sets the Redis pub/sub channel (tests use their own).
func WithInvalidationChannel(name string) Option { return func(s *Service) { s.channel = name } }

// DefaultInvalidationChannel carries the ids of tenants whose settings or
// texts changed, so every process drops its cached copy.
const DefaultInvalidationChannel = "helpdesk:tenant:invalidate"

// NewService builds the service. rdb may be nil (no cross-process cache:
// every read goes to PostgreSQL). The catalogue and schema are embedded and
// checked by tests, so failing to load them is a build defect and panics.
func NewService(d *db.DB, rdb *redis.Client, opts ...Option) *Service {
	cat, err := LoadCatalog(tenants.FS)
	if err != nil {
		panic(err)
	}
	schema, err := LoadSchema()
	if err != nil {
		panic(err)
	}
	s := &Service{db: d, rdb: rdb, log: slog.Default(), clock: clock.Real{}, catalog: cat, schema: schema,
		cache: newStateCache(time.Minute), channel: DefaultInvalidationChannel}
	for _, o := range opts {
		o(s)
	}
	s.cache.clock = s.clock
	return s
}

// Catalog returns the text catalogue.
func (s *Service) Catalog() *Catalog { return s.catalog }

// Settings is what other packages need to know about a tenant. Treat the
// maps as read-only.
type Settings struct {
	ID              uuid.UUID                 `json:"id"`
	Slug            string                    `json:"slug"`
	Name            string                    `json:"name"`
	Timezone        string                    `json:"timezone"`
	Languages       []string                  `json:"languages"`
	DefaultLanguage string                    `json:"default_language"`
	Features        map[string]bool           `json:"features"`
	Status          string                    `json:"status"`
	Template        string                    `json:"template"`
	Commands        map[string][]Command      `json:"commands"`
	Support         SupportConfig             `json:"support"`
	FeatureSettings map[string]map[string]any `json:"feature_settings"`
	CreatedAt       time.Time                 `json:"created_at"`
	UpdatedAt       time.Time                 `json:"updated_at"`
}

// Location is the tenant's time zone (UTC if it no longer loads).
func (st Settings) Location() *time.Location {
	loc, err := time.LoadLocation(st.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

func settingsOf(r *row) Settings {
	features := make(map[string]bool, len(Features))
	for _, f := range Features {
		features[f] = r.Features[f]
	}
	commands := r.Config.Commands
	if commands == nil {
		commands = map[string][]Command{}
	}
	fs := r.Config.Settings
	if fs == nil {
		fs = map[string]map[string]any{}
	}
	return Settings{ID: r.ID, Slug: r.Slug, Name: r.Name, Timezone: r.Timezone, Languages: slices.Clone(r.Languages),
		DefaultLanguage: r.DefaultLanguage, Features: features, Status: r.Status, Template: r.Template,
		Commands: commands, Support: r.Config.Support, FeatureSettings: fs, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// Settings returns a tenant's settings (from the cache when it is live).
func (s *Service) Settings(ctx context.Context, tenantID uuid.UUID) (Settings, error) {
	st, err := s.state(ctx, tenantID)
	if err != nil {
		return Settings{}, err
	}
	out := st.settings
	out.Features = maps.Clone(out.Features)
	out.Languages = slices.Clone(out.Languages)
	return out, nil
}

// FeatureEnabled reports whether a feature is on for an active tenant. It
// answers false when the tenant is suspended or cannot be read.
func (s *Service) FeatureEnabled(ctx context.Context, tenantID uuid.UUID, feature string) bool {
	st, err := s.state(ctx, tenantID)
	if err != nil {
		s.log.WarnContext(ctx, "tenant: feature check failed", "tenant_id", tenantID, "feature", feature, "error", err)
		return false
	}
	return st.settings.Status == "active" && st.settings.Features[feature]
}

// SettingsPatch changes some settings; nil fields stay as they are.
// Features are merged key by key.
type SettingsPatch struct {
	Name            *string         `json:"name"`
	Timezone        *string         `json:"timezone"`
	Languages       *[]string       `json:"languages"`
	DefaultLanguage *string         `json:"default_language"`
	Features        map[string]bool `json:"features"`
	// FeatureSettings replaces the settings object of each feature named
	// (free-form, read by that feature: docs/tenants.md); null removes it.
	FeatureSettings map[string]json.RawMessage `json:"feature_settings"`
}

// maxFeatureSettings bounds one feature's settings document.
const maxFeatureSettings = 64 << 10

func (p SettingsPatch) validate() error {
	var v validator
	if p.Name != nil {
		n := len([]rune(*p.Name))
		v.check(n >= 1 && n <= 200 && *p.Name == strings.TrimSpace(*p.Name), "name", "invalid_length", "must be 1–200 characters without surrounding spaces")
	}
	if p.Timezone != nil {
		_, err := time.LoadLocation(*p.Timezone)
		v.check(*p.Timezone != "" && err == nil, "timezone", "unknown_timezone", "must be an IANA time zone such as Europe/Moscow")
	}
	if p.Languages != nil {
		v.check(len(*p.Languages) > 0, "languages", "required", "must list at least one language")
		seen := map[string]bool{}
		for i, l := range *p.Languages {
			v.check(IsLanguage(l), fmt.Sprintf("languages[%d]", i), "unsupported_language", "must be one of ru, en")
			v.check(!seen[l], fmt.Sprintf("languages[%d]", i), "duplicate", "is listed twice")
			seen[l] = true
		}
	}
	if p.DefaultLanguage != nil {
		v.check(IsLanguage(*p.DefaultLanguage), "default_language", "unsupported_language", "must be one of ru, en")
	}
	for _, f := range slices.Sorted(maps.Keys(p.Features)) {
		v.check(IsFeature(f), "features."+f, "unknown_feature", "is not a feature; known: "+fmt.Sprint(Features))
	}
	for _, f := range slices.Sorted(maps.Keys(p.FeatureSettings)) {
		field := "feature_settings." + f
		if !IsFeature(f) {
			v.check(false, field, "unknown_feature", "is not a feature; known: "+fmt.Sprint(Features))
			continue
		}
		raw := bytes.TrimSpace(p.FeatureSettings[f])
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var obj map[string]any
		v.check(raw[0] == '{' && json.Unmarshal(raw, &obj) == nil, field, "not_an_object", "must be a JSON object (or null to remove it)")
		v.check(len(raw) <= maxFeatureSettings, field, "too_large", "must be at most 64 KiB")
	}
	return v.err()
}

type change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// UpdateSettings validates and applies a patch, audit-logging what changed
// (actor is the principal's user id). Nothing changes on invalid input.
func (s *Service) UpdateSettings(ctx context.Context, tenantID, actor uuid.UUID, p SettingsPatch) (Settings, error) {
	if err := p.validate(); err != nil {
		return Settings{}, err
	}
	var out *row
	changed := false
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		// Lock the row so concurrent patches merge instead of losing updates.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", tenantID); err != nil {
			return fmt.Errorf("tenant: lock: %w", err)
		}
		r, err := loadRow(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		before := *r
		before.Features = maps.Clone(r.Features)
		if p.Name != nil {
			r.Name = *p.Name
		}
		if p.Timezone != nil {
			r.Timezone = *p.Timezone
		}
		if p.Languages != nil {
			r.Languages = slices.Clone(*p.Languages)
		}
		if p.DefaultLanguage != nil {
			r.DefaultLanguage = *p.DefaultLanguage
		}
		if r.Features == nil {
			r.Features = map[string]bool{}
		}
		maps.Copy(r.Features, p.Features)
		if !slices.Contains(r.Languages, r.DefaultLanguage) {
			field := "default_language"
			if p.DefaultLanguage == nil {
				field = "languages"
			}
			return invalidField(field, "default_language_not_in_languages", "the default language must be one of the languages")
		}
		diff := map[string]change{}
		if before.Name != r.Name {
			diff["name"] = change{before.Name, r.Name}
		}
		if before.Timezone != r.Timezone {
			diff["timezone"] = change{before.Timezone, r.Timezone}
		}
		if !slices.Equal(before.Languages, r.Languages) {
			diff["languages"] = change{before.Languages, r.Languages}
		}
		if before.DefaultLanguage != r.DefaultLanguage {
			diff["default_language"] = change{before.DefaultLanguage, r.DefaultLanguage}
		}
		for f, on := range p.Features {
			if before.Features[f] != on {
				diff["features."+f] = change{before.Features[f], on}
			}
		}
		settingsChanged := false
		for f, raw := range p.FeatureSettings {
			var next map[string]any
			if t := bytes.TrimSpace(raw); len(t) > 0 && string(t) != "null" {
				_ = json.Unmarshal(t, &next) // validated above
			}
			prev := r.Config.Settings[f]
			if was, _ := json.Marshal(prev); string(was) == string(mustJSON(next)) {
				continue
			}
			if r.Config.Settings == nil {
				r.Config.Settings = map[string]map[string]any{}
			}
			if next == nil {
				delete(r.Config.Settings, f)
			} else {
				r.Config.Settings[f] = next
			}
			diff["feature_settings."+f] = change{prev, next}
			settingsChanged = true
		}
		out = r
		if len(diff) == 0 {
			return nil
		}
		changed = true
		now := s.clock.Now()
		r.UpdatedAt = now
		if err := updateBasics(ctx, tx, r, now); err != nil {
			return err
		}
		if settingsChanged {
			fs := r.Config.Settings
			if fs == nil {
				fs = map[string]map[string]any{}
			}
			if _, err := tx.Exec(ctx, `UPDATE tenants SET settings = COALESCE(settings, '{}') || jsonb_build_object('feature_settings', $2::jsonb)
				WHERE id = $1`, tenantID, mustJSON(fs)); err != nil {
				return fmt.Errorf("store: set feature settings: %w", err)
			}
		}
		return insertAudit(ctx, tx, tenantID, actor.String(), "tenant.settings.update", "tenant", map[string]any{"changes": diff}, now)
	})
	if err != nil {
		return Settings{}, err
	}
	if changed {
		s.invalidate(ctx, tenantID)
		s.log.InfoContext(ctx, "tenant settings updated", "tenant_id", tenantID, "actor", actor)
	}
	return settingsOf(out), nil
}

// mustJSON marshals what came from JSON (it cannot fail); nil is "null".
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
