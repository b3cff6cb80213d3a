package tenant

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Text renders a bot text for a tenant. lang is a Telegram language_code
// ("ru-RU", "en", "") normalised to one of the tenant's languages (else its
// default language). The value is the first found of: the tenant's override
// in lang, the template's text in lang, the platform default in lang, then
// the same three in the tenant's default language, then the key itself.
// It never fails: if the tenant cannot be read it renders the platform
// default, because a person should get an answer rather than silence.
func (s *Service) Text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string {
	st, err := s.state(ctx, tenantID)
	if err != nil {
		s.log.WarnContext(ctx, "tenant: texts unavailable, using platform defaults", "tenant_id", tenantID, "error", err)
		st = &state{settings: Settings{Languages: Languages, DefaultLanguage: Languages[0]}}
	}
	l := NormalizeLanguage(lang, st.settings.Languages, st.settings.DefaultLanguage)
	spec, known := s.catalog.Spec(key)
	if !known {
		s.log.WarnContext(ctx, "tenant: unknown text key", "tenant_id", tenantID, "key", key)
	}
	v, ok := s.lookup(st, key, l)
	if !ok && l != st.settings.DefaultLanguage {
		v, ok = s.lookup(st, key, st.settings.DefaultLanguage)
	}
	if !ok {
		return key
	}
	// Every text may name the tenant; callers need not pass it.
	if _, given := vars["tenant_name"]; !given && st.settings.Name != "" {
		withName := make(map[string]string, len(vars)+1)
		for k, val := range vars {
			withName[k] = val
		}
		withName["tenant_name"] = st.settings.Name
		vars = withName
	}
	return render(v, spec.Placeholders, vars)
}

func (s *Service) lookup(st *state, key, lang string) (string, bool) {
	if v, ok := st.overrides[lang][key]; ok {
		return v, true
	}
	if v, ok := st.textDefaults[lang][key]; ok {
		return v, true
	}
	return s.catalog.Default(key, lang)
}

// TextValue is one key's text in one language.
type TextValue struct {
	Value      string `json:"value"`
	Default    string `json:"default"`
	Overridden bool   `json:"overridden"`
}

// TextEntry is one catalogue key with its values per language.
type TextEntry struct {
	Key          string               `json:"key"`
	Description  string               `json:"description"`
	Placeholders []string             `json:"placeholders"`
	Values       map[string]TextValue `json:"values"`
}

// ListTexts returns every catalogue key with, per supported language, the
// effective value, the default (template's, else platform's) and whether
// the tenant overrides it. It reads PostgreSQL, not the cache: editors must
// see what is stored.
func (s *Service) ListTexts(ctx context.Context, tenantID uuid.UUID) ([]TextEntry, error) {
	var r *row
	var overrides map[string]map[string]string
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if r, err = loadRow(ctx, tx, tenantID); err != nil {
			return err
		}
		overrides, err = loadOverrides(ctx, tx, tenantID)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]TextEntry, 0, len(s.catalog.Keys()))
	for _, k := range s.catalog.Keys() {
		spec, _ := s.catalog.Spec(k)
		e := TextEntry{Key: k, Description: spec.Description, Placeholders: spec.Placeholders, Values: map[string]TextValue{}}
		if e.Placeholders == nil {
			e.Placeholders = []string{}
		}
		for _, lang := range Languages {
			def, ok := r.TextDefaults[lang][k]
			if !ok {
				def, _ = s.catalog.Default(k, lang)
			}
			tv := TextValue{Value: def, Default: def}
			if v, ok := overrides[lang][k]; ok {
				tv.Value, tv.Overridden = v, true
			}
			e.Values[lang] = tv
		}
		out = append(out, e)
	}
	return out, nil
}

func checkLang(lang string) error {
	if !IsLanguage(lang) {
		return invalidField("lang", "unsupported_language", "must be one of ru, en")
	}
	return nil
}

// SetText stores the tenant's own value of key in lang, audit-logged.
func (s *Service) SetText(ctx context.Context, tenantID, actor uuid.UUID, key, lang, value string) error {
	if err := s.catalog.CheckText(key, value); err != nil {
		return err
	}
	if err := checkLang(lang); err != nil {
		return err
	}
	changed := false
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		now := s.clock.Now()
		var err error
		if changed, err = upsertText(ctx, tx, tenantID, key, lang, value, now); err != nil || !changed {
			return err
		}
		return insertAudit(ctx, tx, tenantID, actor.String(), "tenant.text.update", key,
			map[string]any{"lang": lang, "value": value}, now)
	})
	if err != nil {
		return fmt.Errorf("tenant: set text: %w", err)
	}
	if changed {
		s.invalidate(ctx, tenantID)
	}
	return nil
}

// ResetText removes the tenant's value of key in lang (every language when
// lang is empty), so the default applies again.
func (s *Service) ResetText(ctx context.Context, tenantID, actor uuid.UUID, key, lang string) error {
	if _, ok := s.catalog.Spec(key); !ok {
		return s.catalog.CheckText(key, "")
	}
	langs := Languages
	if lang != "" {
		if err := checkLang(lang); err != nil {
			return err
		}
		langs = []string{lang}
	}
	var removed []string
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		for _, l := range langs {
			ok, err := deleteText(ctx, tx, tenantID, key, l)
			if err != nil {
				return err
			}
			if ok {
				removed = append(removed, l)
			}
		}
		if len(removed) == 0 {
			return nil
		}
		return insertAudit(ctx, tx, tenantID, actor.String(), "tenant.text.reset", key, map[string]any{"langs": removed}, s.clock.Now())
	})
	if err != nil {
		return fmt.Errorf("tenant: reset text: %w", err)
	}
	if len(removed) > 0 {
		s.invalidate(ctx, tenantID)
	}
	return nil
}
