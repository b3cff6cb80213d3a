package crm_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24"
	"github.com/tgdesk/helpdesk/internal/crm/bitrix24/b24fake"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson/fake1c"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/survey"
)

// A person already linked to an amoCRM contact shares a phone the contact
// lacks: the phone is added to the CRM contact (beside its own number)
// through a durable update_contact call, visible on the connector. Sharing
// a number the contact has (in another spelling) writes nothing.
func TestSharedPhoneWrittenBackToLinkedContact(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	info := r.connect(r.tenant, nil)
	r.fake.AddContact(amofake.Contact{ID: 7143599, Name: "Иван", Phones: []string{"8 916 123-45-67"}, PhoneCodes: []string{"WORK"}})
	person := newContact(t, r.tenant, "")
	if _, err := r.svc.SetLink(ctx, r.tenant, uuid.Nil, person, crm.LinkRequest{ConnectorID: info.ID, CRMContactID: "7143599"}); err != nil {
		t.Fatal(err)
	}
	r.fake.SetDown(true) // the write waits for amoCRM, it is not lost
	if err := r.svc.LinkByPhone(ctx, r.tenant, person, "+79031112233"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the write-back is retried while amoCRM is down", func() bool {
		calls, _ := r.svc.Calls(ctx, r.tenant, info.ID, 10)
		return len(calls) == 1 && calls[0].Op == crm.OpUpdateContact && calls[0].Status == "pending" && calls[0].Attempts >= 1
	})
	r.fake.SetDown(false)
	eventually(t, 10*time.Second, "the phone reaches amoCRM", func() bool {
		ct, _ := r.fake.Contact(7143599)
		return len(ct.Phones) == 2
	})
	ct, _ := r.fake.Contact(7143599)
	if ct.Phones[0] != "8 916 123-45-67" || ct.PhoneCodes[0] != "WORK" || ct.Phones[1] != "+79031112233" || ct.PhoneCodes[1] != "MOB" {
		t.Fatalf("amoCRM contact %+v", ct)
	}
	eventually(t, 10*time.Second, "the call is done", func() bool {
		calls, _ := r.svc.Calls(ctx, r.tenant, info.ID, 10)
		return len(calls) == 1 && calls[0].Status == "done"
	})
	// The same phone again (a redelivered update, a second share) is the
	// same call; the contact's own number in another spelling is read and
	// not written.
	if err := r.svc.LinkByPhone(ctx, r.tenant, person, "+79031112233"); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.LinkByPhone(ctx, r.tenant, person, "+7 916 123 45 67"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the second share's call is done", func() bool {
		calls, _ := r.svc.Calls(ctx, r.tenant, info.ID, 10)
		return len(calls) == 2 && calls[0].Status == "done" && calls[1].Status == "done"
	})
	if ct, _ := r.fake.Contact(7143599); len(ct.Phones) != 2 {
		t.Fatalf("phones after the known number: %+v", ct.Phones)
	}
	patches := 0
	for _, c := range r.fake.Calls() {
		if c.Method == "PATCH" && c.Path == "/api/v4/contacts" && c.Status == 200 {
			patches++
		}
	}
	if patches != 1 {
		t.Fatalf("contact PATCHes: %d", patches)
	}
	// A person linked nowhere writes nothing (and is linked by the phone
	// when the CRM knows it, as before).
	stranger := newContact(t, r.tenant, "")
	if err := r.svc.LinkByPhone(ctx, r.tenant, stranger, "+79990001122"); err != nil {
		t.Fatal(err)
	}
	if calls, _ := r.svc.Calls(ctx, r.tenant, info.ID, 10); len(calls) != 2 {
		t.Fatalf("calls for an unlinked person: %+v", calls)
	}
}

