package amocrm_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
)

const account = "example.amocrm.ru"

func TestParseWebhookDocumentedStageChange(t *testing.T) {
	evs, err := amocrm.ParseWebhook(account, amofake.Fixture("webhook_status.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0]
	if e.Type != crm.DealStageEntered || e.DealID != "3912171" || e.StageID != "32392159" || e.PrevStageID != "32392156" ||
		e.PipelineID != "3177727" || e.AccountID != "28805383" || e.OccurredAt.Unix() != 1590683337 {
		t.Fatalf("%+v", e)
	}
	if e.Fields["3091641"] != "Ленина, 1" || e.Fields["price"] != "12" {
		t.Fatalf("fields %+v", e.Fields)
	}
	if e.Key != "lead:3912171:status:32392159:1590683337" {
		t.Fatalf("key %s", e.Key)
	}
}

func TestParseWebhookCases(t *testing.T) {
	acc := "&account[subdomain]=example&account[id]=1"
	for _, tc := range []struct {
		name  string
		body  string
		types []crm.EventType
		err   error
	}{
		{"several items and actions", "leads[status][1][id]=2&leads[status][1][status_id]=5&leads[status][0][id]=1&leads[status][0][status_id]=4" +
			"&leads[add][0][id]=3&leads[add][0][status_id]=4&leads[add][0][pipeline_id]=9&leads[delete][0][id]=7&leads[update][0][id]=8" +
			"&contacts[update][0][id]=11&contacts[update][0][name]=Ann&contacts[update][1][id]=12&contacts[update][1][type]=company" + acc,
			[]crm.EventType{crm.DealAdded, crm.DealStageEntered, crm.DealStageEntered, crm.DealFieldChanged, crm.DealDeleted, crm.ContactChanged}, nil},
		{"no entities we know", "tasks[add][0][id]=1" + acc, nil, nil},
		{"another account", "leads[status][0][id]=1&account[subdomain]=other", nil, crm.ErrForged},
		{"no account", "leads[status][0][id]=1", nil, crm.ErrMalformed},
		{"bad id", "leads[status][0][id]=x" + acc, nil, crm.ErrMalformed},
		{"negative stage", "leads[status][0][id]=1&leads[status][0][status_id]=-4" + acc, nil, crm.ErrMalformed},
		{"bad index", "leads[status][a][id]=1" + acc, nil, crm.ErrMalformed},
		{"unclosed bracket", "leads[status[0][id]=1" + acc, nil, crm.ErrMalformed},
		{"not form encoding", "%zz" + acc, nil, crm.ErrMalformed},
		{"too deep", "a[b][c][d][e][f][g][h][i][j]=1" + acc, nil, crm.ErrMalformed},
		{"custom field without id", "leads[update][0][id]=1&leads[update][0][custom_fields][0][values][0][value]=x" + acc, nil, crm.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := amocrm.ParseWebhook(account, []byte(tc.body))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(tc.types) {
				t.Fatalf("%d events %+v, want %v", len(evs), evs, tc.types)
			}
			for i, e := range evs {
				if e.Type != tc.types[i] || e.Key == "" {
					t.Fatalf("event %d: %+v, want %s", i, e, tc.types[i])
				}
			}
		})
	}
	// Items come in index order: the second status item is deal 2.
	evs, _ := amocrm.ParseWebhook(account, []byte("leads[status][1][id]=2&leads[status][0][id]=1"+acc))
	if evs[0].DealID != "1" || evs[1].DealID != "2" {
		t.Fatalf("order %+v", evs)
	}
}

// FuzzParseWebhook: any body gives events or ErrMalformed/ErrForged, never a
// panic; every event has a type and a key.
func FuzzParseWebhook(f *testing.F) {
	f.Add(amofake.Fixture("webhook_status.txt"))
	f.Add([]byte("leads[add][0][id]=1&leads[add][0][custom_fields][0][id]=5&leads[add][0][custom_fields][0][values][0][value]=x&account[subdomain]=example"))
	f.Add([]byte("contacts[update][0][id]=1&contacts[update][0][custom_fields][0][id]=3&contacts[update][0][custom_fields][0][values][0]=y&account[subdomain]=example"))
	f.Add([]byte("leads[status][0]=1&account[subdomain]=example"))
	f.Add([]byte("leads=1&account=example"))
	f.Add([]byte("[]=&account[subdomain]=example"))
	f.Add([]byte(url.Values{"leads[delete][0][id]": {"9"}, "account[subdomain]": {"example"}}.Encode()))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := amocrm.ParseWebhook(account, body)
		if err != nil {
			if !errors.Is(err, crm.ErrMalformed) && !errors.Is(err, crm.ErrForged) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		for _, e := range evs {
			if e.Type == "" || e.Key == "" {
				t.Fatalf("event without type or key: %+v", e)
			}
		}
	})
}
