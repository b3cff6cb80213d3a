package amocrm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
)

func newClient(t *testing.T, fake *amofake.Fake, deps crm.Deps, token string) crm.Connector {
	t.Helper()
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	creds, _ := json.Marshal(amocrm.Credentials{Account: account, Token: token})
	c, err := amocrm.Factory(amocrm.Options{BaseURL: ts.URL})(creds, deps)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientAgainstFake(t *testing.T) {
	ctx := context.Background()
	fake := amofake.New()
	fake.AddLead(amofake.Lead{ID: 101, Name: "Переезд", Price: 5000, StatusID: 32392156, PipelineID: 3177727,
		ResponsibleUserID: 504141, ContactIDs: []int64{201}})
	fake.AddContact(amofake.Contact{ID: 201, Name: "Иван", Phones: []string{"8 (916) 123-45-67"}})
	c := newClient(t, fake, crm.Deps{}, fake.IssueToken())

	d, err := c.GetDeal(ctx, "101")
	if err != nil || d.Name != "Переезд" || d.StageID != "32392156" || d.PipelineID != "3177727" || len(d.ContactIDs) != 1 || d.ContactIDs[0] != "201" {
		t.Fatalf("deal %+v %v", d, err)
	}
	if _, err := c.GetDeal(ctx, "999"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("missing deal: %v", err)
	}
	ct, err := c.FindContactByPhone(ctx, "+79161234567")
	if err != nil || ct.ID != "201" {
		t.Fatalf("by phone: %+v %v", ct, err)
	}
	if _, err := c.FindContactByPhone(ctx, "+79990000000"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("unknown phone: %v", err)
	}
	stage, user := "32392159", "504142"
	if err := c.UpdateDeal(ctx, crm.DealUpdate{DealID: "101", StageID: &stage, ResponsibleUserID: &user,
		Fields: map[string]any{"3091643": "Олег"}}); err != nil {
		t.Fatal(err)
	}
	l, _ := fake.Lead(101)
	if l.StatusID != 32392159 || l.ResponsibleUserID != 504142 || l.Fields[3091643][0] != "Олег" {
		t.Fatalf("lead after patch %+v", l)
	}
	if err := c.UpdateDeal(ctx, crm.DealUpdate{DealID: "101", Fields: map[string]any{"777": "x"}}); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("unknown field: %v", err)
	}
	if err := c.AddNote(ctx, crm.Note{DealID: "101", Text: "Исполнитель: Олег"}); err != nil {
		t.Fatal(err)
	}
	if n := fake.Notes(); len(n) != 1 || n[0].LeadID != 101 || n[0].Text != "Исполнитель: Олег" || n[0].Type != "common" {
		t.Fatalf("notes %+v", n)
	}
	ps, err := c.Pipelines(ctx)
	if err != nil || len(ps) != 1 || len(ps[0].Stages) != 5 || ps[0].Stages[1].Name != "Поиск исполнителя" {
		t.Fatalf("pipelines %+v %v", ps, err)
	}
	us, err := c.Users(ctx)
	if err != nil || len(us) != 2 {
		t.Fatalf("users %+v %v", us, err)
	}
	fs, err := c.Fields(ctx)
	if err != nil || len(fs) != 4 || fs[0].Entity != "deal" || fs[3].Entity != "contact" {
		t.Fatalf("fields %+v %v", fs, err)
	}

	fake.RateLimit(1, "3")
	var rl *crm.RateLimitedError
	if _, err := c.GetDeal(ctx, "101"); !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second || !crm.Retryable(err) {
		t.Fatalf("429: %v", err)
	}
	fake.SetDown(true)
	if _, err := c.GetDeal(ctx, "101"); !errors.Is(err, crm.ErrUnavailable) || !crm.Retryable(err) {
		t.Fatalf("down: %v", err)
	}
	fake.SetDown(false)
	fake.ExpireAccessTokens()
	if _, err := c.GetDeal(ctx, "101"); !errors.Is(err, crm.ErrUnauthorized) || crm.Retryable(err) {
		t.Fatalf("expired long-lived token: %v", err)
	}
}

// tokens is a TokenSource over the fake's OAuth endpoint.
type tokens struct {
	mu     sync.Mutex
	oauth  amocrm.OAuth
	app    crm.OAuthApp
	tok    crm.OAuthToken
	counts int
}

func (s *tokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok.AccessToken, nil
}

func (s *tokens) Refresh(ctx context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts++
	t, err := s.oauth.Refresh(ctx, s.app, account, s.tok.RefreshToken)
	if err != nil {
		return "", err
	}
	s.tok = t
	return t.AccessToken, nil
}

