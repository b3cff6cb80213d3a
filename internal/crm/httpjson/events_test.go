package httpjson_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson"
)

func signed(body, secret string) crm.WebhookRequest {
	h := http.Header{}
	h.Set("X-Signature", httpjson.Sign(secret, []byte(body)))
	return crm.WebhookRequest{ContentType: "application/json", Header: h, Body: []byte(body)}
}

func TestParseWebhook(t *testing.T) {
	c, _, _ := newClient(t)
	ctx := context.Background()
	body := `{"events":[{"id":"evt-1","type":"deal.stage_entered","deal_id":"D-77","pipeline_id":"main","stage_id":"booked","prev_stage_id":"new","occurred_at":"2026-03-01T10:00:00Z"}]}`
	evs, err := c.ParseWebhook(ctx, signed(body, "s3cret"))
	if err != nil || len(evs) != 1 || evs[0].Type != crm.DealStageEntered || evs[0].Key != "httpjson:evt-1" || evs[0].StageID != "booked" || evs[0].PrevStageID != "new" {
		t.Fatalf("events: %+v %v", evs, err)
	}
	for name, req := range map[string]crm.WebhookRequest{
		"wrong secret": signed(body, "other"),
		"no signature": {Body: []byte(body)},
		"body changed": func() crm.WebhookRequest {
			r := signed(body, "s3cret")
			r.Body = []byte(strings.Replace(body, "booked", "done", 1))
			return r
		}(),
	} {
		if _, err := c.ParseWebhook(ctx, req); !errors.Is(err, crm.ErrForged) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range map[string]string{
		"not json":      `events`,
		"no events":     `{"events":[]}`,
		"unknown field": `{"events":[],"x":1}`,
		"no id":         `{"events":[{"type":"deal.added","deal_id":"1","occurred_at":"2026-03-01T10:00:00Z"}]}`,
		"bad type":      `{"events":[{"id":"e","type":"deal.moved","deal_id":"1","occurred_at":"2026-03-01T10:00:00Z"}]}`,
		"no stage":      `{"events":[{"id":"e","type":"deal.stage_entered","deal_id":"1","occurred_at":"2026-03-01T10:00:00Z"}]}`,
		"no time":       `{"events":[{"id":"e","type":"contact.changed","contact_id":"C-1"}]}`,
	} {
		if _, err := c.ParseWebhook(ctx, signed(b, "s3cret")); !errors.Is(err, crm.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Without a configured secret nothing is accepted.
	plain, _ := httpjson.New(httpjson.Config{BaseURL: "https://1c.example.com", Token: "t"}, nil, nil)
	if _, err := plain.ParseWebhook(ctx, signed(body, "")); !errors.Is(err, crm.ErrForged) {
		t.Fatalf("no secret configured: %v", err)
	}
}
