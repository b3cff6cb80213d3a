package automation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24/b24fake"
	"github.com/tgdesk/helpdesk/internal/dispatch"
)

// connectorWriter calls a connector directly, as the crm service's
// durable calls do in the end.
type connectorWriter struct{ c crm.Connector }

func (w connectorWriter) UpdateDeal(ctx context.Context, _, _ uuid.UUID, _ string, u crm.DealUpdate) error {
	return w.c.UpdateDeal(ctx, u)
}

func (w connectorWriter) AddNote(ctx context.Context, _, _ uuid.UUID, _ string, n crm.Note) error {
	return w.c.AddNote(ctx, n)
}

func (w connectorWriter) GetDeal(ctx context.Context, _, _ uuid.UUID, id string) (crm.Deal, error) {
	return w.c.GetDeal(ctx, id)
}

// The seed 002 path with Bitrix24: the portal's ONCRMDEALUPDATE (form,
// application token) parsed and resolved by the bitrix24 connector against
// its fake portal, the card, the phone in private, the take, and the deal
// updated on the portal (ASSIGNED_BY_ID, a timeline comment).
func TestBitrix24EventToTakenOrder(t *testing.T) {
	portal := b24fake.New()
	defer portal.Close()
	client, err := bitrix24.New(bitrix24.Config{WebhookURL: portal.WebhookURL(), ApplicationToken: b24fake.AppToken}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, `{"registered_only": false, "fields": {"title": "name", "client_phone": "UF_CRM_PHONE", "address": "UF_CRM_ADDR"}}`,
		connectorWriter{client})
	r.bindExecutors()
	ctx := context.Background()
	exec := r.member("Stas", "")
	if err := r.sb.AddUserToChat(exec.user.ID, r.group.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.disp.SetUserLink(ctx, r.tenant, uuid.Nil, dispatch.UserLink{TgUserID: exec.user.ID, CRMUserID: "7"}); err != nil {
		t.Fatal(err)
	}
	portal.PutDeal("510", map[string]any{"TITLE": "Install a boiler", "STAGE_ID": "PREPARATION", "OPPORTUNITY": "4500.00",
		"ASSIGNED_BY_ID": "1", "UF_CRM_PHONE": "+79005556677", "UF_CRM_ADDR": "Nevsky 10"})
	rule := r.rule(`{"name": "Search for executor", "trigger": {"type": "deal.stage_entered", "pipeline_id": "0", "stage_id": "PREPARATION"},
		"actions": [{"type": "dispatch.post"}]}`)

	form := b24fake.EventForm(bitrix24.EventDealUpdate, "510", b24fake.AppToken, time.Now().Unix())
	evs, err := client.ParseWebhook(ctx, crm.WebhookRequest{ContentType: "application/x-www-form-urlencoded", Body: []byte(form.Encode())})
	if err != nil || len(evs) != 1 {
		t.Fatalf("parse: %v %v", evs, err)
	}
	ev, err := client.Resolve(ctx, evs[0], "NEW") // the crm service knew the deal at NEW
	if err != nil || ev.Type != crm.DealStageEntered || ev.StageID != "PREPARATION" {
		t.Fatalf("resolve: %+v %v", ev, err)
	}
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, ev); err != nil {
		t.Fatal(err)
	}
	card := r.groupMessage("Install a boiler")
	if runs := r.runsSettled(rule.ID, 1); runs[0].Outcome != "ok" {
		t.Fatalf("run = %+v", runs[0])
	}
	var phoneData, takeData string
	for _, data := range buttons(card) {
		switch {
		case strings.HasPrefix(data, "dsp:p:"):
			phoneData = data
		case strings.HasPrefix(data, "dsp:t:"):
			takeData = data
		}
	}
	if _, err := r.sb.PressButton(exec.user.ID, r.group.ID, card.MessageID, phoneData); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the phone in a private message", func() bool { return contains(r.privateGot(exec.user.ID), "+79005556677") })
	if _, err := r.sb.PressButton(exec.user.ID, r.group.ID, card.MessageID, takeData); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the portal's deal names the executor", func() bool {
		return portal.Deal("510")["ASSIGNED_BY_ID"] == "7" && len(portal.Comments()) == 1
	})
	if c := portal.Comments()[0]; c.EntityID != "510" || !strings.Contains(c.Text, "Stas") {
		t.Fatalf("comment = %+v", c)
	}
}
