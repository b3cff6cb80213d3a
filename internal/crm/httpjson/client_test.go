package httpjson_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson/fake1c"
)

type keyLimiter struct{ keys []string }

func (l *keyLimiter) Wait(_ context.Context, key string) error {
	l.keys = append(l.keys, key)
	return nil
}

func newClient(t *testing.T) (*httpjson.Client, *fake1c.Server, *keyLimiter) {
	t.Helper()
	fake := fake1c.New()
	t.Cleanup(fake.Close)
	lim := &keyLimiter{}
	c, err := httpjson.New(httpjson.Config{BaseURL: fake.BaseURL(), Token: fake1c.Token, WebhookSecret: "s3cret"}, nil, lim)
	if err != nil {
		t.Fatal(err)
	}
	return c, fake, lim
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  httpjson.Config
		ok   bool
	}{
		{"ok", httpjson.Config{BaseURL: "https://1c.example.com/base/hs/bot/", Token: "t"}, true},
		{"no token", httpjson.Config{BaseURL: "https://1c.example.com/base/hs/bot"}, false},
		{"relative", httpjson.Config{BaseURL: "/hs/bot", Token: "t"}, false},
		{"query", httpjson.Config{BaseURL: "https://1c.example.com/?a=1", Token: "t"}, false},
		{"credentials", httpjson.Config{BaseURL: "https://u:p@1c.example.com/", Token: "t"}, false},
		{"scheme", httpjson.Config{BaseURL: "ftp://1c.example.com/", Token: "t"}, false},
	}
	for _, tc := range cases {
		if _, err := httpjson.New(tc.cfg, nil, nil); (err == nil) != tc.ok || err != nil && !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestClientMethods(t *testing.T) {
	c, fake, lim := newClient(t)
	ctx := context.Background()
	want := crm.Contact{ID: "C-1001", Name: "Anna Smirnova", Phones: []string{"+79161234567"}, Emails: []string{"anna@example.com"},
		Fields: map[string]any{"card": "A-1001", "telegram_id": int64(123456789)}}
	for _, phone := range []string{"+7 916 123-45-67", "89161234567", "9161234567"} {
		ct, err := c.FindContactByPhone(ctx, phone)
		if err != nil || !reflect.DeepEqual(ct, want) {
			t.Fatalf("FindContactByPhone(%q) = %+v, %v", phone, ct, err)
		}
	}
	if ct, err := c.FindClientByTelegramID(ctx, 123456789); err != nil || ct.ID != "C-1001" {
		t.Fatalf("by telegram id: %+v %v", ct, err)
	}
	if ct, err := c.GetContact(ctx, "C-1001"); err != nil || ct.Name != "Anna Smirnova" {
		t.Fatalf("GetContact: %+v %v", ct, err)
	}
	if _, err := c.FindContactByPhone(ctx, "+79990000000"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("unknown phone: %v", err)
	}
	if _, err := c.FindClientByTelegramID(ctx, 42); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("unknown telegram id: %v", err)
	}
	b, err := c.Balance(ctx, "C-1001")
	if err != nil || b.Amount != 1500 || b.Bonus != 320 || b.Currency != "RUB" || b.ClientID != "C-1001" {
		t.Fatalf("balance: %+v %v", b, err)
	}
	vs, err := c.Visits(ctx, "C-1001", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Time{})
	if err != nil || len(vs) != 1 || vs[0].ID != "V-501" || vs[0].Status != "planned" || vs[0].Service != "Facial cleansing" {
		t.Fatalf("visits: %+v %v", vs, err)
	}
	if all, err := c.Visits(ctx, "C-1001", time.Time{}, time.Time{}); err != nil || len(all) != 2 {
		t.Fatalf("all visits: %+v %v", all, err)
	}
	d, err := c.GetDeal(ctx, "D-77")
	if err != nil || d.StageID != "new" || d.Price != 22500 || !reflect.DeepEqual(d.ContactIDs, []string{"C-1001"}) {
		t.Fatalf("deal: %+v %v", d, err)
	}
	user, stage := "u-9", "booked"
	if err := c.UpdateDeal(ctx, crm.DealUpdate{DealID: "D-77", ResponsibleUserID: &user, StageID: &stage, Fields: map[string]any{"source": "telegram"}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := fake.Deal("D-77"); d.StageID != "booked" || d.ResponsibleUserID != "u-9" || d.Fields["source"] != "telegram" {
		t.Fatalf("deal after update: %+v", d)
	}
	if err := c.AddNote(ctx, crm.Note{DealID: "D-77", Text: "Callback requested at 18:00"}); err != nil {
		t.Fatal(err)
	}
	if n := fake.Notes("D-77"); !reflect.DeepEqual(n, []string{"Callback requested at 18:00"}) {
		t.Fatalf("notes: %v", n)
	}
	if err := c.UpdateDeal(ctx, crm.DealUpdate{DealID: "D-404", StageID: &stage}); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("update unknown deal: %v", err)
	}
	pipes, err := c.Pipelines(ctx)
	if err != nil || len(pipes) != 1 || len(pipes[0].Stages) != 3 {
		t.Fatalf("pipelines: %+v %v", pipes, err)
	}
	users, err := c.Users(ctx)
	if err != nil || len(users) != 1 || users[0].ID != "u-2" {
		t.Fatalf("users: %+v %v", users, err)
	}
	// /fields is optional: the fake does not serve it.
	if fields, err := c.Fields(ctx); err != nil || len(fields) != 0 {
		t.Fatalf("fields: %+v %v", fields, err)
	}
	if len(lim.keys) == 0 || lim.keys[0] != "httpjson:"+fake.BaseURL()[len("http://"):len(fake.BaseURL())-len(fake1c.BasePath)] {
		t.Fatalf("limiter keys: %v", lim.keys)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("429", func(t *testing.T) {
		c, fake, _ := newClient(t)
		fake.LimitNext(1)
		_, err := c.GetDeal(ctx, "D-77")
		var rl *crm.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second || !crm.Retryable(err) {
			t.Fatalf("429: %v", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		c, fake, _ := newClient(t)
		fake.SetDown(true)
		if _, err := c.Balance(ctx, "C-1001"); !errors.Is(err, crm.ErrUnavailable) {
			t.Fatalf("down: %v", err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		fake := fake1c.New()
		defer fake.Close()
		c, _ := httpjson.New(httpjson.Config{BaseURL: fake.BaseURL(), Token: "wrong"}, nil, nil)
		if _, err := c.GetDeal(ctx, "D-77"); !errors.Is(err, crm.ErrUnauthorized) || crm.Retryable(err) {
			t.Fatalf("wrong token: %v", err)
		}
	})
	t.Run("not the documented json", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("<html>login</html>"))
		}))
		defer srv.Close()
		c, _ := httpjson.New(httpjson.Config{BaseURL: srv.URL, Token: "t"}, nil, nil)
		if _, err := c.GetDeal(ctx, "D-77"); !errors.Is(err, crm.ErrInvalid) {
			t.Fatalf("html answer: %v", err)
		}
	})
	t.Run("an id stays one path segment", func(t *testing.T) {
		c, _, _ := newClient(t)
		if _, err := c.GetDeal(ctx, "../clients/C-1001"); !errors.Is(err, crm.ErrNotFound) {
			t.Fatalf("escaped id: %v", err)
		}
	})
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+7 (916) 123-45-67": "+79161234567",
		"89161234567":        "+79161234567",
		"9161234567":         "+79161234567",
		"+44 20 7946 0958":   "+442079460958",
		"12345":              "12345",
		"call me":            "",
	} {
		if got := httpjson.NormalizePhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", in, got, want)
		}
	}
}

