package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24/b24fake"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson/fake1c"
)

// Bitrix24 through the whole platform: connected through the API with its
// incoming webhook and application token; the portal's outgoing events reach
// the rules as typed events (a stage change found by fetching the deal); a
// forged event changes nothing; a deal update and a comment reach the portal.
func TestBitrix24EndToEnd(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Builders Co")
	portal := b24fake.New()
	t.Cleanup(portal.Close)
	sink := &recordingSink{}
	p.App.CRM.SetSink(sink)

	var info crm.Info
	code := p.call(t, "POST", "/api/v1/connectors", tm.Admin.Token, map[string]any{"kind": "bitrix24", "name": "Bitrix24",
		"credentials": map[string]string{"webhook_url": portal.WebhookURL(), "application_token": b24fake.AppToken}}, &info)
	must(t, code == 201, "create connector: %d", code)
	var bad map[string]any
	code = p.call(t, "POST", "/api/v1/connectors", tm.Admin.Token, map[string]any{"kind": "bitrix24", "name": "Broken",
		"credentials": map[string]string{"webhook_url": "ftp://portal/rest/1/x/"}}, &bad)
	must(t, code == 422, "bad credentials: %d %v", code, bad)

	ctx := context.Background()
	// A forged event (wrong application token) is refused.
	status, err := b24fake.Post(ctx, info.WebhookURL, b24fake.EventForm("ONCRMDEALUPDATE", "410", "forged-token", 1700000000))
	if err != nil {
		t.Fatal(err)
	}
	must(t, status != http.StatusOK, "a forged event was accepted")

	// The deal is seen once, then moved: the second event is a stage entry.
	status, err = portal.Emit(ctx, info.WebhookURL, "ONCRMDEALUPDATE", "410", 1700000001)
	must(t, err == nil && status == http.StatusOK, "event: %d %v", status, err)
	waitFor(t, "the first event reaches the rules", func() bool { return sink.count() == 1 })
	portal.PutDeal("410", map[string]any{"STAGE_ID": "EXECUTING", "CATEGORY_ID": "0"})
	status, err = portal.Emit(ctx, info.WebhookURL, "ONCRMDEALUPDATE", "410", 1700000002)
	must(t, err == nil && status == http.StatusOK, "event: %d %v", status, err)
	waitFor(t, "the stage change reaches the rules", func() bool { return sink.count() == 2 })
	// A redelivery of the same event is handled once.
	_, _ = portal.Emit(ctx, info.WebhookURL, "ONCRMDEALUPDATE", "410", 1700000002)
	sink.mu.Lock()
	last := sink.events[1]
	sink.mu.Unlock()
	must(t, last.Type == crm.DealStageEntered && last.DealID == "410" && last.StageID == "EXECUTING", "event %+v", last)

	// Actions reach the portal.
	tenantID := mustUUID(t, tm.TenantID)
	user := "7"
	if _, err := p.App.CRM.UpdateDeal(ctx, tenantID, info.ID, "b24:take", crm.DealUpdate{DealID: "410", ResponsibleUserID: &user}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.App.CRM.AddNote(ctx, tenantID, info.ID, "b24:note", crm.Note{DealID: "410", Text: "Исполнитель найден"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the update and the comment reach Bitrix24", func() bool {
		return portal.Deal("410")["ASSIGNED_BY_ID"] == "7" && len(portal.Comments()) == 1
	})
	must(t, sink.count() == 2, "the redelivered event was handled again: %d events", sink.count())
}

// HTTP/JSON (1C) through the whole platform: connected with a base URL and
// a token; 1C pushes a stage change with an exchange key and it reaches the
// rules; a deal update and a note reach 1C.
func TestHTTPJSONEndToEnd(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Clinic Co")
	oneC := fake1c.New()
	t.Cleanup(oneC.Close)
	sink := &recordingSink{}
	p.App.CRM.SetSink(sink)

	var info crm.Info
	code := p.call(t, "POST", "/api/v1/connectors", tm.Admin.Token, map[string]any{"kind": "httpjson", "name": "1C",
		"credentials": map[string]string{"base_url": oneC.BaseURL(), "token": fake1c.Token}}, &info)
	must(t, code == 201, "create connector: %d", code)

	var key struct {
		Key string `json:"key"`
	}
	must(t, p.call(t, "POST", "/api/v1/exchange/keys", tm.Admin.Token, map[string]any{"name": "1C"}, &key) == 201, "exchange key")
	ev := map[string]any{"events": []map[string]any{{"id": "1c-evt-1", "type": "deal.stage_entered", "deal_id": "D-77",
		"pipeline_id": "main", "stage_id": "booked", "prev_stage_id": "new", "occurred_at": "2026-03-01T10:00:00+03:00"}}}
	code = p.call(t, "POST", "/api/v1/exchange/deals/events", key.Key, ev, nil)
	must(t, code/100 == 2, "push: %d", code)
	waitFor(t, "the pushed stage change reaches the rules", func() bool { return sink.count() == 1 })
	sink.mu.Lock()
	got := sink.events[0]
	sink.mu.Unlock()
	must(t, got.Type == crm.DealStageEntered && got.DealID == "D-77" && got.StageID == "booked", "event %+v", got)

	ctx := context.Background()
	tenantID := mustUUID(t, tm.TenantID)
	stage := "done"
	if _, err := p.App.CRM.UpdateDeal(ctx, tenantID, info.ID, "1c:stage", crm.DealUpdate{DealID: "D-77", StageID: &stage}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.App.CRM.AddNote(ctx, tenantID, info.ID, "1c:note", crm.Note{DealID: "D-77", Text: "Визит подтверждён"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the update and the note reach 1C", func() bool {
		d, _ := oneC.Deal("D-77")
		return d.StageID == "done" && len(oneC.Notes("D-77")) == 1
	})
}
