package bitrix24_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24/b24fake"
)

// countingLimiter records the keys it was asked to wait for.
type countingLimiter struct {
	mu   sync.Mutex
	keys []string
}

func (l *countingLimiter) Wait(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	return nil
}

func newClient(t *testing.T) (*bitrix24.Client, *b24fake.Server, *countingLimiter) {
	t.Helper()
	fake := b24fake.New()
	t.Cleanup(fake.Close)
	lim := &countingLimiter{}
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: fake.WebhookURL(), ApplicationToken: b24fake.AppToken}, nil, lim)
	if err != nil {
		t.Fatal(err)
	}
	return c, fake, lim
}

func TestNewValidatesWebhookURL(t *testing.T) {
	cases := []struct {
		name, url string
		ok        bool
	}{
		{"webhook", "https://acme.bitrix24.ru/rest/1/abc123def/", true},
		{"without trailing slash", "https://acme.bitrix24.ru/rest/12/abc123def", true},
		{"with the sample method", "https://acme.bitrix24.ru/rest/1/abc123def/profile.json", true},
		{"empty", "", false},
		{"not a url", "acme", false},
		{"ftp", "ftp://acme.bitrix24.ru/rest/1/abc/", false},
		{"no code", "https://acme.bitrix24.ru/rest/1/", false},
		{"oauth endpoint", "https://acme.bitrix24.ru/rest/", false},
		{"query", "https://acme.bitrix24.ru/rest/1/abc/?auth=x", false},
		{"user info", "https://u:p@acme.bitrix24.ru/rest/1/abc/", false},
		{"user not numeric", "https://acme.bitrix24.ru/rest/admin/abc/", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bitrix24.New(bitrix24.Config{WebhookURL: tc.url}, nil, nil)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%q) = %v, want ok=%v", tc.url, err, tc.ok)
			}
			if err != nil && !errors.Is(err, crm.ErrInvalid) {
				t.Fatalf("error %v is not crm.ErrInvalid", err)
			}
		})
	}
}

// The fake answers crm.deal.get exactly as the documentation's example.
func TestFakeServesTheDocumentedDeal(t *testing.T) {
	_, fake, _ := newClient(t)
	var doc struct{ Result map[string]any }
	if err := json.Unmarshal([]byte(b24fake.DealGet410), &doc); err != nil {
		t.Fatal(err)
	}
	if got := fake.Deal("410"); !reflect.DeepEqual(got, doc.Result) {
		t.Fatalf("fake deal 410 differs from the documented example:\n%v\n%v", got, doc.Result)
	}
}

func TestGetDeal(t *testing.T) {
	c, fake, lim := newClient(t)
	d, err := c.GetDeal(context.Background(), "410")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "410" || d.Name != "New Deal #1" || d.Price != 1000000 || d.PipelineID != "0" || d.StageID != "PREPARATION" ||
		d.ResponsibleUserID != "1" || !reflect.DeepEqual(d.ContactIDs, []string{"84"}) || d.Fields["UF_CRM_1725365834"] != "string value" ||
		d.UpdatedAt.IsZero() {
		t.Fatalf("deal: %+v", d)
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Method != "crm.deal.get" || calls[0].Params["id"] != "410" {
		t.Fatalf("calls: %+v", calls)
	}
	if len(lim.keys) != 1 || !strings.HasPrefix(lim.keys[0], "bitrix24:127.0.0.1:") {
		t.Fatalf("limiter keys: %v", lim.keys)
	}
}

func TestGetContactAndFindByPhone(t *testing.T) {
	c, fake, _ := newClient(t)
	ctx := context.Background()
	ct, err := c.GetContact(ctx, "84")
	if err != nil {
		t.Fatal(err)
	}
	want := crm.Contact{ID: "84", Name: "Ivan Petrov", Phones: []string{"+79161234567"}, Emails: []string{"ivan@example.com"},
		Fields: map[string]any{"UF_CRM_CARD": "A-1001"}}
	if !reflect.DeepEqual(ct, want) {
		t.Fatalf("contact: %+v", ct)
	}
	for _, phone := range []string{"+79161234567", "89161234567", "7 (916) 123-45-67"} {
		got, err := c.FindContactByPhone(ctx, phone)
		if err != nil || got.ID != "84" {
			t.Fatalf("FindContactByPhone(%q) = %+v, %v", phone, got, err)
		}
	}
	before := len(fake.Calls())
	if _, err := c.FindContactByPhone(ctx, "+79990000000"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("unknown phone: %v", err)
	}
	calls := fake.Calls()[before:]
	if len(calls) == 0 || calls[0].Method != "crm.contact.list" {
		t.Fatalf("calls: %+v", calls)
	}
	filter := calls[0].Params["filter"].(map[string]any)
	if filter["PHONE"] != "+79990000000" {
		t.Fatalf("filter: %v", filter)
	}
}

func TestUpdateDealAndAddNote(t *testing.T) {
	c, fake, _ := newClient(t)
	ctx := context.Background()
	user, stage := "7", "EXECUTING"
	err := c.UpdateDeal(ctx, crm.DealUpdate{DealID: "410", ResponsibleUserID: &user, StageID: &stage,
		Fields: map[string]any{"UF_CRM_1725365834": "+79160000000"}})
	if err != nil {
		t.Fatal(err)
	}
	d := fake.Deal("410")
	if d["ASSIGNED_BY_ID"] != "7" || d["STAGE_ID"] != "EXECUTING" || d["UF_CRM_1725365834"] != "+79160000000" {
		t.Fatalf("deal after update: %v", d)
	}
	// The request is the documented one: id, fields, params.
	last := fake.Calls()[len(fake.Calls())-1]
	wantParams := map[string]any{"id": "410", "fields": map[string]any{"ASSIGNED_BY_ID": "7", "STAGE_ID": "EXECUTING",
		"UF_CRM_1725365834": "+79160000000"}, "params": map[string]any{"REGISTER_SONET_EVENT": "Y"}}
	if last.Method != "crm.deal.update" || !reflect.DeepEqual(last.Params, wantParams) {
		t.Fatalf("crm.deal.update request: %+v", last)
	}
	if err := c.UpdateDeal(ctx, crm.DealUpdate{DealID: "999", StageID: &stage}); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("update of a missing deal: %v", err)
	}
	if err := c.AddNote(ctx, crm.Note{DealID: "410", Text: "Executor: Anna, +79160000000"}); err != nil {
		t.Fatal(err)
	}
	if cs := fake.Comments(); len(cs) != 1 || cs[0].EntityID != "410" || cs[0].EntityType != "deal" || cs[0].Text != "Executor: Anna, +79160000000" {
		t.Fatalf("comments: %+v", cs)
	}
	if err := c.AddNote(ctx, crm.Note{DealID: "410"}); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("empty note: %v", err)
	}
}

