package exchange_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/exchange"
)

func TestKeyAuthentication(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	tenant, key := r.tenant("Keys Co")
	if code, _ := r.call("GET", "/api/v1/exchange/events", key, nil, nil); code != 200 {
		t.Fatalf("valid key: %d", code)
	}
	k2, key2, err := r.svc.CreateKey(ctx, tenant, "staging", nil, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.svc.RevokeKey(ctx, tenant, k2.ID); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"missing":  "",
		"unknown":  "hxk_" + "A0000000000000000000000000000000000000000000",
		"not ours": "some-other-token",
		"revoked":  key2,
	}
	for name, k := range cases {
		var p problemBody
		code, raw := r.call("GET", "/api/v1/exchange/events", k, nil, &p)
		if code != 401 || p.Code != "invalid_api_key" {
			t.Errorf("%s key: %d %s", name, code, raw)
		}
	}
	// A JWT-looking bearer is no exchange key either.
	if code, _ := r.call("POST", "/api/v1/exchange/terminals", "eyJhbGciOiJIUzI1NiJ9.e30.x", `{"terminals":[]}`, nil); code != 401 {
		t.Fatalf("jwt on an exchange route: %d", code)
	}
	keys, err := r.svc.Keys(ctx, tenant)
	if err != nil || len(keys) != 2 || keys[0].RevokedAt == nil || keys[1].LastUsedAt == nil {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	if len(keys[1].Prefix) != 10 || keys[1].Prefix != key[:10] {
		t.Fatalf("prefix %q of %q", keys[1].Prefix, key)
	}
	if _, _, err := r.svc.CreateKey(ctx, tenant, " ", nil, uuid.Nil); err == nil {
		t.Fatal("a key without a name")
	}
	// A key for a connector must name one of the tenant's own.
	otherTenant, _ := r.tenant("Other Co")
	theirs := uuid.New()
	if _, err := env.Owner.Exec(ctx, `INSERT INTO connectors (id, tenant_id, kind, name, public_id, credentials_sealed, webhook_secret)
		VALUES ($1, $2, 'httpjson', '1C', $3, '\x00', '\x00')`, theirs, otherTenant, theirs.String()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{uuid.New(), theirs} {
		_, _, err := r.svc.CreateKey(ctx, tenant, "for a connector", &id, uuid.Nil)
		var inv *exchange.InvalidError
		if !errors.As(err, &inv) || inv.Fields[0].Field != "connector_id" {
			t.Fatalf("key for connector %s: %v", id, err)
		}
	}
	var n int
	if err := env.Owner.QueryRow(ctx, `SELECT count(*) FROM exchange_keys WHERE tenant_id = $1 AND name = 'for a connector'`, tenant).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d keys stored for unknown connectors, %v", n, err)
	}
}

func TestPushValidationNamesTheField(t *testing.T) {
	r := newRig(t)
	tenant, key := r.tenant("Validation Co")
	cases := []struct {
		name, path, body string
		want             []string
	}{
		{"client without id", "/api/v1/exchange/clients", `{"clients":[{"name":"Anna"}]}`, []string{"clients[0].id"}},
		{"client bad phone", "/api/v1/exchange/clients", `{"clients":[{"id":"C-1","phones":["+7916","call me"]}]}`, []string{"clients[0].phones[0]", "clients[0].phones[1]"}},
		{"client reserved field", "/api/v1/exchange/clients", `{"clients":[{"id":"C-1","fields":{"name":"x"}}]}`, []string{"clients[0].fields.name"}},
		{"no clients", "/api/v1/exchange/clients", `{"clients":[]}`, []string{"clients"}},
		{"unknown member", "/api/v1/exchange/clients", `{"clients":[{"id":"C-1","nmae":"x"}]}`, []string{"nmae"}},
		{"wrong type", "/api/v1/exchange/balances", `{"balances":[{"client_id":"C-1","amount":"lots"}]}`, []string{"balances.amount"}},
		{"balance currency and time", "/api/v1/exchange/balances", `{"balances":[{"client_id":"C-1","amount":10,"currency":"rub","updated_at":"2026-03-01T09:00:00Z"},{"client_id":"C-2","amount":1,"currency":"RUB"}]}`, []string{"balances[0].currency", "balances[1].updated_at"}},
		{"balance too large", "/api/v1/exchange/balances", `{"balances":[{"client_id":"C-1","amount":1e12,"bonus":-1e13,"currency":"RUB","updated_at":"2026-03-01T09:00:00Z"}]}`, []string{"balances[0].amount", "balances[0].bonus"}},
		{"terminal without name", "/api/v1/exchange/terminals", `{"terminals":[{"id":"T-1"}]}`, []string{"terminals[0].name"}},
		{"terminal twice", "/api/v1/exchange/terminals", `{"terminals":[{"id":"T-1","name":"a"},{"id":"T-1","name":"b"}]}`, []string{"terminals[1].id"}},
		{"event type", "/api/v1/exchange/deals/events", `{"events":[{"id":"e1","type":"deal.moved","deal_id":"D-1","occurred_at":"2026-03-01T09:00:00Z"}]}`, []string{"events[0].type"}},
		{"event stage", "/api/v1/exchange/deals/events", `{"events":[{"id":"e1","type":"deal.stage_entered","deal_id":"D-1","occurred_at":"2026-03-01T09:00:00Z"},{"type":"deal.added","deal_id":"D-2"}]}`,
			[]string{"events[0].stage_id", "events[1].id", "events[1].occurred_at"}},
	}
	for _, tc := range cases {
		var p problemBody
		code, raw := r.call("POST", tc.path, key, tc.body, &p)
		if code != 422 || !slices.Equal(p.fields(), tc.want) {
			t.Errorf("%s: %d %s, want 422 naming %v", tc.name, code, raw, tc.want)
		}
	}
	if code, _ := r.call("POST", "/api/v1/exchange/clients", key, `{"clients":`, nil); code != 400 {
		t.Errorf("broken JSON: %d", code)
	}
	// Nothing reached the sink or the tables.
	if evs := r.sink.of(tenant); len(evs) != 0 {
		t.Fatalf("sink got %v", evs)
	}
	if ts, _ := r.svc.Terminals(context.Background(), tenant); len(ts) != 0 {
		t.Fatalf("terminals stored: %v", ts)
	}
	if _, err := r.svc.Balance(context.Background(), tenant, "C-1"); err != exchange.ErrNotFound {
		t.Fatalf("balance stored: %v", err)
	}
}

func TestPushes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	tenant, key := r.tenant("Clinic")
	code, raw := r.call("POST", "/api/v1/exchange/clients", key, `{"clients":[{"id":"C-1001","name":"Anna Smirnova",
		"phones":["+79161234567"],"telegram_id":123456789,"fields":{"card":"A-1001"}}]}`, nil)
	if code != 200 {
		t.Fatalf("clients: %d %s", code, raw)
	}
	// The same state again is the same key (the sink deduplicates).
	r.call("POST", "/api/v1/exchange/clients", key, `{"clients":[{"id":"C-1001","name":"Anna Smirnova",
		"phones":["+79161234567"],"telegram_id":123456789,"fields":{"card":"A-1001"}}]}`, nil)
	r.call("POST", "/api/v1/exchange/clients", key, `{"clients":[{"id":"C-1001","name":"Anna Orlova","phones":["+79161234567"]}]}`, nil)
	evs := r.sink.of(tenant)
	if len(evs) != 3 || evs[0].Type != crm.ContactChanged || evs[0].ContactID != "C-1001" || evs[0].Fields["card"] != "A-1001" ||
		evs[0].Fields["telegram_id"] != int64(123456789) || evs[0].Fields["name"] != "Anna Smirnova" {
		t.Fatalf("client events: %+v", evs)
	}
	if evs[0].Key != evs[1].Key || evs[0].Key == evs[2].Key {
		t.Fatalf("keys: %q %q %q", evs[0].Key, evs[1].Key, evs[2].Key)
	}
	code, raw = r.call("POST", "/api/v1/exchange/deals/events", key, `{"events":[{"id":"1c-evt-9","type":"deal.stage_entered",
		"deal_id":"D-77","pipeline_id":"main","stage_id":"booked","prev_stage_id":"new","occurred_at":"2026-03-01T10:00:00+03:00"}]}`, nil)
	if code != 200 {
		t.Fatalf("deal events: %d %s", code, raw)
	}
	evs = r.sink.of(tenant)
	last := evs[len(evs)-1]
	if last.Type != crm.DealStageEntered || last.Key != "httpjson:1c-evt-9" || last.StageID != "booked" || last.PrevStageID != "new" ||
		!last.OccurredAt.Equal(time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("deal event: %+v", last)
	}
	// Balances: the newer wins, an older push changes nothing.
	for _, b := range []string{
		`{"balances":[{"client_id":"C-1001","amount":1500,"bonus":320,"currency":"RUB","updated_at":"2026-03-01T09:00:00Z"}]}`,
		`{"balances":[{"client_id":"C-1001","amount":900,"bonus":0,"currency":"RUB","updated_at":"2026-02-01T09:00:00Z"}]}`,
	} {
		if code, raw := r.call("POST", "/api/v1/exchange/balances", key, b, nil); code != 200 {
			t.Fatalf("balances: %d %s", code, raw)
		}
	}
	bal, err := r.svc.Balance(ctx, tenant, "C-1001")
	if err != nil || bal.Amount != 1500 || bal.Bonus != 320 || bal.Currency != "RUB" {
		t.Fatalf("balance: %+v %v", bal, err)
	}
	// Terminals: created, then updated and deactivated by id.
	r.call("POST", "/api/v1/exchange/terminals", key, `{"terminals":[{"id":"T-17","name":"Micromarket Lenina 5","address":"Lenina 5, floor 2"},{"id":"T-18","name":"Office park"}]}`, nil)
	code, raw = r.call("POST", "/api/v1/exchange/terminals", key, `{"terminals":[{"id":"T-18","name":"Office park B","active":false}]}`, nil)
	if code != 200 {
		t.Fatalf("terminals: %d %s", code, raw)
	}
	ts, err := r.svc.Terminals(ctx, tenant)
	if err != nil || len(ts) != 2 || ts[0].ExternalID != "T-17" || !ts[0].Active || ts[1].Name != "Office park B" || ts[1].Active {
		t.Fatalf("terminals: %+v %v", ts, err)
	}
}

func TestPushWithoutOrFailingSinkAnswers503(t *testing.T) {
	r := newRig(t)
	_, key := r.tenant("Sinkless")
	r.sink.fail = true
	body := `{"events":[{"id":"e1","type":"deal.added","deal_id":"D-1","occurred_at":"2026-03-01T09:00:00Z"}]}`
	var p problemBody
	if code, raw := r.call("POST", "/api/v1/exchange/deals/events", key, body, &p); code != 503 || p.Code != "crm_unavailable" {
		t.Fatalf("failing sink: %d %s", code, raw)
	}
	r.svc.SetSink(nil)
	if code, raw := r.call("POST", "/api/v1/exchange/clients", key, `{"clients":[{"id":"C-1"}]}`, &p); code != 503 {
		t.Fatalf("no sink: %d %s", code, raw)
	}
}
