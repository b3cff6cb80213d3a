package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// seedAudience makes n sandbox users who have started the bot (their /start
// updates are dropped on the way, so no greeting traffic competes) and
// writes their contacts and bot chats directly, as if the platform had met
// them long ago. It answers the chat ids.
func seedAudience(b *testing.B, p *platform, st *stores, bt bot, tenantID string, n int) []int64 {
	b.Helper()
	if err := p.Sandbox.DropWebhookDeliveries(bt.ID, n); err != nil {
		b.Fatal(err)
	}
	tenant := uuid.MustParse(tenantID)
	chats := make([]int64, n)
	contacts := make([][]any, n)
	botChats := make([][]any, n)
	for i := range n {
		u := p.Sandbox.CreateUser(fmt.Sprintf("R%d", i), "")
		if _, err := p.Sandbox.SendCommand(u.ID, bt.ID, "start", ""); err != nil {
			b.Fatal(err)
		}
		chats[i] = u.ID
		contact := ids.New()
		contacts[i] = []any{contact, tenant, u.ID, u.FirstName, "en"}
		botChats[i] = []any{ids.New(), tenant, bt.ID, contact, u.ID}
	}
	ctx := context.Background()
	if _, err := st.DB.Owner.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"id", "tenant_id", "tg_user_id", "first_name", "language"},
		pgx.CopyFromRows(contacts)); err != nil {
		b.Fatal(err)
	}
	if _, err := st.DB.Owner.CopyFrom(ctx, pgx.Identifier{"bot_chats"}, []string{"id", "tenant_id", "bot_id", "contact_id", "chat_id"},
		pgx.CopyFromRows(botChats)); err != nil {
		b.Fatal(err)
	}
	return chats
}

// seedOutboxHistory writes n finished calls from a day ago spread over the
// bots (kind "history", so the figures never count them) and analyzes the
// database: a running platform's outbox has history and statistics. On a
// table that was never analyzed PostgreSQL takes every tenant for a few
// dozen rows and plans the outbox's claims and outcomes as scans of the
// tenant's rows (docs/benchmarks.md, "Statistics"), which a fresh test
// database would otherwise measure instead of the platform.
func seedOutboxHistory(b *testing.B, st *stores, tenantID string, botIDs []int64, n int) {
	b.Helper()
	tenant := uuid.MustParse(tenantID)
	day := time.Now().Add(-24 * time.Hour)
	rows := make([][]any, n)
	for i := range n {
		rows[i] = []any{ids.New(), tenant, botIDs[i%len(botIDs)], int64(1_000_000 + i), "sendMessage", `{"text":"earlier"}`,
			int16(outbox.Bulk), "history", int64(i + 1), "sent", 1, day, day, day}
	}
	ctx := context.Background()
	if _, err := st.DB.Owner.CopyFrom(ctx, pgx.Identifier{"outbox_messages"},
		[]string{"id", "tenant_id", "bot_id", "chat_id", "method", "params", "priority", "kind", "seq", "status", "attempts", "created_at", "sending_at", "finished_at"},
		pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := st.DB.Owner.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// startCampaign creates a text campaign through the API and sends it.
func startCampaign(b *testing.B, p *platform, bt bot, token, text string) string {
	b.Helper()
	id := draftCampaign(b, p, bt, token, text)
	sendCampaign(b, p, token, id)
	return id
}

// draftCampaign creates a text campaign through the API.
func draftCampaign(b *testing.B, p *platform, bt bot, token, text string) string {
	b.Helper()
	var c struct{ ID string }
	if code := p.call(b, "POST", "/api/v1/campaigns", token, map[string]any{"bot_id": bt.ID, "name": "bench",
		"content": map[string]any{"text": text}}, &c); code != http.StatusCreated {
		b.Fatalf("create campaign: %d", code)
	}
	return c.ID
}

// sendCampaign sends a draft through the API.
func sendCampaign(b *testing.B, p *platform, token, id string) {
	b.Helper()
	var out map[string]any
	if code := p.call(b, "POST", "/api/v1/campaigns/"+id+"/send", token, nil, &out); code != http.StatusOK {
		b.Fatalf("send campaign: %d %v", code, out)
	}
}

// sentTimes are the outcome times of sent broadcast messages (as the
// outbox recorded them), in order, and the 429 answers it met on them.
func sentTimes(b *testing.B, st *stores) ([]time.Time, int) {
	b.Helper()
	ctx := context.Background()
	rows, err := st.DB.Owner.Query(ctx, `SELECT finished_at FROM outbox_messages WHERE kind = 'broadcast' AND status = 'sent' ORDER BY finished_at`)
	if err != nil {
		b.Fatal(err)
	}
	var ts []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			b.Fatal(err)
		}
		ts = append(ts, t)
	}
	rows.Close()
	var throttled int
	if err := st.DB.Owner.QueryRow(ctx, `SELECT COALESCE(sum(throttled), 0) FROM outbox_messages WHERE kind = 'broadcast'`).Scan(&throttled); err != nil {
		b.Fatal(err)
	}
	return ts, throttled
}

