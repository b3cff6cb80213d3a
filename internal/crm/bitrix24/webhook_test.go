package bitrix24_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24/b24fake"
)

const form = "application/x-www-form-urlencoded"

func TestParseWebhookDocumentedEvent(t *testing.T) {
	c, fake, _ := newClient(t)
	evs, err := c.ParseWebhook(context.Background(), crm.WebhookRequest{ContentType: form, Body: []byte(b24fake.DealUpdateEvent)})
	if err != nil {
		t.Fatal(err)
	}
	want := crm.Event{Type: crm.DealFieldChanged, Key: "oncrmdealupdate:410:1466439714", AccountID: b24fake.MemberID,
		DealID: "410", OccurredAt: time.Unix(1466439714, 0).UTC()}
	if len(evs) != 1 || evs[0].Type != want.Type || evs[0].Key != want.Key || evs[0].AccountID != want.AccountID ||
		evs[0].DealID != want.DealID || !evs[0].OccurredAt.Equal(want.OccurredAt) {
		t.Fatalf("events: %+v", evs)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Fatalf("parsing called the portal %d times", n)
	}
}

func TestParseWebhookEventTypes(t *testing.T) {
	c, _, _ := newClient(t)
	cases := []struct {
		event   string
		want    crm.EventType
		contact bool
	}{
		{"ONCRMDEALADD", crm.DealAdded, false},
		{"onCrmDealUpdate", crm.DealFieldChanged, false},
		{"ONCRMDEALDELETE", crm.DealDeleted, false},
		{"ONCRMCONTACTADD", crm.ContactChanged, true},
		{"ONCRMCONTACTUPDATE", crm.ContactChanged, true},
	}
	for _, tc := range cases {
		body := b24fake.EventForm(tc.event, "77", b24fake.AppToken, 1700000000).Encode()
		evs, err := c.ParseWebhook(context.Background(), crm.WebhookRequest{ContentType: form, Body: []byte(body)})
		if err != nil || len(evs) != 1 || evs[0].Type != tc.want {
			t.Fatalf("%s: %+v, %v", tc.event, evs, err)
		}
		if tc.contact && evs[0].ContactID != "77" || !tc.contact && evs[0].DealID != "77" {
			t.Fatalf("%s: ids %+v", tc.event, evs[0])
		}
	}
	// An authentic event of another entity: nothing to do, no error.
	body := b24fake.EventForm("ONCRMLEADUPDATE", "5", b24fake.AppToken, 1700000000).Encode()
	if evs, err := c.ParseWebhook(context.Background(), crm.WebhookRequest{ContentType: form, Body: []byte(body)}); err != nil || len(evs) != 0 {
		t.Fatalf("lead event: %+v, %v", evs, err)
	}
}

