package crm_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// Events a tenant's system pushes (the 1C exchange) go through the same
// pipeline as webhooks: deduplicated by key, mapped contact fields synced,
// then the rules; with or without a connector; another tenant's connector
// is refused.
func TestIngestPushedEvents(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	info := r.connect(r.tenant, map[string]string{"balance": "balance"})
	linked := newContact(t, r.tenant, "")
	if _, err := r.svc.SetLink(ctx, r.tenant, uuid.Nil, linked, crm.LinkRequest{ConnectorID: info.ID, CRMContactID: "C-1"}); err != nil {
		t.Fatal(err)
	}
	sink := r.svc.Intake()
	e := crm.Event{Type: crm.ContactChanged, Key: "exchange:client:C-1:v1", ContactID: "C-1", Fields: map[string]any{"balance": 1500.0}}
	for range 2 { // a repeated push is one event
		if err := sink.HandleCRMEvent(ctx, r.tenant, info.ID, e); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the pushed balance is synced and the rules get the event", func() bool {
		_, custom := contactRow(t, linked)
		return custom["balance"] == 1500.0 && len(r.sink.got()) == 1
	})
	stage := crm.Event{Type: crm.DealStageEntered, Key: "exchange:order:77:done", DealID: "77", StageID: "done", PipelineID: "orders"}
	if err := sink.HandleCRMEvent(ctx, r.tenant, uuid.Nil, stage); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "an event pushed without a connector reaches the rules", func() bool { return len(r.sink.got()) == 2 })
	if got := r.sink.got()[1]; got.DealID != "77" || got.StageID != "done" {
		t.Fatalf("pushed stage %+v", got)
	}
	if err := sink.HandleCRMEvent(ctx, r.other, info.ID, stage); err != crm.ErrConnectorNotFound {
		t.Fatalf("another tenant's connector: %v", err)
	}
	if err := sink.HandleCRMEvent(ctx, r.tenant, uuid.Nil, crm.Event{Type: crm.DealAdded}); err == nil {
		t.Fatal("an event without a key was taken")
	}
	if n := len(r.sink.got()); n != 2 {
		t.Fatalf("%d events", n)
	}
}