// steadyRate is sends per second between the 10th and the 90th percentile
// of the send times (ramp-up and the tail left out).
func steadyRate(ts []time.Time) float64 {
	if len(ts) < 20 {
		return 0
	}
	lo, hi := len(ts)/10, len(ts)*9/10
	span := ts[hi].Sub(ts[lo]).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(hi-lo) / span
}

func waitCampaigns(b *testing.B, st *stores, ids []string, limit time.Duration) {
	b.Helper()
	// Read from the database, not polled through the API: 200 campaigns'
	// GETs every 50 ms would be load the platform under test pays for.
	// A connection of its own: the benchmarks sample on st.DB.Owner meanwhile.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, st.DB.OwnerURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	waitFor(b, limit, "campaigns done", func() bool {
		var done int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM campaigns WHERE id::text = ANY($1) AND status = 'done'`, ids).Scan(&done)
		if err != nil {
			b.Fatal(err)
		}
		return done == len(ids)
	})
}

// BenchmarkCampaignOneBot: one campaign to N recipients on one bot with the
// sandbox enforcing Telegram's per-bot limit scaled ×S (and the outbox
// budgeting for the same), so the run lasts about a minute. Figures: the
// achieved rate over the steady part as a fraction of the limit (target
// ≥ 0.95), 429 answers (target 0), duplicates (target 0).
func BenchmarkCampaignOneBot(b *testing.B) {
	n := envInt("LOADTEST_CAMPAIGN_RECIPIENTS", 15000)
	scale := float64(envInt("LOADTEST_CAMPAIGN_SCALE", 10))
	st := newStores(b)
	p := startPlatform(b, st, platformOptions{Worker: true, OutboxScale: scale})
	lim := tgsandbox.DefaultLimits()
	lim.Scale = scale
	p.Sandbox.SetLimits(lim)
	bt := p.signUpWithBot(b, st, "Campaign Bench Co")
	chats := seedAudience(b, p, st, bt, bt.TenantID, n)
	seedOutboxHistory(b, st, bt.TenantID, []int64{bt.ID}, n)
	limit := 30 * scale
	say("campaign, one bot: %d recipients, Telegram's 30 msg/s ×%.0f = %.0f msg/s in the sandbox and the outbox (expected ≈ %.0f s)",
		n, scale, limit, float64(n)/limit)
	// The rate is measured where Telegram would see it: when the sandbox
	// answered each call (a 429 answer would count too; there are none when
	// the outbox keeps to the budget, and the figure says how many).
	var mu sync.Mutex
	var arrivals []time.Time
	hook := func(method string, body []byte) {
		if method != "sendMessage" || !strings.Contains(string(body), "[bench]") {
			return
		}
		now := time.Now()
		mu.Lock()
		arrivals = append(arrivals, now)
		mu.Unlock()
	}
	p.onCall.Store(&hook)
	defer p.onCall.Store(nil)
	b.ResetTimer()
	start := time.Now()
	id := startCampaign(b, p, bt, bt.OwnerToken, "News for {first_name} [bench]")
	// How full the campaign's window is tells who the bound is: a full
	// window means the outbox (sending) is, an empty one the leader (queueing).
	stop, sampled := make(chan struct{}), make(chan []int)
	go func() {
		var open []int
		for {
			select {
			case <-stop:
				sampled <- open
				return
			case <-time.After(500 * time.Millisecond):
			}
			var k int
			_ = st.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM outbox_messages WHERE status IN ('queued', 'sending') AND kind = 'broadcast'`).Scan(&k)
			open = append(open, k)
		}
	}()
	waitCampaigns(b, st, []string{id}, 10*time.Minute)
	b.StopTimer()
	close(stop)
	open := <-sampled
	sort.Ints(open)
	if len(open) > 0 {
		say("campaign, one bot: messages open in the outbox (window %d): median %d, max %d", int(2*limit), open[len(open)/2], open[len(open)-1])
	}
	_, throttled := sentTimes(b, st)
	mu.Lock()
	ts := append([]time.Time(nil), arrivals...)
	mu.Unlock()
	dups := 0
	for _, c := range chats {
		if k := received(p.Sandbox, bt.ID, c); k > 1 {
			dups += k - 1
		}
	}
	var stats struct{ Sent, Failed, Blocked, Unknown int }
	p.call(b, "GET", "/api/v1/campaigns/"+id+"/stats", bt.OwnerToken, nil, &stats)
	rate := steadyRate(ts)
	say("campaign, one bot: %d sent, %d failed, %d unknown in %.1f s; steady %.1f msg/s of %.0f; 429s %d; duplicates %d",
		stats.Sent, stats.Failed, stats.Unknown, time.Since(start).Seconds(), rate, limit, throttled, dups)
	bench(b, "campaign_rate_ratio", rate/limit, "ratio", ">=0.95")
	bench(b, "campaign_429s", float64(throttled), "429s", "=0")
	bench(b, "campaign_duplicates", float64(dups), "dups", "=0")
}

