package crm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
)

func strp(s string) *string { return &s }

// An UpdateDeal and an AddNote queued while amoCRM is down are retried
// with back-off, the outage shows on the connector (pending calls, last
// error), and once amoCRM is back the fake shows the changes.
func TestCallsRetriedWhileCRMDownThenApplied(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	info := r.connect(r.tenant, nil)
	r.fake.AddLead(amofake.Lead{ID: 101, Name: "Переезд", StatusID: 32392159, PipelineID: 3177727, ResponsibleUserID: 504141})
	r.fake.SetDown(true)
	upd, err := r.svc.UpdateDeal(ctx, r.tenant, info.ID, "take:101", crm.DealUpdate{DealID: "101",
		ResponsibleUserID: strp("504142"), StageID: strp("32392165"), Fields: map[string]any{"3091643": "Олег"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.AddNote(ctx, r.tenant, info.ID, "note:101", crm.Note{DealID: "101", Text: "Заказ взял Олег"}); err != nil {
		t.Fatal(err)
	}
	// The same key again is the same call.
	again, err := r.svc.UpdateDeal(ctx, r.tenant, info.ID, "take:101", crm.DealUpdate{DealID: "101"})
	if err != nil || again != upd {
		t.Fatalf("idempotent enqueue: %s vs %s, %v", again, upd, err)
	}
	eventually(t, 10*time.Second, "the outage is visible", func() bool {
		h := r.health(r.tenant, info.ID)
		calls, _ := r.svc.Calls(ctx, r.tenant, info.ID, 10)
		retried := len(calls) == 2
		for _, c := range calls {
			retried = retried && c.Attempts >= 2 && c.Status == "pending" && strings.Contains(c.LastError, "unavailable")
		}
		return retried && h.PendingCalls == 2 && strings.Contains(h.LastError, "unavailable")
	})
	r.fake.SetDown(false)
	eventually(t, 10*time.Second, "the calls succeed", func() bool { return r.health(r.tenant, info.ID).PendingCalls == 0 })
	l, _ := r.fake.Lead(101)
	if l.ResponsibleUserID != 504142 || l.StatusID != 32392165 || l.Fields[3091643][0] != "Олег" {
		t.Fatalf("lead %+v", l)
	}
	if n := r.fake.Notes(); len(n) != 1 || n[0].Text != "Заказ взял Олег" {
		t.Fatalf("notes %+v", n)
	}
	calls, err := r.svc.Calls(ctx, r.tenant, info.ID, 10)
	if err != nil || len(calls) != 2 {
		t.Fatalf("calls %+v %v", calls, err)
	}
	for _, c := range calls {
		if c.Status != "done" || c.Attempts < 2 {
			t.Fatalf("call %+v", c)
		}
	}
	if h := r.health(r.tenant, info.ID); h.LastSuccessAt == nil || h.FailedCalls != 0 {
		t.Fatalf("health %+v", h)
	}
}

// A 429 is waited out (Retry-After), not counted as a failure.
func TestCallRateLimitedWaitsAndSucceeds(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	info := r.connect(r.tenant, nil)
	r.fake.AddLead(amofake.Lead{ID: 7, Name: "L", StatusID: 1, PipelineID: 2})
	r.fake.RateLimit(3, "")
	if _, err := r.svc.AddNote(ctx, r.tenant, info.ID, "", crm.Note{DealID: "7", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the note lands", func() bool {
		calls, _ := r.svc.Calls(ctx, r.tenant, info.ID, 10)
		return len(r.fake.Notes()) == 1 && len(calls) == 1 && calls[0].Status == "done"
	})
	calls, _ := r.svc.Calls(ctx, r.tenant, info.ID, 10)
	if calls[0].Attempts != 4 {
		t.Fatalf("calls %+v", calls)
	}
	n429 := 0
	for _, c := range r.fake.Calls() {
		if c.Status == 429 {
			n429++
		}
	}
	if n429 != 3 {
		t.Fatalf("429s answered: %d", n429)
	}
}

// A call amoCRM refuses (validation) fails at once, visibly; a revoked
// long-lived token fails the call and marks the connector auth_error.
func TestCallRefusedAndRevokedToken(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	info := r.connect(r.tenant, nil)
	r.fake.AddLead(amofake.Lead{ID: 8, Name: "L", StatusID: 1, PipelineID: 2})
	if _, err := r.svc.UpdateDeal(ctx, r.tenant, info.ID, "", crm.DealUpdate{DealID: "8", Fields: map[string]any{"12345": "x"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the refused call is failed", func() bool {
		h := r.health(r.tenant, info.ID)
		return h.FailedCalls == 1 && h.PendingCalls == 0 && strings.Contains(h.LastError, "not a valid choice")
	})
	r.fake.ExpireAccessTokens()
	if _, err := r.svc.AddNote(ctx, r.tenant, info.ID, "", crm.Note{DealID: "8", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the connector shows the auth error", func() bool {
		h := r.health(r.tenant, info.ID)
		return h.Status == "auth_error" && h.FailedCalls == 2
	})
	// Another tenant cannot queue calls through this connector.
	if _, err := r.svc.AddNote(ctx, r.other, info.ID, "", crm.Note{DealID: "8", Text: "x"}); err != crm.ErrConnectorNotFound {
		t.Fatalf("cross-tenant call: %v", err)
	}
}

// A call whose task was lost (recorded, never queued) is found by the
// sweeper and made; old finished calls are pruned.
func TestSweeperRequeuesLostCalls(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	info := r.connect(r.tenant, nil)
	r.fake.AddLead(amofake.Lead{ID: 9, Name: "L", StatusID: 1, PipelineID: 2})
	lost := uuid.New()
	if _, err := env.Owner.Exec(ctx, `INSERT INTO crm_calls (id, tenant_id, connector_id, key, op, payload, created_at, updated_at)
		VALUES ($1, $2, $3, 'lost', 'add_note', '{"deal_id":"9","text":"from the sweeper"}', now() - interval '1 hour', now() - interval '1 hour')`,
		lost, r.tenant, info.ID); err != nil {
		t.Fatal(err)
	}
	old := uuid.New()
	if _, err := env.Owner.Exec(ctx, `INSERT INTO crm_calls (id, tenant_id, connector_id, key, op, payload, status, created_at, updated_at)
		VALUES ($1, $2, $3, 'old', 'add_note', '{}', 'done', now() - interval '40 days', now() - interval '40 days')`,
		old, r.tenant, info.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the lost call is made", func() bool {
		n := r.fake.Notes()
		return len(n) == 1 && n[0].Text == "from the sweeper"
	})
	var left int
	if err := env.Owner.QueryRow(ctx, `SELECT count(*) FROM crm_calls WHERE id = $1`, old).Scan(&left); err != nil || left != 0 {
		t.Fatalf("old call kept: %d %v", left, err)
	}
}
