package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// BenchmarkCRMEventToTelegram: CRM events accepted (the crm service's call
// of HandleCRMEvent after deduplication) for many tenants, each matching a
// rule "deal entered stage → message the contact"; the figure is the time
// from the call to the sandbox answering the bot's sendMessage (p50, p99).
// The path: rule match and run row, an automation:action task, the outbox
// record, the bot's pump task, the Bot API call. The sandbox's and the
// outbox's Telegram limits are scaled up so the budgets do not dominate.
func BenchmarkCRMEventToTelegram(b *testing.B) {
	tenants := envInt("LOADTEST_AUTO_TENANTS", 50)
	events := envInt("LOADTEST_AUTO_EVENTS", 1000)
	people := envInt("LOADTEST_AUTO_PEOPLE", 4)
	rate := envInt("LOADTEST_AUTO_RATE", 50)
	scale := float64(envInt("LOADTEST_AUTO_SCALE", 1000))
	st := newStores(b)
	p := startPlatform(b, st, platformOptions{Worker: true, OutboxScale: scale})
	lim := tgsandbox.DefaultLimits()
	lim.Scale = scale
	p.Sandbox.SetLimits(lim)
	ctx := context.Background()

	type target struct {
		tenant    uuid.UUID
		connector uuid.UUID
		crmIDs    []string
	}
	targets := make([]target, tenants)
	for i := range targets {
		bt := p.signUpWithBot(b, st, fmt.Sprintf("Auto Bench %d", i))
		t := target{tenant: uuid.MustParse(bt.TenantID), connector: uuid.New()}
		rule := map[string]any{"name": "welcome", "trigger": map[string]any{"type": "deal.stage_entered", "stage_id": "s1"},
			"actions": []map[string]any{{"type": "message.send", "params": map[string]any{"text": "bench {deal_id}"}}}}
		if c := p.call(b, "POST", "/api/v1/rules", bt.OwnerToken, rule, nil); c != 201 {
			b.Fatalf("create rule: %d", c)
		}
		for j := 0; j < people; j++ {
			u := p.Sandbox.CreateUser(fmt.Sprintf("P%d_%d", i, j), fmt.Sprintf("auto_%d_%d", i, j))
			if _, err := p.Sandbox.SendCommand(u.ID, bt.ID, "start", ""); err != nil {
				b.Fatal(err)
			}
			crmID := fmt.Sprintf("c%d", j)
			waitFor(b, 30*time.Second, "the contact", func() bool {
				tag, err := st.DB.Owner.Exec(ctx, `UPDATE contacts SET crm_links = jsonb_build_object($2::text, jsonb_build_object('contact_id', $3::text))
					WHERE tenant_id = $1 AND tg_user_id = $4`, t.tenant, t.connector.String(), crmID, u.ID)
				return err == nil && tag.RowsAffected() == 1
			})
			t.crmIDs = append(t.crmIDs, crmID)
		}
		targets[i] = t
	}

	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	var latencies []time.Duration
	var got atomic.Int64
	hook := func(method string, body []byte) {
		if method != "sendMessage" {
			return
		}
		now := time.Now()
		var req struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(body, &req) != nil || !strings.HasPrefix(req.Text, "bench ") {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if at, ok := sentAt[req.Text[6:]]; ok {
			delete(sentAt, req.Text[6:])
			latencies = append(latencies, now.Sub(at))
			got.Add(1)
		}
	}
	p.onCall.Store(&hook)
	defer p.onCall.Store(nil)

	say("CRM event → Telegram: %d events over %d tenants/bots (%d contacts each) at %d events/s; sandbox and outbox limits ×%.0f; task check interval %s; %d workers; %d database connections",
		events, tenants, people, rate, scale, p.App.Cfg.TaskCheckInterval, p.App.Cfg.WorkerConcurrency, p.App.Cfg.DatabaseMaxConns)
	b.ResetTimer()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for n := 0; n < events; n++ {
		<-tick.C
		t := targets[n%tenants]
		deal := fmt.Sprintf("d%d", n)
		ev := crm.Event{Type: crm.DealStageEntered, Key: "lead:" + deal + ":status:s1", DealID: deal, StageID: "s1",
			ContactID: t.crmIDs[(n/tenants)%len(t.crmIDs)], OccurredAt: time.Now()}
		mu.Lock()
		sentAt[deal] = time.Now()
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.App.Rules.HandleCRMEvent(ctx, t.tenant, t.connector, ev); err != nil {
				if failed.Add(1) <= 3 {
					say("  HandleCRMEvent failed (the crm service's task would retry it): %v", err)
				}
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && got.Load() < int64(events)-failed.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	ls := append([]time.Duration(nil), latencies...)
	lost := len(sentAt)
	mu.Unlock()
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	bench(b, "crm_event_to_telegram_p50_ms", ms(Percentile(ls, 50)), "p50-ms", "")
	bench(b, "crm_event_to_telegram_p99_ms", ms(Percentile(ls, 99)), "p99-ms", "<=1000")
	bench(b, "crm_event_to_telegram_max_ms", ms(Percentile(ls, 100)), "max-ms", "")
	bench(b, "crm_event_to_telegram_refused", float64(failed.Load()), "refused", "")
	bench(b, "crm_event_to_telegram_lost", float64(lost)-float64(failed.Load()), "lost", "==0")
}
