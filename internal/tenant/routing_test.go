package tenant_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// SetRequestTypes replaces only settings.support.request_types: it works on
// a tenant whose settings have no "support" yet, keeps the other keys, is
// visible through Settings at once and audits only real changes.
func TestSetRequestTypesKeepsTheRestOfTheSettings(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	bare, rich := newTenant(t), newTenant(t)
	if _, err := env.Owner.Exec(ctx, `UPDATE tenants SET settings = '{"support": {"csat": true, "status_icons": {"new": "🆕"}},
		"feature_settings": {"surveys": {"csat_delay_minutes": 5}}}' WHERE id = $1`, rich); err != nil {
		t.Fatal(err)
	}
	actor := ids.New()
	types := []tenant.RequestType{
		{Key: "payment", Title: map[string]string{"ru": "Оплата", "en": "Payment"}, Tag: "billing",
			StaffGroup: &tenant.StaffGroupRef{BotID: 7, ChatID: -100}, Assignee: &actor},
		{Key: "other", Title: map[string]string{"ru": "Другое", "en": "Other"}},
	}
	for name, tid := range map[string]uuid.UUID{"bare": bare, "rich": rich} {
		changed, err := svc.SetRequestTypes(ctx, tid, actor, types)
		if err != nil || !changed {
			t.Fatalf("%s: changed %v, err %v", name, changed, err)
		}
		st, err := svc.Settings(ctx, tid)
		if err != nil {
			t.Fatal(err)
		}
		got := st.Support.RequestTypes
		if len(got) != 2 || got[0].Key != "payment" || got[0].StaffGroup == nil || got[0].StaffGroup.ChatID != -100 ||
			got[0].Assignee == nil || *got[0].Assignee != actor || got[1].Title["en"] != "Other" {
			t.Fatalf("%s: request types %+v", name, got)
		}
		if changed, err := svc.SetRequestTypes(ctx, tid, actor, types); err != nil || changed {
			t.Fatalf("%s: same menu again: changed %v, err %v", name, changed, err)
		}
		var audits int
		if err := env.Owner.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'support.routing.update'`, tid).Scan(&audits); err != nil || audits != 1 {
			t.Fatalf("%s: audits %d %v", name, audits, err)
		}
	}
	st, _ := svc.Settings(ctx, rich)
	if !st.Support.CSAT || st.Support.StatusIcons["new"] != "🆕" || st.FeatureSettings["surveys"]["csat_delay_minutes"] != float64(5) {
		t.Fatalf("other settings lost: %+v %+v", st.Support, st.FeatureSettings)
	}
	// An empty menu is stored as empty (no menu), not left as it was.
	if changed, err := svc.SetRequestTypes(ctx, rich, actor, nil); err != nil || !changed {
		t.Fatalf("clear: %v %v", changed, err)
	}
	if st, _ := svc.Settings(ctx, rich); len(st.Support.RequestTypes) != 0 || !st.Support.CSAT {
		t.Fatalf("after clearing: %+v", st.Support)
	}
}
