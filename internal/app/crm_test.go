package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
)

type recordingSink struct {
	mu     sync.Mutex
	events []crm.Event
}

func (s *recordingSink) HandleCRMEvent(_ context.Context, _, _ uuid.UUID, e crm.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

func (s *recordingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func crmLinks(t *testing.T, tenantID string, tgUserID int64) map[string]crm.Link {
	t.Helper()
	var raw []byte
	err := env.Owner.QueryRow(context.Background(), `SELECT crm_links FROM contacts WHERE tenant_id = $1 AND tg_user_id = $2`,
		tenantID, tgUserID).Scan(&raw)
	if err != nil {
		return nil
	}
	out := map[string]crm.Link{}
	_ = json.Unmarshal(raw, &out)
	return out
}

// amoCRM through the whole platform: an admin connects it through the API,
// a stage-change webhook reaches the rules as a typed event, a deal update
// and a note reach the fake, a customer opening a link code in Telegram is
// linked to the CRM contact (and told so), and one sharing a phone the CRM
// knows is linked by phone; a linked customer sharing a phone has it
// written back to the CRM contact.
func TestAmoCRMEndToEnd(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Courier Co")
	bot := p.newBot(t, "courier_e2e_bot")
	var created map[string]any
	must(t, p.call(t, "POST", "/api/v1/bots", tm.Admin.Token, map[string]string{"token": bot.Token}, &created) == 201, "register bot")
	sink := &recordingSink{}
	p.App.CRM.SetSink(sink)

	var info crm.Info
	amoToken := p.AmoCRM.IssueToken()
	code := p.call(t, "POST", "/api/v1/connectors", tm.Admin.Token, map[string]any{"kind": "amocrm", "name": "amoCRM",
		"credentials": map[string]string{"account": "example.amocrm.ru", "token": amoToken}}, &info)
	must(t, code == 201, "create connector: %d", code)
	secret := info.WebhookURL[strings.LastIndexByte(info.WebhookURL, '/')+1:]
	defer func() {
		logs := p.Logs.String()
		must(t, !strings.Contains(logs, amoToken) && !strings.Contains(logs, secret), "the CRM token or webhook secret is in the logs")
	}()

	// CRM event → typed event.
	res, err := http.Post(info.WebhookURL, "application/x-www-form-urlencoded", bytes.NewReader(amofake.Fixture("webhook_status.txt")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	must(t, res.StatusCode == 200, "webhook: %d", res.StatusCode)
	waitFor(t, "the stage change reaches the rules", func() bool { return sink.count() == 1 })
	must(t, sink.events[0].Type == crm.DealStageEntered && sink.events[0].StageID == "32392159", "event %+v", sink.events[0])

	// Action → the fake shows the change.
	p.AmoCRM.AddLead(amofake.Lead{ID: 3912171, Name: "Example", StatusID: 32392159, PipelineID: 3177727, ResponsibleUserID: 504141})
	user := "504142"
	tenantID := mustUUID(t, tm.TenantID)
	if _, err := p.App.CRM.UpdateDeal(t.Context(), tenantID, info.ID, "e2e:take", crm.DealUpdate{DealID: "3912171", ResponsibleUserID: &user}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.App.CRM.AddNote(t.Context(), tenantID, info.ID, "e2e:note", crm.Note{DealID: "3912171", Text: "Исполнитель найден"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deal update and the note reach amoCRM", func() bool {
		l, _ := p.AmoCRM.Lead(3912171)
		return l.ResponsibleUserID == 504142 && len(p.AmoCRM.Notes()) == 1
	})

	// A link code opened in Telegram.
	var lc crm.LinkCode
	must(t, p.call(t, "POST", "/api/v1/connectors/"+info.ID.String()+"/link-codes", tm.Admin.Token,
		map[string]any{"crm_contact_id": "7143599"}, &lc) == 201, "link code")
	must(t, strings.HasPrefix(lc.URL, "https://t.me/courier_e2e_bot?start=crm_"), "link %s", lc.URL)
	anna := p.Sandbox.CreateUser("Anna", "anna")
	if _, err := p.Sandbox.SendCommand(anna.ID, bot.ID, "start", "crm_"+lc.Code); err != nil {
		t.Fatal(err)
	}
	want := p.App.Tenants.Text(t.Context(), tenantID, crm.TextLinked, anna.LanguageCode, nil)
	waitFor(t, "Anna is linked and told", func() bool {
		told := false
		for _, e := range p.Sandbox.PrivateTranscript(bot.ID, anna.ID) {
			told = told || (e.SenderKind == "bot" && e.Text == want)
		}
		return told && crmLinks(t, tm.TenantID, anna.ID)[info.ID.String()].ContactID == "7143599"
	})

	// A shared phone the CRM knows.
	p.AmoCRM.AddContact(amofake.Contact{ID: 8800, Name: "Boris", Phones: []string{"+7 (903) 555-12-34"}})
	boris := p.Sandbox.CreateUser("Boris", "boris")
	if _, err := p.Sandbox.SendContact(boris.ID, bot.ID, "79035551234"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Boris is linked by phone", func() bool {
		l := crmLinks(t, tm.TenantID, boris.ID)[info.ID.String()]
		return l.ContactID == "8800" && l.Via == "phone"
	})

	// Write-back: Anna, linked by the code, shares a phone her CRM contact
	// lacks; it is added to the contact in amoCRM beside its own.
	p.AmoCRM.AddContact(amofake.Contact{ID: 7143599, Name: "Anna", Phones: []string{"+7 916 000-11-22"}})
	if _, err := p.Sandbox.SendContact(anna.ID, bot.ID, "79031112233"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Anna's phone is written back to amoCRM", func() bool {
		ct, _ := p.AmoCRM.Contact(7143599)
		return len(ct.Phones) == 2 && samePhoneDigits(ct.Phones[1], "79031112233")
	})
}

func samePhoneDigits(a, b string) bool {
	d := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	return d(a) == d(b)
}
