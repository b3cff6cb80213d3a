package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
)

// arrivals is an EventSink that stamps when each event reached the rules.
type arrivals chan time.Time

func (a arrivals) HandleCRMEvent(context.Context, uuid.UUID, uuid.UUID, crm.Event) error {
	a <- time.Now()
	return nil
}

// BenchmarkCRMWebhookToRules measures an amoCRM stage-change webhook's trip
// to the automation rules on an idle platform: POST /hooks/crm/… (secret
// check, connector look-up, parse, dedupe, enqueue), then the crm:event
// task (connector load, sink). One webhook at a time after a random pause,
// so samples meet idle workers at a random phase of their poll. The rules'
// own work (and the Telegram send it may cause) comes on top: the design
// target for CRM event → Telegram message is p99 < 1 s.
func BenchmarkCRMWebhookToRules(b *testing.B) {
	st := newStores(b)
	fake := amofake.New()
	fakeSrv := httptest.NewServer(fake)
	b.Cleanup(fakeSrv.Close)
	b.Setenv("HELPDESK_AMOCRM_BASE_URL", fakeSrv.URL)
	p := startPlatform(b, st, platformOptions{Worker: true})
	bt := p.signUpWithBot(b, st, "CRM Bench Co")
	sink := make(arrivals, 16)
	p.App.CRM.SetSink(sink)
	creds, _ := json.Marshal(map[string]string{"account": "example.amocrm.ru", "token": fake.IssueToken()})
	info, err := p.App.CRM.Create(context.Background(), uuid.MustParse(bt.TenantID), uuid.Nil,
		crm.CreateRequest{Kind: crm.AmoCRM, Name: "bench", Credentials: creds})
	if err != nil {
		b.Fatal(err)
	}
	samples := 200
	if n, err := strconv.Atoi(os.Getenv("LOADTEST_E2E_SAMPLES")); err == nil && n > 0 {
		samples = n
	}
	var ack, total []float64
	lost := 0
	for i := range samples {
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		body := url.Values{
			"leads[status][0][id]":            {strconv.Itoa(1000 + i)},
			"leads[status][0][status_id]":     {"32392159"},
			"leads[status][0][old_status_id]": {"32392156"},
			"leads[status][0][pipeline_id]":   {"3177727"},
			"leads[status][0][last_modified]": {strconv.FormatInt(time.Now().Unix(), 10)},
			"account[subdomain]":              {"example"},
			"account[id]":                     {"28805383"},
		}.Encode()
		start := time.Now()
		res, err := http.Post(info.WebhookURL, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("webhook: %d", res.StatusCode)
		}
		acked := time.Now()
		select {
		case at := <-sink:
			ack = append(ack, float64(acked.Sub(start).Microseconds())/1000)
			total = append(total, float64(at.Sub(start).Microseconds())/1000)
		case <-time.After(10 * time.Second):
			lost++
		}
	}
	slices.Sort(ack)
	slices.Sort(total)
	pct := func(xs []float64, q float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		return xs[min(len(xs)-1, int(float64(len(xs))*q/100))]
	}
	say("CRM webhook → rules, idle (TaskCheckInterval %s): %d samples, webhook ack p50 %.1f ms p99 %.1f ms; at the rules p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms, %d lost",
		p.App.Cfg.TaskCheckInterval, len(total), pct(ack, 50), pct(ack, 99), pct(total, 50), pct(total, 90), pct(total, 99), pct(total, 100), lost)
	bench(b, "crm_webhook_to_rules_p99_ms", pct(total, 99), "crm-p99-ms", "<1000")
	bench(b, "crm_webhook_ack_p99_ms", pct(ack, 99), "crm-ack-p99-ms", "")
	if lost > 0 {
		b.Errorf("%s", fmt.Sprint(lost, " events never reached the rules"))
	}
}