func TestOAuthExchangeRefreshAndRetryOn401(t *testing.T) {
	ctx := context.Background()
	fake := amofake.New()
	fake.AddLead(amofake.Lead{ID: 5, Name: "L", StatusID: 1, PipelineID: 2})
	ts := httptest.NewServer(fake)
	defer ts.Close()
	oauth := amocrm.NewOAuth(amocrm.Options{BaseURL: ts.URL})
	app := crm.OAuthApp{ClientID: fake.ClientID, ClientSecret: fake.Secret, RedirectURI: "https://desk.example/cb"}
	if u := oauth.AuthorizeURL(app, "st"); u != "https://www.amocrm.ru/oauth?client_id=client-1&state=st" {
		t.Fatalf("authorize url %s", u)
	}
	if _, err := oauth.Exchange(ctx, app, "evil.example.com", fake.NewCode()); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("foreign referer: %v", err)
	}
	if _, err := oauth.Exchange(ctx, app, account, "bogus"); !errors.Is(err, crm.ErrUnauthorized) {
		t.Fatalf("bad code: %v", err)
	}
	tok, err := oauth.Exchange(ctx, app, account, fake.NewCode())
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" || time.Until(tok.ExpiresAt) < 23*time.Hour {
		t.Fatalf("exchange %+v %v", tok, err)
	}
	src := &tokens{oauth: oauth, app: app, tok: tok}
	creds, _ := json.Marshal(amocrm.Credentials{Account: account})
	c, err := amocrm.Factory(amocrm.Options{BaseURL: ts.URL})(creds, crm.Deps{Tokens: src})
	if err != nil {
		t.Fatal(err)
	}
	fake.ExpireAccessTokens()
	if _, err := c.GetDeal(ctx, "5"); err != nil || src.counts != 1 {
		t.Fatalf("401 → refresh → retry: %v (refreshes %d)", err, src.counts)
	}
	fake.ExpireAccessTokens()
	fake.RevokeRefreshTokens()
	if _, err := c.GetDeal(ctx, "5"); !errors.Is(err, crm.ErrUnauthorized) {
		t.Fatalf("revoked: %v", err)
	}
}

func TestFactoryRefusesBadCredentials(t *testing.T) {
	f := amocrm.Factory(amocrm.Options{})
	for _, raw := range []string{`{}`, `{"account":"example.amocrm.ru"}`, `{"account":"evil.com","token":"x"}`, `{"account":"a.amocrm.ru","token":"x","extra":1}`, `nope`} {
		if _, err := f([]byte(raw), crm.Deps{}); !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// An account with 450 lead fields (seed 000) is read page by page.
func TestFieldsPaged(t *testing.T) {
	fake := amofake.New()
	fake.AddCustomFields("leads", 448)
	c := newClient(t, fake, crm.Deps{}, fake.IssueToken())
	fs, err := c.Fields(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deals := 0
	for _, f := range fs {
		if f.Entity == "deal" {
			deals++
		}
	}
	if deals != 450 || len(fs) != 452 {
		t.Fatalf("%d deal fields, %d in all", deals, len(fs))
	}
}

// UpdateContact adds a phone beside the contact's own (amoCRM replaces a
// field's values, so the old ones are sent too, enum codes kept), does not
// add a phone the contact has in another spelling, sets custom fields, and
// maps amoCRM's refusals and faults.
func TestUpdateContactAgainstFake(t *testing.T) {
	ctx := context.Background()
	fake := amofake.New()
	fake.AddContact(amofake.Contact{ID: 201, Name: "Иван", Phones: []string{"8 (916) 123-45-67"}, PhoneCodes: []string{"WORK"}})
	c := newClient(t, fake, crm.Deps{}, fake.IssueToken())

	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "201", Phones: []string{"+79031112233"},
		Fields: map[string]any{"3091701": "VIP"}}); err != nil {
		t.Fatal(err)
	}
	ct, _ := fake.Contact(201)
	if len(ct.Phones) != 2 || ct.Phones[0] != "8 (916) 123-45-67" || ct.PhoneCodes[0] != "WORK" ||
		ct.Phones[1] != "+79031112233" || ct.PhoneCodes[1] != "MOB" || ct.Fields[3091701][0] != "VIP" {
		t.Fatalf("contact after patch %+v", ct)
	}
	// The same number spelled otherwise: read, nothing to write.
	before := len(fake.Calls())
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "201", Phones: []string{"+7 916 123 45 67"}}); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()[before:]
	if len(calls) != 1 || calls[0].Method != "GET" {
		t.Fatalf("calls for a known phone: %+v", calls)
	}
	if got, _ := c.GetContact(ctx, "201"); len(got.Phones) != 2 {
		t.Fatalf("phones %+v", got.Phones)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "999", Phones: []string{"+79031112233"}}); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("missing contact: %v", err)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "999", Fields: map[string]any{"3091701": "x"}}); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("missing contact, fields only (amoCRM: 400): %v", err)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "201", Fields: map[string]any{"777": "x"}}); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("unknown field: %v", err)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "x"}); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	fake.RateLimit(1, "2")
	var rl *crm.RateLimitedError
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "201", Fields: map[string]any{"3091701": "y"}}); !errors.As(err, &rl) {
		t.Fatalf("429: %v", err)
	}
	fake.SetDown(true)
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "201", Fields: map[string]any{"3091701": "y"}}); !errors.Is(err, crm.ErrUnavailable) {
		t.Fatalf("down: %v", err)
	}
	fake.SetDown(false)
	fake.ExpireAccessTokens()
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "201", Fields: map[string]any{"3091701": "y"}}); !errors.Is(err, crm.ErrUnauthorized) {
		t.Fatalf("expired token: %v", err)
	}
}
