package crm_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// stub is a minimal connector kind registered the way bitrix24 and httpjson
// are: a factory over its credentials. Its webhooks carry deal ids only and
// it resolves them against the deal's current stage, like Bitrix24.
type stub struct {
	mu     *sync.Mutex
	stages map[string]string // deal id -> current stage
}

func (s stub) Kind() crm.Kind { return "stub" }
func (s stub) ParseWebhook(_ context.Context, r crm.WebhookRequest) ([]crm.Event, error) {
	var in struct{ Deal, Key string }
	if err := json.Unmarshal(r.Body, &in); err != nil || in.Deal == "" {
		return nil, crm.ErrMalformed
	}
	return []crm.Event{{Type: crm.DealFieldChanged, Key: in.Key, DealID: in.Deal}}, nil
}
func (s stub) Resolve(_ context.Context, e crm.Event, last string) (crm.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stages[e.DealID]
	if !ok {
		return e, crm.ErrNotFound
	}
	e.StageID, e.PipelineID = st, "p1"
	if last != "" && last != st {
		e.Type, e.PrevStageID = crm.DealStageEntered, last
	}
	return e, nil
}
func (stub) GetDeal(context.Context, string) (crm.Deal, error) { return crm.Deal{}, crm.ErrNotFound }
func (stub) GetContact(context.Context, string) (crm.Contact, error) {
	return crm.Contact{}, crm.ErrNotFound
}
func (stub) FindContactByPhone(context.Context, string) (crm.Contact, error) {
	return crm.Contact{}, crm.ErrNotFound
}
func (stub) UpdateDeal(context.Context, crm.DealUpdate) error       { return nil }
func (stub) AddNote(context.Context, crm.Note) error                { return nil }
func (stub) UpdateContact(context.Context, crm.ContactUpdate) error { return nil }
func (stub) Pipelines(context.Context) ([]crm.Pipeline, error)      { return nil, nil }
func (stub) Users(context.Context) ([]crm.User, error)              { return nil, nil }
func (stub) Fields(context.Context) ([]crm.Field, error)            { return nil, nil }

// Another kind plugs in with Register; a connector that resolves events
// turns a field change that moved the deal into a stage entry, using the
// stage the service remembered.
func TestRegisteredKindWithResolver(t *testing.T) {
	r := newRig(t, rigOpts{})
	st := stub{mu: &sync.Mutex{}, stages: map[string]string{"D1": "new"}}
	r.svc.Register("stub", func(creds []byte, _ crm.Deps) (crm.Connector, error) {
		if !strings.Contains(string(creds), "ok") {
			return nil, crm.ErrInvalid
		}
		return st, nil
	})
	res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors", map[string]any{"kind": "stub", "name": "Stub", "credentials": map[string]string{"x": "ok"}})
	if res.code != 201 {
		t.Fatalf("create: %d %s", res.code, res.body)
	}
	var info crm.Info
	res.json(t, &info)
	post := func(key string) {
		t.Helper()
		if res := r.hook(hookPath(info), "application/json", []byte(`{"deal":"D1","key":"`+key+`"}`)); res.code != 200 {
			t.Fatalf("hook: %d %s", res.code, res.body)
		}
	}
	post("k1")
	eventually(t, 10*time.Second, "first event", func() bool { return len(r.sink.got()) == 1 })
	if e := r.sink.got()[0]; e.Type != crm.DealFieldChanged || e.StageID != "new" {
		t.Fatalf("first %+v", e)
	}
	st.mu.Lock()
	st.stages["D1"] = "won"
	st.mu.Unlock()
	post("k2")
	eventually(t, 10*time.Second, "second event", func() bool { return len(r.sink.got()) == 2 })
	if e := r.sink.got()[1]; e.Type != crm.DealStageEntered || e.StageID != "won" || e.PrevStageID != "new" {
		t.Fatalf("second %+v", e)
	}
	st.mu.Lock()
	delete(st.stages, "D1")
	st.mu.Unlock()
	post("k3")
	eventually(t, 10*time.Second, "the vanished deal is ignored", func() bool { return r.health(r.tenant, info.ID).EventsIgnored == 1 })
}