func newQuestion(t *testing.T, tenant uuid.UUID, kind string, options string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	sid, qid := ids.New(), ids.New()
	if _, err := env.Owner.Exec(ctx, `INSERT INTO surveys (id, tenant_id, title) VALUES ($1, $2, 'Visit')`, sid, tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Owner.Exec(ctx, `INSERT INTO survey_questions (id, tenant_id, survey_id, position, kind, prompt, options)
		VALUES ($1, $2, $3, 1, $4, 'How was it?', $5)`, qid, tenant, sid, kind, options); err != nil {
		t.Fatal(err)
	}
	return qid
}

// An admin maps survey questions to CRM contact fields per connector
// (PATCH /connectors/{id} mapping.survey_fields; a question of another
// tenant is refused); an answer to a mapped question is written to the
// linked contact in amoCRM and in the tenant's 1C (HTTP/JSON); a skipped
// answer, an unmapped question or an unlinked person write nothing.
func TestSurveyAnswerWrittenBackToMappedField(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	one := fake1c.New()
	defer one.Close()
	r.svc.Register(crm.HTTPJSON, httpjson.Factory)

	amo := r.connect(r.tenant, map[string]string{"3091701": "member_status"})
	res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors", map[string]any{"kind": "httpjson", "name": "1C",
		"credentials": map[string]string{"base_url": one.BaseURL(), "token": fake1c.Token}})
	if res.code != 201 {
		t.Fatalf("create 1C connector: %d %s", res.code, res.body)
	}
	var oneC crm.Info
	res.json(t, &oneC)
	r.fake.AddContact(amofake.Contact{ID: 7143599, Name: "Иван", Phones: []string{"+79161234567"}})

	rating := newQuestion(t, r.tenant, survey.KindScale, "[]")
	pick := newQuestion(t, r.tenant, survey.KindMulti, `["Price","Staff","Parking"]`)
	unmapped := newQuestion(t, r.tenant, survey.KindText, "[]")
	foreign := newQuestion(t, r.other, survey.KindText, "[]")

	path := "/api/v1/connectors/" + amo.ID.String()
	res = r.call(r.tenant, "admin", "PATCH", path, map[string]any{"mapping": map[string]any{
		"contact_fields": map[string]string{"3091701": "member_status"},
		"survey_fields":  map[string]string{foreign.String(): "3091701"}}})
	if res.code != 422 {
		t.Fatalf("another tenant's question: %d %s", res.code, res.body)
	}
	res = r.call(r.tenant, "admin", "PATCH", path, map[string]any{"mapping": map[string]any{
		"contact_fields": map[string]string{"3091701": "member_status"},
		"survey_fields":  map[string]string{"not-a-uuid": "3091701"}}})
	if res.code != 422 {
		t.Fatalf("bad question id: %d %s", res.code, res.body)
	}
	res = r.call(r.tenant, "admin", "PATCH", path, map[string]any{"mapping": map[string]any{
		"contact_fields": map[string]string{"3091701": "member_status"},
		"survey_fields":  map[string]string{rating.String(): "3091701"}}})
	if res.code != 200 {
		t.Fatalf("set survey_fields: %d %s", res.code, res.body)
	}
	var got crm.Info
	res.json(t, &got)
	if got.Mapping.SurveyFields[rating.String()] != "3091701" || got.Mapping.ContactFields["3091701"] != "member_status" {
		t.Fatalf("mapping %+v", got.Mapping)
	}
	if res := r.call(r.tenant, "admin", "PATCH", "/api/v1/connectors/"+oneC.ID.String(), map[string]any{"mapping": map[string]any{
		"contact_fields": map[string]string{}, "survey_fields": map[string]string{rating.String(): "visit_rating", pick.String(): "liked"}}}); res.code != 200 {
		t.Fatalf("1C survey_fields: %d %s", res.code, res.body)
	}

	person := newContact(t, r.tenant, "")
	for _, l := range []crm.LinkRequest{{ConnectorID: amo.ID, CRMContactID: "7143599"}, {ConnectorID: oneC.ID, CRMContactID: "C-1001"}} {
		if _, err := r.svc.SetLink(ctx, r.tenant, uuid.Nil, person, l); err != nil {
			t.Fatal(err)
		}
	}
	five, four := 5, 4
	answer := func(contact uuid.UUID, qid uuid.UUID, kind string, opts []string, v survey.Value) {
		t.Helper()
		if err := r.svc.OnSurveyAnswer(ctx, survey.Answer{TenantID: r.tenant, RunID: ids.New(), Source: "campaign", ContactID: contact,
			Question: survey.Question{ID: qid, Position: 1, Kind: kind, Options: opts}, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	answer(person, rating, survey.KindScale, nil, survey.Value{Value: &four})
	answer(person, pick, survey.KindMulti, []string{"Price", "Staff", "Parking"}, survey.Value{Choices: []int{0, 2}})
	eventually(t, 10*time.Second, "the answers reach amoCRM and 1C", func() bool {
		ct, _ := r.fake.Contact(7143599)
		k, _ := one.Client("C-1001")
		return len(ct.Fields[3091701]) == 1 && k.Fields["visit_rating"] != nil && k.Fields["liked"] != nil
	})
	// An edited answer writes the new value.
	answer(person, rating, survey.KindScale, nil, survey.Value{Value: &five})
	eventually(t, 10*time.Second, "the edit reaches amoCRM", func() bool {
		ct, _ := r.fake.Contact(7143599)
		k, _ := one.Client("C-1001")
		return len(ct.Fields[3091701]) == 1 && ct.Fields[3091701][0] == float64(5) && k.Fields["visit_rating"] == float64(5)
	})
	if k, _ := one.Client("C-1001"); k.Fields["liked"] != "Price, Parking" {
		t.Fatalf("1C client fields %+v", k.Fields)
	}
	amoCalls, _ := r.svc.Calls(ctx, r.tenant, amo.ID, 10)
	oneCalls, _ := r.svc.Calls(ctx, r.tenant, oneC.ID, 10)
	if len(amoCalls) != 2 || len(oneCalls) != 3 {
		t.Fatalf("calls amoCRM %+v, 1C %+v", amoCalls, oneCalls)
	}
	// Nothing is written for a skipped answer, an unmapped question or a
	// person linked nowhere.
	answer(person, rating, survey.KindScale, nil, survey.Value{Skipped: true})
	answer(person, unmapped, survey.KindText, nil, survey.Value{Text: "fine"})
	answer(newContact(t, r.tenant, ""), rating, survey.KindScale, nil, survey.Value{Value: &five})
	amoCalls, _ = r.svc.Calls(ctx, r.tenant, amo.ID, 10)
	oneCalls, _ = r.svc.Calls(ctx, r.tenant, oneC.ID, 10)
	if len(amoCalls) != 2 || len(oneCalls) != 3 {
		t.Fatalf("calls after answers that write nothing: amoCRM %+v, 1C %+v", amoCalls, oneCalls)
	}
}

// The same through a Bitrix24 portal: a person linked to contact 84 shares
// a phone; the portal's contact gets it as a MOBILE number beside its own.
func TestSharedPhoneWrittenBackToBitrix24(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	portal := b24fake.New()
	defer portal.Close()
	r.svc.Register(crm.Bitrix24, bitrix24.Factory)
	res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors", map[string]any{"kind": "bitrix24", "name": "Portal",
		"credentials": map[string]string{"webhook_url": portal.WebhookURL(), "application_token": b24fake.AppToken}})
	if res.code != 201 {
		t.Fatalf("create connector: %d %s", res.code, res.body)
	}
	var info crm.Info
	res.json(t, &info)
	person := newContact(t, r.tenant, "")
	if _, err := r.svc.SetLink(ctx, r.tenant, uuid.Nil, person, crm.LinkRequest{ConnectorID: info.ID, CRMContactID: "84"}); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.LinkByPhone(ctx, r.tenant, person, "+79031112233"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the phone reaches the portal", func() bool {
		calls, _ := r.svc.Calls(ctx, r.tenant, info.ID, 10)
		return len(calls) == 1 && calls[0].Status == "done"
	})
	phones, _ := portal.Contact("84")["PHONE"].([]any)
	if len(phones) != 2 {
		t.Fatalf("portal contact phones: %+v", phones)
	}
	added := phones[1].(map[string]any)
	if added["VALUE"] != "+79031112233" || added["VALUE_TYPE"] != "MOBILE" || phones[0].(map[string]any)["VALUE"] != "+79161234567" {
		t.Fatalf("portal contact phones: %+v", phones)
	}
}
