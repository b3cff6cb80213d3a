package app_test

import (
	"testing"

	"github.com/tgdesk/helpdesk/internal/app"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
)

// The adapter keys CRM calls by the caller's key, not their content: a
// re-take (a new job generation) or a new event with the same update is a
// new call and reaches the CRM; the same key again is one call.
func TestCRMWriterKeysByCaller(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Retake Co")
	var info crm.Info
	code := p.call(t, "POST", "/api/v1/connectors", tm.Admin.Token, map[string]any{"kind": "amocrm", "name": "amoCRM",
		"credentials": map[string]string{"account": "example.amocrm.ru", "token": p.AmoCRM.IssueToken()}}, &info)
	must(t, code == 201, "create connector: %d", code)
	tenantID := mustUUID(t, tm.TenantID)
	p.AmoCRM.AddLead(amofake.Lead{ID: 3912171, Name: "Example", StatusID: 32392159, PipelineID: 3177727, ResponsibleUserID: 504141})
	w := app.NewCRMWriter(p.App.CRM)
	n := crm.Note{DealID: "3912171", Text: "Executor: Petr took the order"}
	for _, key := range []string{"dispatch:job:1:note", "dispatch:job:2:note", "dispatch:job:1:note"} {
		if err := w.AddNote(t.Context(), tenantID, info.ID, key, n); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both takes' notes reach amoCRM", func() bool { return len(p.AmoCRM.Notes()) >= 2 })
	var calls int
	if err := env.Owner.QueryRow(t.Context(), `SELECT count(*) FROM crm_calls WHERE connector_id = $1`, info.ID).Scan(&calls); err != nil {
		t.Fatal(err)
	}
	must(t, calls == 2, "crm calls = %d, want 2 (one per key)", calls)
}
