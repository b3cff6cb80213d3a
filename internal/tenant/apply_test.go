package tenant_test

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/tenant"
	"github.com/tgdesk/helpdesk/tenants"
)

// fakeOwners is an idempotent OwnerProvisioner keyed by (tenant, email).
type fakeOwners struct {
	mu    sync.Mutex
	ids   map[string]uuid.UUID
	calls int
}

func (f *fakeOwners) EnsureOwner(_ context.Context, tenantID uuid.UUID, email, name, password string) (uuid.UUID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.ids == nil {
		f.ids = map[string]uuid.UUID{}
	}
	k := tenantID.String() + "/" + email
	if id, ok := f.ids[k]; ok {
		return id, nil
	}
	f.ids[k] = ids.New()
	return f.ids[k], nil
}

func rowCounts(t *testing.T, slug string) (tenantsN, auditN int) {
	t.Helper()
	ctx := context.Background()
	if err := env.Owner.QueryRow(ctx, "SELECT count(*) FROM tenants WHERE slug = $1", slug).Scan(&tenantsN); err != nil {
		t.Fatal(err)
	}
	if err := env.Owner.QueryRow(ctx, "SELECT count(*) FROM audit_log a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = $1", slug).Scan(&auditN); err != nil {
		t.Fatal(err)
	}
	return
}

func TestApplyEveryTemplateTwiceIsIdempotent(t *testing.T) {
	ctx := context.Background()
	owners := &fakeOwners{}
	svc := newService(t, tenant.WithOwnerProvisioner(owners))
	for _, name := range tenants.Templates {
		t.Run(name, func(t *testing.T) {
			existed, _ := rowCounts(t, name) // another test (shuffled first) may have applied it
			first, err := svc.Apply(ctx, tenants.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			if (existed == 0) != (first.Outcome == tenant.OutcomeCreated) || first.OwnerID == uuid.Nil || first.Slug != name {
				t.Fatalf("first apply: %+v", first)
			}
			tn, audits := rowCounts(t, name)
			second, err := svc.Apply(ctx, tenants.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			if second.Outcome != tenant.OutcomeUnchanged || len(second.Changes) != 0 {
				t.Fatalf("second apply: %+v, want unchanged", second)
			}
			if second.TenantID != first.TenantID || second.OwnerID != first.OwnerID {
				t.Fatalf("ids changed: %+v vs %+v", first, second)
			}
			tn2, audits2 := rowCounts(t, name)
			if tn != 1 || tn2 != 1 || audits2 != audits {
				t.Fatalf("tenants %d→%d, audit rows %d→%d", tn, tn2, audits, audits2)
			}
			st, err := svc.Settings(ctx, first.TenantID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Template != name || len(st.Commands["ru"]) == 0 {
				t.Errorf("stored settings %+v", st)
			}
		})
	}
}

func TestApplyStoresTemplateTextsAndSettings(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	res, err := svc.ApplyFile(ctx, "../../tenants/beauty-clinic/tenant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if res.Template != "beauty-clinic" || len(res.Skipped) != 1 || res.Skipped[0] != "owner" {
		t.Fatalf("result %+v: without a provisioner the owner is reported skipped", res)
	}
	got := svc.Text(ctx, res.TenantID, "help", "en-US", map[string]string{"tenant_name": "Beauty Clinic"})
	if !strings.Contains(got, "/callback — call me back") || !strings.HasPrefix(got, "Beauty Clinic client cabinet") {
		t.Errorf("template text not used: %q", got)
	}
	list, err := svc.ListTexts(ctx, res.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Key == "help" && (e.Values["ru"].Overridden || !strings.Contains(e.Values["ru"].Default, "/visits")) {
			t.Errorf("help: the template's text is the tenant's default, not an override: %+v", e.Values["ru"])
		}
	}
	st, _ := svc.Settings(ctx, res.TenantID)
	if st.Timezone != "Asia/Tomsk" || !st.Features["cabinet"] || st.Features["dispatch"] || st.FeatureSettings["cabinet"]["currency"] != "₽" {
		t.Errorf("settings %+v", st)
	}
}

// copyTemplate copies a shipped template into a MapFS the test can edit.
func copyTemplate(t *testing.T, name string) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	for _, f := range []string{"tenant.yaml", "texts.ru.yaml", "texts.en.yaml"} {
		b, err := fs.ReadFile(tenants.FS, name+"/"+f)
		if err != nil {
			t.Fatal(err)
		}
		out[name+"/"+f] = &fstest.MapFile{Data: b}
	}
	return out
}

func TestApplyUpdatesWhatChangedAndKeepsTenantOverrides(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	fsys := copyTemplate(t, "courier-dispatch")
	fsys["courier-dispatch/tenant.yaml"].Data = []byte(strings.Replace(string(fsys["courier-dispatch/tenant.yaml"].Data),
		"slug: courier-dispatch", "slug: courier-copy", 1))
	res, err := svc.Apply(ctx, fsys, "courier-dispatch")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetText(ctx, res.TenantID, ids.New(), "dispatch.already_taken", "ru", "Опоздали: «{title}» уже занят."); err != nil {
		t.Fatal(err)
	}
	applies := auditCount(t, res.TenantID, "tenant.apply")
	y := string(fsys["courier-dispatch/tenant.yaml"].Data)
	y = strings.Replace(y, "name: Courier Dispatch", "name: Courier Dispatch 2", 1)
	y = strings.Replace(y, "  broadcasts: false", "  broadcasts: true", 1)
	fsys["courier-dispatch/tenant.yaml"].Data = []byte(y)
	fsys["courier-dispatch/texts.en.yaml"].Data = []byte("help: New help\n")

	again, err := svc.Apply(ctx, fsys, "courier-dispatch")
	if err != nil {
		t.Fatal(err)
	}
	if again.Outcome != tenant.OutcomeUpdated || again.TenantID != res.TenantID ||
		strings.Join(again.Changes, ",") != "name,features,texts" {
		t.Fatalf("re-apply: %+v", again)
	}
	if !svc.FeatureEnabled(ctx, res.TenantID, "broadcasts") {
		t.Error("feature not updated")
	}
	if got := svc.Text(ctx, res.TenantID, "help", "en", nil); got != "New help" {
		t.Errorf("template text not updated: %q", got)
	}
	if got := svc.Text(ctx, res.TenantID, "dispatch.already_taken", "ru", map[string]string{"title": "X"}); got != "Опоздали: «X» уже занят." {
		t.Errorf("the admin's override must survive a re-apply: %q", got)
	}
	if n := auditCount(t, res.TenantID, "tenant.apply"); n != applies+1 {
		t.Errorf("apply audit rows = %d, want %d", n, applies+1)
	}
}

func TestApplyRefusesInvalidTemplateAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	fsys := copyTemplate(t, "alumni-club")
	y := strings.Replace(string(fsys["alumni-club/tenant.yaml"].Data), "Europe/Moscow", "Europe/Nowhere", 1)
	y = strings.Replace(y, "slug: alumni-club", "slug: alumni-broken", 1)
	fsys["alumni-club/tenant.yaml"].Data = []byte(y)
	_, err := svc.Apply(ctx, fsys, "alumni-club")
	if err == nil || !strings.Contains(err.Error(), "/timezone") {
		t.Fatalf("err = %v, want the time zone named", err)
	}
	if n, _ := rowCounts(t, "alumni-broken"); n != 0 {
		t.Fatal("an invalid template created a tenant")
	}
	if _, err := svc.ApplyFile(ctx, "../../tenants/schema.json"); err == nil {
		t.Fatal("ApplyFile accepted a file that is not tenant.yaml")
	}
}