// received counts the bench messages a chat got, from the sandbox's transcript.
func received(sb *tgsandbox.Server, botID, userID int64) int {
	n := 0
	for _, e := range sb.PrivateTranscript(botID, userID) {
		if e.SenderKind == "bot" && strings.Contains(e.Text, "[bench]") {
			n++
		}
	}
	return n
}

// BenchmarkCampaignsManyBots: 200 bots of one tenant each send a campaign
// at once, with every limit scaled up so the platform, not Telegram, is the
// bound. Figures: the aggregate sends per second over the steady part
// (target ≥ 3000/s) and the delay of a live reply on one of those bots
// (outbox enqueue to the sandbox's answer), p99 under the load and how much
// that adds to the idle p99 (target ≤ 200 ms).
func BenchmarkCampaignsManyBots(b *testing.B) {
	nBots := envInt("LOADTEST_CAMPAIGN_BOTS", 200)
	per := envInt("LOADTEST_CAMPAIGN_BOT_RECIPIENTS", 100)
	scale := float64(envInt("LOADTEST_CAMPAIGN_BOTS_SCALE", 10))
	st := newStores(b)
	p := startPlatform(b, st, platformOptions{Worker: true, OutboxScale: scale})
	lim := tgsandbox.DefaultLimits()
	lim.Scale = scale
	p.Sandbox.SetLimits(lim)
	first := p.signUpWithBot(b, st, "Many Bots Co")
	bots := []bot{first}
	for i := 1; i < nBots; i++ {
		id := 7_000_000_000 + time.Now().UnixNano()%999_999_999
		token := fmt.Sprintf("%d:%s", id, strings.Repeat("C", 35-len(ids.Token(9)))+ids.Token(9))
		sbBot, err := p.Sandbox.CreateBotWithToken(token, fmt.Sprintf("many%d_bot", i), "Many")
		if err != nil {
			b.Fatal(err)
		}
		if code := p.call(b, "POST", "/api/v1/bots", first.OwnerToken, map[string]string{"token": token}, nil); code != http.StatusCreated {
			b.Fatalf("register bot %d: %d", i, code)
		}
		bots = append(bots, bot{Bot: sbBot, TenantID: first.TenantID, OwnerToken: first.OwnerToken})
	}
	botIDs := make([]int64, len(bots))
	for i, bt := range bots {
		seedAudience(b, p, st, bt, first.TenantID, per)
		botIDs[i] = bt.ID
	}
	seedOutboxHistory(b, st, first.TenantID, botIDs, nBots*per)
	// The live probe: a person outside every audience who talks to bot 0.
	talker := p.Sandbox.CreateUser("Talker", "talker")
	if err := p.Sandbox.DropWebhookDeliveries(first.ID, 1); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Sandbox.SendCommand(talker.ID, first.ID, "start", ""); err != nil {
		b.Fatal(err)
	}
	tenant := uuid.MustParse(first.TenantID)
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	var sends []time.Time
	hook := func(method string, body []byte) {
		if method != "sendMessage" {
			return
		}
		now := time.Now()
		if strings.Contains(string(body), "[bench]") {
			mu.Lock()
			sends = append(sends, now)
			mu.Unlock()
			return
		}
		if !strings.Contains(string(body), "probe ") {
			return
		}
		var req struct{ Text string }
		_ = json.Unmarshal(body, &req)
		mu.Lock()
		arrived[req.Text] = now
		mu.Unlock()
	}
	p.onCall.Store(&hook)
	defer p.onCall.Store(nil)
	probe := func(tag string, i int) (string, time.Time) {
		text := fmt.Sprintf("probe %s %d", tag, i)
		raw, _ := json.Marshal(map[string]any{"text": text})
		at := time.Now()
		if _, err := p.App.Outbox.Enqueue(context.Background(), outbox.Message{TenantID: tenant, BotID: first.ID, ChatID: talker.ID,
			Method: "sendMessage", Params: raw, Priority: outbox.Live, Kind: "bench.live"}); err != nil {
			b.Fatal(err)
		}
		return text, at
	}
	delays := func(sent map[string]time.Time) []time.Duration {
		waitFor(b, time.Minute, "probes answered", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for t := range sent {
				if _, ok := arrived[t]; !ok {
					return false
				}
			}
			return true
		})
		mu.Lock()
		defer mu.Unlock()
		var ds []time.Duration
		for t, at := range sent {
			ds = append(ds, arrived[t].Sub(at))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds
	}
	// Idle: probes 150 ms apart (within the chat's own budget of 1/s ×S).
	idle := map[string]time.Time{}
	for i := range 20 {
		t, at := probe("idle", i)
		idle[t] = at
		time.Sleep(150 * time.Millisecond)
	}
	idleD := delays(idle)
	say("campaigns, %d bots × %d recipients, limits ×%.0f (%.0f msg/s per bot); live probe idle p50 %v p99 %v",
		nBots, per, scale, 30*scale, pct(idleD, 50), pct(idleD, 99))

	// The drafts are made beforehand; at the start every campaign is sent
	// (200 API calls in a row, about a second).
	var campaignIDs []string
	for _, bt := range bots {
		campaignIDs = append(campaignIDs, draftCampaign(b, p, bt, first.OwnerToken, "Hello {first_name} [bench]"))
	}
	b.ResetTimer()
	start := time.Now()
	for _, id := range campaignIDs {
		sendCampaign(b, p, first.OwnerToken, id)
	}
	loaded := map[string]time.Time{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			t, at := probe("load", i)
			mu.Lock()
			loaded[t] = at
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()
	waitCampaigns(b, st, campaignIDs, 15*time.Minute)
	b.StopTimer()
	close(stop)
	<-done
	mu.Lock()
	loadedCopy := map[string]time.Time{}
	for k, v := range loaded {
		loadedCopy[k] = v
	}
	mu.Unlock()
	loadD := delays(loadedCopy)
	_, throttled := sentTimes(b, st)
	mu.Lock()
	ts := append([]time.Time(nil), sends...)
	mu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	rate := steadyRate(ts)
	say("campaigns, %d bots: %d sent in %.1f s, steady %.0f msg/s aggregate; 429s %d; live probe under load p50 %v p99 %v",
		nBots, len(ts), time.Since(start).Seconds(), rate, throttled, pct(loadD, 50), pct(loadD, 99))
	bench(b, "campaigns_aggregate_per_s", rate, "msg/s", ">=3000")
	bench(b, "campaigns_live_p99_ms", float64(pct(loadD, 99).Milliseconds()), "ms", "")
	bench(b, "campaigns_live_added_p99_ms", float64((pct(loadD, 99) - pct(idleD, 99)).Milliseconds()), "ms", "<=200")
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := min(len(ds)-1, (len(ds)*p+99)/100-1)
	return ds[max(0, i)].Round(time.Millisecond)
}