func TestPipelinesUsersFields(t *testing.T) {
	c, fake, _ := newClient(t)
	fake.SetPageSize(1) // every list is paged
	ctx := context.Background()
	pipes, err := c.Pipelines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []crm.Pipeline{
		{ID: "0", Name: "General", Stages: []crm.Stage{{ID: "NEW", Name: "New"}, {ID: "PREPARATION", Name: "Preparing documents"},
			{ID: "EXECUTING", Name: "In progress"}, {ID: "WON", Name: "Deal won"}, {ID: "LOSE", Name: "Deal lost"}}},
		{ID: "1", Name: "Wholesale", Stages: []crm.Stage{{ID: "C1:NEW", Name: "New"}, {ID: "C1:WON", Name: "Deal won"}}},
	}
	if !reflect.DeepEqual(pipes, want) {
		t.Fatalf("pipelines:\n%+v\nwant\n%+v", pipes, want)
	}
	users, err := c.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(users, []crm.User{{ID: "1", Name: "John Smith", Email: "john@example.com"}, {ID: "7", Name: "Anna Ivanova", Email: "anna@example.com"}}) {
		t.Fatalf("users: %+v", users)
	}
	fields, err := c.Fields(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]crm.Field{}
	for _, f := range fields {
		byID[f.Entity+"/"+f.ID] = f
	}
	if f := byID["deal/UF_CRM_1725365834"]; f.Name != "Executor phone" || f.Type != "string" {
		t.Fatalf("custom deal field: %+v", f)
	}
	if f := byID["deal/STAGE_ID"]; f.Name != "Stage" || f.Type != "crm_status" {
		t.Fatalf("STAGE_ID: %+v", f)
	}
	if f := byID["contact/UF_CRM_CARD"]; f.Name != "Loyalty card" {
		t.Fatalf("custom contact field: %+v", f)
	}
}