// UpdateContact is PATCH /clients/{id}: phones (normalised to E.164) added
// where the client lacks them, fields set; the tenant's refusals and
// faults map to the crm errors.
func TestUpdateContact(t *testing.T) {
	ctx := context.Background()
	c, fake, _ := newClient(t)
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "C-1001", Phones: []string{"8 903 111-22-33", "+79161234567"},
		Fields: map[string]any{"survey_rating": 5}}); err != nil {
		t.Fatal(err)
	}
	k, _ := fake.Client("C-1001")
	if !reflect.DeepEqual(k.Phones, []string{"+79161234567", "+79031112233"}) || k.Fields["survey_rating"] != float64(5) || k.Fields["card"] != "A-1001" {
		t.Fatalf("client after patch: %+v", k)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "C-404", Fields: map[string]any{"x": 1}}); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "C-1001", Fields: map[string]any{"phones": "x"}}); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("reserved field: %v", err)
	}
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "C-1001", Phones: []string{"n/a"}}); !errors.Is(err, crm.ErrInvalid) {
		t.Fatalf("phone without digits: %v", err)
	}
	fake.LimitNext(1)
	var rl *crm.RateLimitedError
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "C-1001", Fields: map[string]any{"x": 1}}); !errors.As(err, &rl) {
		t.Fatalf("429: %v", err)
	}
	fake.SetDown(true)
	if err := c.UpdateContact(ctx, crm.ContactUpdate{ContactID: "C-1001", Fields: map[string]any{"x": 1}}); !errors.Is(err, crm.ErrUnavailable) {
		t.Fatalf("down: %v", err)
	}
}
