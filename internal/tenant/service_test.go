package tenant_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

func ptr[T any](v T) *T { return &v }

func TestSettingsAndFeatureEnabled(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	id := newTenant(t)
	st, err := svc.Settings(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Timezone != "Europe/Moscow" || st.DefaultLanguage != "ru" || st.Location().String() != "Europe/Moscow" {
		t.Fatalf("settings %+v", st)
	}
	if len(st.Features) != len(tenant.Features) {
		t.Errorf("features %v: want every catalogue key", st.Features)
	}
	if !svc.FeatureEnabled(ctx, id, "support") || svc.FeatureEnabled(ctx, id, "dispatch") {
		t.Error("support should be on and dispatch off")
	}
	if _, err := svc.SetStatus(ctx, id, ids.New(), tenant.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if svc.FeatureEnabled(ctx, id, "support") {
		t.Error("a suspended tenant's features must be off")
	}
	if _, err := svc.Settings(ctx, ids.New()); err != tenant.ErrNotFound {
		t.Errorf("unknown tenant: err = %v, want ErrNotFound", err)
	}
}

func TestUpdateSettingsValidatesAndAudits(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	id := newTenant(t)
	actor := ids.New()
	bad := []struct {
		name  string
		patch tenant.SettingsPatch
		field string
	}{
		{"invalid time zone", tenant.SettingsPatch{Timezone: ptr("Europe/Atlantis")}, "timezone"},
		{"empty time zone", tenant.SettingsPatch{Timezone: ptr("")}, "timezone"},
		{"unknown language", tenant.SettingsPatch{Languages: &[]string{"ru", "de"}}, "languages[1]"},
		{"no languages", tenant.SettingsPatch{Languages: &[]string{}}, "languages"},
		{"default language unsupported", tenant.SettingsPatch{DefaultLanguage: ptr("fr")}, "default_language"},
		{"default language not enabled", tenant.SettingsPatch{Languages: &[]string{"en"}}, "languages"},
		{"default language outside languages", tenant.SettingsPatch{Languages: &[]string{"en"}, DefaultLanguage: ptr("ru")}, "default_language"},
		{"unknown feature", tenant.SettingsPatch{Features: map[string]bool{"teleport": true}}, "features.teleport"},
		{"empty name", tenant.SettingsPatch{Name: ptr("")}, "name"},
		{"over-long name", tenant.SettingsPatch{Name: ptr(strings.Repeat("n", 201))}, "name"},
		{"settings of an unknown feature", tenant.SettingsPatch{FeatureSettings: map[string]json.RawMessage{"teleport": json.RawMessage(`{}`)}}, "feature_settings.teleport"},
		{"settings not an object", tenant.SettingsPatch{FeatureSettings: map[string]json.RawMessage{"dispatch": json.RawMessage(`[1]`)}}, "feature_settings.dispatch"},
		{"settings too large", tenant.SettingsPatch{FeatureSettings: map[string]json.RawMessage{"dispatch": json.RawMessage(`{"x":"` + strings.Repeat("y", 70000) + `"}`)}}, "feature_settings.dispatch"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.UpdateSettings(ctx, id, actor, tc.patch)
			mustInvalid(t, err, tenant.CodeValidation, tc.field)
		})
	}
	if n := auditCount(t, id, "tenant.settings.update"); n != 0 {
		t.Fatalf("refused patches wrote %d audit rows", n)
	}
	st, err := svc.UpdateSettings(ctx, id, actor, tenant.SettingsPatch{
		Name: ptr("Clinic"), Timezone: ptr("Asia/Tomsk"), Languages: &[]string{"en", "ru"}, DefaultLanguage: ptr("en"),
		Features: map[string]bool{"cabinet": true, "support": false},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "Clinic" || st.Timezone != "Asia/Tomsk" || st.DefaultLanguage != "en" || !st.Features["cabinet"] || st.Features["support"] {
		t.Fatalf("after patch: %+v", st)
	}
	if !svc.FeatureEnabled(ctx, id, "cabinet") {
		t.Error("cabinet not enabled after patch")
	}
	var actorCol, details string
	err = env.Owner.QueryRow(ctx, "SELECT actor, details::text FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.settings.update'", id).Scan(&actorCol, &details)
	if err != nil {
		t.Fatal(err)
	}
	if actorCol != actor.String() || !strings.Contains(details, "Asia/Tomsk") || !strings.Contains(details, "features.cabinet") {
		t.Errorf("audit actor %s details %s", actorCol, details)
	}
	// The same patch again changes nothing and logs nothing.
	if _, err := svc.UpdateSettings(ctx, id, actor, tenant.SettingsPatch{Name: ptr("Clinic")}); err != nil {
		t.Fatal(err)
	}
	if n := auditCount(t, id, "tenant.settings.update"); n != 1 {
		t.Errorf("audit rows = %d, want 1", n)
	}
}

func setTemplateTexts(t *testing.T, id any, json string) {
	t.Helper()
	if _, err := env.Owner.Exec(context.Background(), "UPDATE tenants SET text_defaults = $2 WHERE id = $1", id, json); err != nil {
		t.Fatal(err)
	}
}

func TestTextFallbackOrder(t *testing.T) {
	ctx := context.Background()
	svc := newService(t) // no Run: uncached, every call reads PostgreSQL
	id := newTenant(t)
	actor := ids.New()
	cat := svc.Catalog()
	platformRU, _ := cat.Default("cancel.done", "ru")
	platformEN, _ := cat.Default("cancel.done", "en")

	if got := svc.Text(ctx, id, "cancel.done", "en-GB", nil); got != platformEN {
		t.Errorf("platform default en: %q", got)
	}
	if got := svc.Text(ctx, id, "cancel.done", "de", nil); got != platformRU {
		t.Errorf("unknown language must use the tenant default (ru): %q", got)
	}
	setTemplateTexts(t, id, `{"en": {"cancel.done": "Template cancel"}}`)
	if got := svc.Text(ctx, id, "cancel.done", "en", nil); got != "Template cancel" {
		t.Errorf("template layer: %q", got)
	}
	if err := svc.SetText(ctx, id, actor, "cancel.done", "en", "Tenant cancel"); err != nil {
		t.Fatal(err)
	}
	if got := svc.Text(ctx, id, "cancel.done", "en", nil); got != "Tenant cancel" {
		t.Errorf("override: %q", got)
	}
	if got := svc.Text(ctx, id, "cancel.done", "ru-RU", nil); got != platformRU {
		t.Errorf("override in en must not leak into ru: %q", got)
	}
	if got := svc.Text(ctx, id, "start.greeting", "en", map[string]string{"first_name": "Ann", "tenant_name": "Acme"}); !strings.Contains(got, "Ann") || !strings.Contains(got, "Acme") || strings.Contains(got, "{") {
		t.Errorf("placeholders not rendered: %q", got)
	}
	if got := svc.Text(ctx, id, "start.greeting", "en", nil); strings.Contains(got, "{first_name}") {
		t.Errorf("a missing variable must not show its placeholder: %q", got)
	}
	if got := svc.Text(ctx, id, "no.such.key", "en", nil); got != "no.such.key" {
		t.Errorf("unknown key: %q", got)
	}
	// A language the tenant has switched off falls back to its default.
	if _, err := svc.UpdateSettings(ctx, id, actor, tenant.SettingsPatch{Languages: &[]string{"ru"}}); err != nil {
		t.Fatal(err)
	}
	if got := svc.Text(ctx, id, "cancel.done", "en", nil); got != platformRU {
		t.Errorf("disabled language: %q", got)
	}
	// Reset brings the template's default back.
	if _, err := svc.UpdateSettings(ctx, id, actor, tenant.SettingsPatch{Languages: &[]string{"ru", "en"}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.ResetText(ctx, id, actor, "cancel.done", "en"); err != nil {
		t.Fatal(err)
	}
	if got := svc.Text(ctx, id, "cancel.done", "en", nil); got != "Template cancel" {
		t.Errorf("after reset: %q", got)
	}
	if auditCount(t, id, "tenant.text.update") != 1 || auditCount(t, id, "tenant.text.reset") != 1 {
		t.Error("text changes must be audit-logged")
	}
}

func TestTextsOfAnotherTenantAreInvisible(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	a, b := newTenant(t), newTenant(t)
	if err := svc.SetText(ctx, a, ids.New(), "help", "ru", "Только для A"); err != nil {
		t.Fatal(err)
	}
	if got := svc.Text(ctx, b, "help", "ru", nil); got == "Только для A" {
		t.Fatal("tenant b renders tenant a's text")
	}
	list, err := svc.ListTexts(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Values["ru"].Overridden {
			t.Fatalf("tenant b sees an override of %s", e.Key)
		}
	}
	// Below the service: under b's scope, a's rows do not exist.
	var n int
	err = env.DB.InTenant(ctx, b, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT count(*) FROM tenant_texts WHERE tenant_id = $1", a).Scan(&n)
	})
	if err != nil || n != 0 {
		t.Fatalf("b's scope sees %d of a's texts (err %v)", n, err)
	}
	// A patch under b's id cannot touch a.
	if _, err := svc.UpdateSettings(ctx, b, ids.New(), tenant.SettingsPatch{Name: ptr("B renamed")}); err != nil {
		t.Fatal(err)
	}
	sa, _ := svc.Settings(ctx, a)
	if sa.Name == "B renamed" {
		t.Fatal("patch leaked across tenants")
	}
}

func TestSetTextRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	id := newTenant(t)
	tests := []struct {
		name, key, lang, value, code, field string
	}{
		{"unknown key", "nope", "ru", "x", tenant.CodeUnknownTextKey, "key"},
		{"unknown placeholder", "help", "ru", "Hi {first_name}", tenant.CodeUnknownPlaceholder, "value"},
		{"over-long", "help", "ru", strings.Repeat("x", 4097), tenant.CodeValidation, "value"},
		{"empty", "help", "ru", "", tenant.CodeValidation, "value"},
		{"unsupported language", "help", "de", "Hallo", tenant.CodeValidation, "lang"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustInvalid(t, svc.SetText(ctx, id, ids.New(), tc.key, tc.lang, tc.value), tc.code, tc.field)
		})
	}
	mustInvalid(t, svc.ResetText(ctx, id, ids.New(), "nope", ""), tenant.CodeUnknownTextKey, "key")
	var n int
	if err := env.Owner.QueryRow(ctx, "SELECT count(*) FROM tenant_texts WHERE tenant_id = $1", id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused input stored %d rows (err %v)", n, err)
	}
}

// Two services stand for two processes: a change made through one reaches
// the other's cache through Redis, while the cache really is used (a change
// made behind the services' back stays invisible until invalidated).
func TestTextCacheInvalidatesAcrossProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	channel := tenant.WithInvalidationChannel("test:cache:" + ids.Token(6))
	p1 := tenant.NewService(env.DB, env.Redis.Client, tenant.WithLogger(quiet), channel)
	p2 := tenant.NewService(env.DB, env.Redis.Client, tenant.WithLogger(quiet), channel)
	done := make(chan struct{}, 2)
	for _, p := range []*tenant.Service{p1, p2} {
		go func() { _ = p.Run(ctx); done <- struct{}{} }()
	}
	waitFor(t, "subscribers live", func() bool { return p1.CacheLive() && p2.CacheLive() })
	id := newTenant(t)
	// Seeded without a publish, so no invalidation is in flight when p1
	// caches it.
	if _, err := env.Owner.Exec(ctx, "INSERT INTO tenant_texts (tenant_id, key, lang, value) VALUES ($1, 'help', 'ru', 'v1')", id); err != nil {
		t.Fatal(err)
	}
	if got := p1.Text(ctx, id, "help", "ru", nil); got != "v1" {
		t.Fatalf("p1 = %q, want v1", got)
	}

	// Behind the cache's back: p1 must keep serving its cached copy.
	if _, err := env.Owner.Exec(ctx, "UPDATE tenant_texts SET value = 'sneaky' WHERE tenant_id = $1", id); err != nil {
		t.Fatal(err)
	}
	if got := p1.Text(ctx, id, "help", "ru", nil); got != "v1" {
		t.Fatalf("p1 = %q: the cache is not used", got)
	}
	if err := p2.SetText(ctx, id, ids.New(), "help", "ru", "v2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "p1 renders v2", func() bool { return p1.Text(ctx, id, "help", "ru", nil) == "v2" })
	if _, err := p2.UpdateSettings(ctx, id, ids.New(), tenant.SettingsPatch{Features: map[string]bool{"loyalty": true}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "p1 sees loyalty on", func() bool { return p1.FeatureEnabled(ctx, id, "loyalty") })
	cancel()
	<-done
	<-done
	if p1.CacheLive() {
		t.Error("cache still trusted after the subscriber stopped")
	}
}

func TestTextWithoutSubscriberReadsThrough(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	id := newTenant(t)
	if err := svc.SetText(ctx, id, ids.New(), "help", "en", "one"); err != nil {
		t.Fatal(err)
	}
	if svc.Text(ctx, id, "help", "en", nil) != "one" {
		t.Fatal("first read")
	}
	if _, err := env.Owner.Exec(ctx, "UPDATE tenant_texts SET value = 'two' WHERE tenant_id = $1", id); err != nil {
		t.Fatal(err)
	}
	if got := svc.Text(ctx, id, "help", "en", nil); got != "two" {
		t.Fatalf("without a subscriber the cache must be off; got %q", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Feature settings are replaced per feature through the API (the dispatch
// desk's and the subscription topics' settings live there); the rest of the
// settings document — other features, the support menu — is kept.
func TestUpdateFeatureSettings(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	id := newTenant(t)
	actor := ids.New()
	if _, err := env.Owner.Exec(ctx, `UPDATE tenants SET settings = '{"support": {"request_types": [{"key": "vpn"}]},
		"feature_settings": {"broadcasts": {"subscriptions": ["news"]}}}' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	st, err := svc.UpdateSettings(ctx, id, actor, tenant.SettingsPatch{FeatureSettings: map[string]json.RawMessage{
		"dispatch": json.RawMessage(`{"registered_only": true, "cancel_stages": ["143"]}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if st.FeatureSettings["dispatch"]["registered_only"] != true || st.FeatureSettings["broadcasts"] == nil {
		t.Fatalf("feature settings = %v", st.FeatureSettings)
	}
	var raw string
	if err := env.Owner.QueryRow(ctx, `SELECT settings::text FROM tenants WHERE id = $1`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw, `"request_types"`) || !strings.Contains(raw, `"registered_only": true`) || !strings.Contains(raw, `"subscriptions"`) {
		t.Fatalf("settings document = %s", raw)
	}
	// null removes a feature's settings; an unchanged value writes no audit row.
	if _, err := svc.UpdateSettings(ctx, id, actor, tenant.SettingsPatch{FeatureSettings: map[string]json.RawMessage{
		"broadcasts": json.RawMessage(`null`), "dispatch": json.RawMessage(`{"cancel_stages": ["143"], "registered_only": true}`)}}); err != nil {
		t.Fatal(err)
	}
	st, err = svc.Settings(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.FeatureSettings["broadcasts"]; ok {
		t.Fatalf("broadcasts settings not removed: %v", st.FeatureSettings)
	}
	var n int
	if err := env.Owner.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.settings.update'`, id).Scan(&n); err != nil || n != 2 {
		t.Fatalf("audit rows = %d, %v", n, err)
	}
}