func TestErrorsAreMapped(t *testing.T) {
	ctx := context.Background()
	t.Run("not found", func(t *testing.T) {
		c, _, _ := newClient(t)
		if _, err := c.GetDeal(ctx, "999"); !errors.Is(err, crm.ErrNotFound) || crm.Retryable(err) {
			t.Fatalf("GetDeal(999): %v", err)
		}
		if _, err := c.GetContact(ctx, "999"); !errors.Is(err, crm.ErrNotFound) {
			t.Fatalf("GetContact(999): %v", err)
		}
		if _, err := c.GetDeal(ctx, "../x"); !errors.Is(err, crm.ErrNotFound) {
			t.Fatalf("GetDeal(../x): %v", err)
		}
	})
	t.Run("query limit exceeded", func(t *testing.T) {
		c, fake, _ := newClient(t)
		fake.LimitNext(1)
		_, err := c.GetDeal(ctx, "410")
		var rl *crm.RateLimitedError
		if !errors.As(err, &rl) || !crm.Retryable(err) {
			t.Fatalf("limited: %v", err)
		}
		if _, err := c.GetDeal(ctx, "410"); err != nil {
			t.Fatalf("after the limit: %v", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		c, fake, _ := newClient(t)
		fake.SetDown(true)
		if _, err := c.GetDeal(ctx, "410"); !errors.Is(err, crm.ErrUnavailable) || !crm.Retryable(err) {
			t.Fatalf("down: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		fake := b24fake.New()
		u := fake.WebhookURL()
		fake.Close()
		c, err := bitrix24.New(bitrix24.Config{WebhookURL: u}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetDeal(ctx, "410")
		if !errors.Is(err, crm.ErrUnavailable) || strings.Contains(err.Error(), b24fake.Code) {
			t.Fatalf("unreachable: %v (the webhook code must not appear)", err)
		}
	})
	t.Run("revoked webhook", func(t *testing.T) {
		c, fake, _ := newClient(t)
		fake.Revoke()
		if _, err := c.GetDeal(ctx, "410"); !errors.Is(err, crm.ErrUnauthorized) || crm.Retryable(err) {
			t.Fatalf("revoked: %v", err)
		}
	})
	t.Run("wrong webhook code", func(t *testing.T) {
		fake := b24fake.New()
		defer fake.Close()
		c, err := bitrix24.New(bitrix24.Config{WebhookURL: fake.URL() + "/rest/1/wrongcode/"}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetDeal(ctx, "410"); !errors.Is(err, crm.ErrUnauthorized) {
			t.Fatalf("wrong code: %v", err)
		}
	})
}

// Each documented error answer, with its documented status, maps to its
// crm error.
func TestDocumentedErrorAnswers(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"not found", 400, b24fake.ErrNotFound, crm.ErrNotFound},
		{"id not defined", 400, b24fake.ErrIDNotDefined, crm.ErrInvalid},
		{"query limit", 503, b24fake.ErrQueryLimit, nil},
		{"no auth", 401, b24fake.ErrNoAuthFound, crm.ErrUnauthorized},
		{"invalid credentials", 401, b24fake.ErrInvalidCredential, crm.ErrUnauthorized},
		{"expired token", 401, `{"error":"expired_token","error_description":"The access token provided has expired."}`, crm.ErrUnauthorized},
		{"insufficient scope", 403, `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the webhook token"}`, crm.ErrUnauthorized},
		{"method not found", 404, b24fake.ErrMethodNotFound, crm.ErrInvalid},
		{"internal", 500, b24fake.ErrInternal, crm.ErrUnavailable},
		{"overload", 503, `{"error":"OVERLOAD_LIMIT","error_description":"REST API is blocked due to overload."}`, crm.ErrUnavailable},
		{"html", 502, "<html>Bad Gateway</html>", crm.ErrUnavailable},
		{"cut json", 200, `{"result": {"ID": "4`, crm.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := bitrix24.New(bitrix24.Config{WebhookURL: srv.URL + "/rest/1/abc/"}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetDeal(context.Background(), "410")
			if tc.want == nil {
				var rl *crm.RateLimitedError
				if !errors.As(err, &rl) {
					t.Fatalf("got %v, want a RateLimitedError", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// UpdateContact adds a phone as a multifield item without ID (the
// portal keeps the contact's numbers), skips a number the contact has in
// another spelling, sets UF_CRM_* fields, and maps the portal's errors.
func TestUpdateContact(t *testing.T) {
	c, fake, _ := newClient(t)
	ctx := context.Background()
	err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "84", Phones: []string{"+79031112233", "8 916 123-45-67"},
		Fields: map[string]any{"UF_CRM_CARD": "B-2002"}})
	if err != nil {
		t.Fatal(err)
	}
	last := fake.Calls()[len(fake.Calls())-1]
	wantParams := map[string]any{"id": "84", "fields": map[string]any{"UF_CRM_CARD": "B-2002",
		"PHONE": []any{map[string]any{"VALUE": "+79031112233", "VALUE_TYPE": "MOBILE"}}},
		"params": map[string]any{"REGISTER_SONET_EVENT": "Y"}}
	if last.Method != "crm.contact.update" || !reflect.DeepEqual(last.Params, wantParams) {
		t.Fatalf("crm.contact.update request: %+v", last)
	}
	ct, err := c.GetContact(ctx, "84")
	if err != nil || !reflect.DeepEqual(ct.Phones, []string{"+79161234567", "+79031112233"}) || ct.Fields["UF_CRM_CARD"] != "B-2002" {
		t.Fatalf("contact after update: %+v %v", ct, err)
	}
	// Nothing new: only the read.
	n := len(fake.Calls())
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "84", Phones: []string{"79031112233"}}); err != nil {
		t.Fatal(err)
	}
	if calls := fake.Calls()[n:]; len(calls) != 1 || calls[0].Method != "crm.contact.get" {
		t.Fatalf("calls for known phones: %+v", calls)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "999", Fields: map[string]any{"UF_CRM_CARD": "x"}}); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("missing contact: %v", err)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "999", Phones: []string{"+79031112233"}}); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("missing contact (phones): %v", err)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "84", Fields: map[string]any{"PHONE": "x"}}); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("PHONE as a field: %v", err)
	}
	fake.LimitNext(1)
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "84", Fields: map[string]any{"UF_CRM_CARD": "y"}}); !crm.Retryable(err) {
		t.Fatalf("query limit: %v", err)
	}
	fake.Revoke()
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "84", Fields: map[string]any{"UF_CRM_CARD": "y"}}); !errors.Is(err, crm.ErrUnauthorized) {
		t.Fatalf("revoked webhook: %v", err)
	}
}
