package crm_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

func newContact(t *testing.T, tenant uuid.UUID, phone string) uuid.UUID {
	t.Helper()
	id := ids.New()
	if _, err := env.Owner.Exec(context.Background(), `INSERT INTO contacts (id, tenant_id, tg_user_id, first_name, phone)
		VALUES ($1, $2, $3, 'Ivan', $4)`, id, tenant, time.Now().UnixNano()%1_000_000_000, phone); err != nil {
		t.Fatal(err)
	}
	return id
}

func contactRow(t *testing.T, id uuid.UUID) (links map[string]crm.Link, custom map[string]any) {
	t.Helper()
	var l, c []byte
	if err := env.Owner.QueryRow(context.Background(), `SELECT crm_links, custom FROM contacts WHERE id = $1`, id).Scan(&l, &c); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(l, &links)
	_ = json.Unmarshal(c, &custom)
	return links, custom
}

// A contact is linked by a shared phone the CRM knows, by a deep-link code
// made for a CRM contact, or by an admin; a ContactChanged webhook then
// copies the mapped CRM fields into the linked contacts' attributes.
func TestContactLinksAndFieldSync(t *testing.T) {
	r := newRig(t, rigOpts{})
	ctx := context.Background()
	info := r.connect(r.tenant, map[string]string{"3091701": "member_status"})
	r.fake.AddContact(amofake.Contact{ID: 7143599, Name: "Иван", Phones: []string{"8 916 123-45-67"},
		Fields: map[int64][]any{3091701: {"member"}}})

	// By phone (what the crm:link_phone task runs when a phone is shared).
	byPhone := newContact(t, r.tenant, "+79161234567")
	if err := r.svc.LinkByPhone(ctx, r.tenant, byPhone, "+79161234567"); err != nil {
		t.Fatal(err)
	}
	links, _ := contactRow(t, byPhone)
	if l := links[info.ID.String()]; l.ContactID != "7143599" || l.Via != "phone" {
		t.Fatalf("phone link %+v", links)
	}
	// A phone the CRM does not know links nothing.
	stranger := newContact(t, r.tenant, "+79990001122")
	if err := r.svc.LinkByPhone(ctx, r.tenant, stranger, "+79990001122"); err != nil {
		t.Fatal(err)
	}
	if links, _ := contactRow(t, stranger); len(links) != 0 {
		t.Fatalf("stranger linked %+v", links)
	}

	// By deep-link code: needs a bot for the t.me link.
	if res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors/"+info.ID.String()+"/link-codes",
		map[string]any{"crm_contact_id": "7143599"}); res.code != 422 || !strings.Contains(string(res.body), "bot_id") {
		t.Fatalf("link code without a bot: %d %s", res.code, res.body)
	}
	if _, err := env.Owner.Exec(ctx, `INSERT INTO bots (id, tenant_id, public_id, username, token_sealed, webhook_secret)
		VALUES ($1, $2, $3, 'courier_bot', 'x', 'x')`, time.Now().UnixNano()%1_000_000_000+1, r.tenant, ids.Token(16)); err != nil {
		t.Fatal(err)
	}
	res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors/"+info.ID.String()+"/link-codes", map[string]any{"crm_contact_id": "7143599"})
	if res.code != 201 {
		t.Fatalf("link code: %d %s", res.code, res.body)
	}
	var code crm.LinkCode
	res.json(t, &code)
	if code.URL != "https://t.me/courier_bot?start=crm_"+code.Code || len("crm_"+code.Code) > 64 {
		t.Fatalf("code %+v", code)
	}
	byCode := newContact(t, r.tenant, "")
	if ok, err := r.svc.Redeem(ctx, r.tenant, byCode, code.Code); !ok || err != nil {
		t.Fatalf("redeem: %v %v", ok, err)
	}
	if ok, _ := r.svc.Redeem(ctx, r.tenant, byCode, code.Code); !ok {
		t.Fatal("a redelivered /start of the same person must succeed again")
	}
	if ok, _ := r.svc.Redeem(ctx, r.tenant, stranger, code.Code); ok {
		t.Fatal("a used code linked someone else")
	}
	if ok, _ := r.svc.Redeem(ctx, r.other, newContact(t, r.other, ""), code.Code); ok {
		t.Fatal("another tenant redeemed the code")
	}
	links, _ = contactRow(t, byCode)
	if l := links[info.ID.String()]; l.ContactID != "7143599" || l.Via != "code" {
		t.Fatalf("code link %+v", links)
	}

	// By an admin, and unlinked again.
	byAdmin := newContact(t, r.tenant, "")
	path := "/api/v1/contacts/" + byAdmin.String() + "/crm-link"
	if res := r.call(r.tenant, "admin", "PUT", path, map[string]any{"connector_id": info.ID, "crm_contact_id": "42"}); res.code != 200 {
		t.Fatalf("admin link: %d %s", res.code, res.body)
	}
	if links, _ := contactRow(t, byAdmin); links[info.ID.String()].Via != "admin" {
		t.Fatalf("admin link %+v", links)
	}
	if res := r.call(r.tenant, "admin", "PUT", path, map[string]any{"connector_id": info.ID, "crm_contact_id": ""}); res.code != 200 {
		t.Fatalf("unlink: %d", res.code)
	}
	if links, _ := contactRow(t, byAdmin); len(links) != 0 {
		t.Fatalf("unlinked %+v", links)
	}
	for _, tc := range []struct {
		name   string
		tenant uuid.UUID
		path   string
		body   map[string]any
		want   int
	}{
		{"another tenant's contact", r.other, path, map[string]any{"connector_id": info.ID, "crm_contact_id": "1"}, 404},
		{"unknown connector", r.tenant, path, map[string]any{"connector_id": uuid.New(), "crm_contact_id": "1"}, 422},
		{"malformed contact id", r.tenant, "/api/v1/contacts/x/crm-link", map[string]any{}, 404},
	} {
		if res := r.call(tc.tenant, "admin", "PUT", tc.path, tc.body); res.code != tc.want {
			t.Fatalf("%s: %d %s", tc.name, res.code, res.body)
		}
	}

	// The CRM changes the contact: the mapped field lands on both linked contacts.
	hook := "contacts[update][0][id]=7143599&contacts[update][0][name]=Ivan&contacts[update][0][last_modified]=1700000000" +
		"&contacts[update][0][custom_fields][0][id]=3091701&contacts[update][0][custom_fields][0][values][0][value]=expired" +
		"&account[subdomain]=example&account[id]=28805383"
	if res := r.hook(hookPath(info), form, []byte(hook)); res.code != 200 {
		t.Fatalf("contact webhook %d %s", res.code, res.body)
	}
	eventually(t, 10*time.Second, "the mapped field is synced", func() bool {
		_, a := contactRow(t, byPhone)
		_, b := contactRow(t, byCode)
		return a["member_status"] == "expired" && b["member_status"] == "expired"
	})
	if _, c := contactRow(t, stranger); c["member_status"] != nil {
		t.Fatalf("an unlinked contact got the field: %+v", c)
	}
	eventually(t, 10*time.Second, "the rules get the contact event", func() bool {
		for _, e := range r.sink.got() {
			if e.Type == crm.ContactChanged && e.ContactID == "7143599" {
				return true
			}
		}
		return false
	})
	// A webhook without the mapped field: the contact is fetched from the CRM.
	r.fake.AddContact(amofake.Contact{ID: 7143599, Name: "Иван", Phones: []string{"89161234567"}, Fields: map[int64][]any{3091701: {"vip"}}})
	if res := r.hook(hookPath(info), form, []byte("contacts[update][0][id]=7143599&contacts[update][0][last_modified]=1700000100&account[subdomain]=example")); res.code != 200 {
		t.Fatalf("thin contact webhook %d", res.code)
	}
	eventually(t, 10*time.Second, "the fetched field is synced", func() bool {
		_, a := contactRow(t, byPhone)
		return a["member_status"] == "vip"
	})
}