func TestParseWebhookRefusesForgedEvents(t *testing.T) {
	c, fake, _ := newClient(t)
	ctx := context.Background()
	cases := map[string]string{
		"wrong token":   b24fake.EventForm("ONCRMDEALUPDATE", "410", "0000000000000000000000000000000", 1700000000).Encode(),
		"token prefix":  b24fake.EventForm("ONCRMDEALUPDATE", "410", b24fake.AppToken[:10], 1700000000).Encode(),
		"empty token":   b24fake.EventForm("ONCRMDEALUPDATE", "410", "", 1700000000).Encode(),
		"no auth":       "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=410&ts=1700000000",
		"token in data": "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=410&ts=1700000000&data%5Bapplication_token%5D=" + b24fake.AppToken,
	}
	for name, body := range cases {
		evs, err := c.ParseWebhook(ctx, crm.WebhookRequest{ContentType: form, Body: []byte(body)})
		if !errors.Is(err, crm.ErrForged) || evs != nil {
			t.Errorf("%s: %+v, %v; want ErrForged", name, evs, err)
		}
	}
	// A connector configured without a token accepts nothing.
	noToken, err := bitrix24.New(bitrix24.Config{WebhookURL: fake.WebhookURL()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noToken.ParseWebhook(ctx, crm.WebhookRequest{ContentType: form, Body: []byte(b24fake.DealUpdateEvent)}); !errors.Is(err, crm.ErrForged) {
		t.Fatalf("no configured token: %v", err)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Fatalf("forged events reached the portal: %d calls", n)
	}
}

func TestParseWebhookRefusesMalformedBodies(t *testing.T) {
	c, _, _ := newClient(t)
	tok := "&auth%5Bapplication_token%5D=" + b24fake.AppToken
	cases := []struct {
		name, ctype, body string
	}{
		{"json", "application/json", `{"event":"ONCRMDEALUPDATE"}`},
		{"bad content type", "text/plain; charset", "event=x"},
		{"bad escape", form, "event=%zz" + tok},
		{"no event", form, "data%5BFIELDS%5D%5BID%5D=410&ts=1700000000" + tok},
		{"no id", form, "event=ONCRMDEALUPDATE&ts=1700000000" + tok},
		{"id not a number", form, "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=41x&ts=1700000000" + tok},
		{"id zero", form, "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=0&ts=1700000000" + tok},
		{"id negative", form, "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=-4&ts=1700000000" + tok},
		{"no ts", form, "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=410" + tok},
		{"ts not a number", form, "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=410&ts=yesterday" + tok},
		{"10 MB", form, "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=410&ts=1700000000" + tok + "&pad=" + strings.Repeat("a", 10<<20)},
	}
	for _, tc := range cases {
		evs, err := c.ParseWebhook(context.Background(), crm.WebhookRequest{ContentType: tc.ctype, Body: []byte(tc.body)})
		if !errors.Is(err, crm.ErrMalformed) || evs != nil {
			t.Errorf("%s: %+v, %v; want ErrMalformed", tc.name, evs, err)
		}
	}
}

func TestResolve(t *testing.T) {
	c, fake, _ := newClient(t)
	ctx := context.Background()
	parse := func(event, id string, ts int64) crm.Event {
		evs, err := c.ParseWebhook(ctx, crm.WebhookRequest{ContentType: form, Body: []byte(b24fake.EventForm(event, id, b24fake.AppToken, ts).Encode())})
		if err != nil || len(evs) != 1 {
			t.Fatalf("parse: %v %v", evs, err)
		}
		return evs[0]
	}
	// The deal moved from PREPARATION (what the service knew) to EXECUTING.
	fake.PutDeal("500", map[string]any{"TITLE": "Clean a flat", "STAGE_ID": "EXECUTING", "OPPORTUNITY": "3500.00", "UF_CRM_X": "y"})
	e, err := c.Resolve(ctx, parse("ONCRMDEALUPDATE", "500", 1700000001), "PREPARATION")
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != crm.DealStageEntered || e.StageID != "EXECUTING" || e.PrevStageID != "PREPARATION" || e.PipelineID != "0" ||
		e.Fields["UF_CRM_X"] != "y" || e.Fields["TITLE"] != "Clean a flat" {
		t.Fatalf("stage change: %+v", e)
	}
	// Same stage: a field change.
	e, err = c.Resolve(ctx, parse("ONCRMDEALUPDATE", "500", 1700000002), "EXECUTING")
	if err != nil || e.Type != crm.DealFieldChanged || e.StageID != "EXECUTING" || e.PrevStageID != "" {
		t.Fatalf("field change: %+v, %v", e, err)
	}
	// Unknown previous stage: stays a field change, with the stage filled in.
	e, err = c.Resolve(ctx, parse("ONCRMDEALUPDATE", "500", 1700000003), "")
	if err != nil || e.Type != crm.DealFieldChanged || e.StageID != "EXECUTING" {
		t.Fatalf("unknown previous stage: %+v, %v", e, err)
	}
	// A new deal gets its first stage.
	e, err = c.Resolve(ctx, parse("ONCRMDEALADD", "410", 1700000004), "")
	if err != nil || e.Type != crm.DealAdded || e.StageID != "PREPARATION" {
		t.Fatalf("added: %+v, %v", e, err)
	}
	// An event for a deal the portal does not have.
	if _, err := c.Resolve(ctx, parse("ONCRMDEALUPDATE", "9999", 1700000005), "NEW"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("unknown deal: %v", err)
	}
	// Deletions are not fetched.
	before := len(fake.Calls())
	if e, err := c.Resolve(ctx, parse("ONCRMDEALDELETE", "500", 1700000006), "NEW"); err != nil || e.Type != crm.DealDeleted {
		t.Fatalf("deleted: %+v, %v", e, err)
	}
	if len(fake.Calls()) != before {
		t.Fatal("Resolve fetched a deleted deal")
	}
}

// The fake portal posts events to an endpoint the way the platform's
// webhook route receives them: authentic ones become typed events, forged
// ones are refused with nothing recorded.
func TestEventsFromThePortalReachAHandler(t *testing.T) {
	c, fake, _ := newClient(t)
	var mu sync.Mutex
	var got []crm.Event
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		evs, err := c.ParseWebhook(r.Context(), crm.WebhookRequest{ContentType: r.Header.Get("Content-Type"), Query: r.URL.Query(), Header: r.Header, Body: body})
		switch {
		case errors.Is(err, crm.ErrForged):
			w.WriteHeader(http.StatusUnauthorized)
			return
		case err != nil:
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, e := range evs {
			if e, err := c.Resolve(r.Context(), e, "NEW"); err == nil {
				mu.Lock()
				got = append(got, e)
				mu.Unlock()
			}
		}
	}))
	defer endpoint.Close()
	ctx := context.Background()
	if code, err := fake.Emit(ctx, endpoint.URL, "ONCRMDEALUPDATE", "410", 1700000000); err != nil || code != 200 {
		t.Fatalf("emit: %d %v", code, err)
	}
	if code, err := b24fake.Post(ctx, endpoint.URL, b24fake.EventForm("ONCRMDEALUPDATE", "410", "forged", 1700000001)); err != nil || code != 401 {
		t.Fatalf("forged: %d %v", code, err)
	}
	if code, err := b24fake.Post(ctx, endpoint.URL, url.Values{"event": {"ONCRMDEALUPDATE"}}); err != nil || code != 401 {
		t.Fatalf("no token: %d %v", code, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Type != crm.DealStageEntered || got[0].StageID != "PREPARATION" || got[0].PrevStageID != "NEW" {
		t.Fatalf("events: %+v", got)
	}
}

// The form parser never panics, and whatever it accepts carried the right
// token and a positive numeric id.
func FuzzParseWebhook(f *testing.F) {
	f.Add(b24fake.DealUpdateEvent)
	f.Add(b24fake.EventForm("ONCRMCONTACTUPDATE", "1", b24fake.AppToken, 1).Encode())
	f.Add("event=ONCRMDEALUPDATE&data[FIELDS][ID]=1&ts=1&auth[application_token]=" + b24fake.AppToken)
	f.Add("%")
	f.Add("a=1&a=2&&&==;")
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: "https://x.bitrix24.ru/rest/1/abc/", ApplicationToken: b24fake.AppToken}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		evs, err := c.ParseWebhook(context.Background(), crm.WebhookRequest{ContentType: form, Body: []byte(body)})
		if err != nil {
			if evs != nil || !(errors.Is(err, crm.ErrForged) || errors.Is(err, crm.ErrMalformed)) {
				t.Fatalf("error %v with events %v", err, evs)
			}
			return
		}
		v, _ := url.ParseQuery(body)
		if v.Get("auth[application_token]") != b24fake.AppToken {
			t.Fatalf("accepted without the token: %q", body)
		}
		for _, e := range evs {
			id := e.DealID + e.ContactID
			if id == "" || id[0] == '0' || strings.Trim(id, "0123456789") != "" || e.Key == "" {
				t.Fatalf("accepted event %+v from %q", e, body)
			}
		}
	})
}
