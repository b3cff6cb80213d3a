package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// BenchmarkSupportRelay: many people write to one tenant's support bot at a
// fixed aggregate rate; each message must appear as a copy in the person's
// forum topic in the staff group. Figures: relay latency from the sandbox
// accepting the person's message to the sandbox answering the copyMessage
// into the topic (p50, p99), reordering per person, losses. The sandbox's
// and the outbox's Telegram limits are scaled up (a group's 20/min would
// otherwise cap the whole run at 20 messages a minute).
func BenchmarkSupportRelay(b *testing.B) {
	users := envInt("LOADTEST_RELAY_USERS", 1000)
	rate := envInt("LOADTEST_RELAY_RATE", 300)
	perUser := envInt("LOADTEST_RELAY_PER_USER", 3)
	st := newStores(b)
	// One staff group takes every copy: at 300 msg/s that is 18,000 a
	// minute against Telegram's 20, so the limits are scaled ×2000 (both the
	// sandbox's and the outbox's) to measure the platform, not the budget.
	scale := float64(envInt("LOADTEST_RELAY_SCALE", 2000))
	p := startPlatform(b, st, platformOptions{Worker: true, OutboxScale: scale})
	lim := tgsandbox.DefaultLimits()
	lim.Scale = scale
	p.Sandbox.SetLimits(lim)
	bt := p.signUpWithBot(b, st, "Relay Bench Co")

	// A forum staff group bound with /bind <code>, as an admin would.
	admin := p.Sandbox.CreateUser("Admin", "relay_admin")
	group := p.Sandbox.CreateForumSupergroup("Support staff", admin.ID)
	if err := p.Sandbox.AddBotToChat(bt.ID, group.ID, tgsandbox.AllRights()); err != nil {
		b.Fatal(err)
	}
	var code struct {
		Code string `json:"code"`
	}
	if c := p.call(b, "POST", "/api/v1/support/staff-groups/bind-code", bt.OwnerToken, map[string]any{}, &code); c != 201 {
		b.Fatalf("bind code: %d", c)
	}
	if _, err := p.Sandbox.SendText(admin.ID, group.ID, "/bind "+code.Code); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 20*time.Second, "the staff group bound", func() bool {
		var gs struct {
			StaffGroups []struct{ Status string } `json:"staff_groups"`
		}
		return p.call(b, "GET", "/api/v1/support/staff-groups", bt.OwnerToken, nil, &gs) == 200 &&
			len(gs.StaffGroups) == 1 && gs.StaffGroups[0].Status == "ok"
	})

	people := make([]tgsandbox.User, users)
	for i := range people {
		people[i] = p.Sandbox.CreateUser(fmt.Sprintf("User%d", i), fmt.Sprintf("relay_u%d", i))
	}

	// Each copy into the group is matched to the person's message by
	// (from_chat_id, message_id).
	var mu sync.Mutex
	sentAt := map[[2]int64]time.Time{}
	var latencies []time.Duration
	lastCopied := map[int64]int64{}
	var reordered, copies atomic.Int64
	hook := func(method string, body []byte) {
		if method != "copyMessage" {
			return
		}
		now := time.Now()
		var req struct {
			ChatID     json.Number `json:"chat_id"`
			FromChatID json.Number `json:"from_chat_id"`
			MessageID  int64       `json:"message_id"`
		}
		if json.Unmarshal(body, &req) != nil || req.ChatID.String() != strconv.FormatInt(group.ID, 10) {
			return
		}
		from, _ := req.FromChatID.Int64()
		mu.Lock()
		defer mu.Unlock()
		at, ok := sentAt[[2]int64{from, req.MessageID}]
		if !ok {
			return // a repeat or someone else's message
		}
		delete(sentAt, [2]int64{from, req.MessageID})
		latencies = append(latencies, now.Sub(at))
		copies.Add(1)
		if req.MessageID < lastCopied[from] {
			reordered.Add(1)
		}
		lastCopied[from] = req.MessageID
	}
	p.onCall.Store(&hook)

	// Phase 1: everyone's first message, which also creates their topic.
	// Phase 2: the remaining messages into existing topics (the relay proper).
	phase := func(name string, round0, rounds int) {
		mu.Lock()
		latencies = latencies[:0]
		mu.Unlock()
		copies.Store(0)
		total := users * rounds
		say("support relay, %s: %d people × %d messages at %d msg/s into one tenant's staff group, limits ×%.0f", name, users, rounds, rate, scale)
		start := time.Now()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		failed := 0
		for i := 0; i < total; i++ {
			<-tick.C
			u := people[i%users]
			sent, err := p.Sandbox.SendText(u.ID, bt.ID, fmt.Sprintf("message %d from %d", round0+i/users, u.ID))
			if err != nil {
				failed++
				continue
			}
			mu.Lock()
			sentAt[[2]int64{u.ID, sent.MessageID}] = time.Now()
			mu.Unlock()
		}
		tick.Stop()
		sendFor := time.Since(start)
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) && copies.Load() < int64(total-failed) {
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		lost := len(sentAt)
		for k := range sentAt {
			delete(sentAt, k)
		}
		ls := append([]time.Duration(nil), latencies...)
		mu.Unlock()
		sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
		say("  sent %d in %s (%.0f msg/s); copies in topics %d", total-failed, sendFor.Round(time.Millisecond), float64(total-failed)/sendFor.Seconds(), len(ls))
		target50, target99 := "", ""
		if name == "steady" {
			target50, target99 = "<=20", "<=100"
		}
		bench(b, "support_relay_"+name+"_p50_ms", ms(Percentile(ls, 50)), name+"-p50-ms", target50)
		bench(b, "support_relay_"+name+"_p99_ms", ms(Percentile(ls, 99)), name+"-p99-ms", target99)
		bench(b, "support_relay_"+name+"_max_ms", ms(Percentile(ls, 100)), name+"-max-ms", "")
		bench(b, "support_relay_"+name+"_lost", float64(lost+failed), name+"-lost", "==0")
	}
	b.ResetTimer()
	phase("first", 0, 1)
	// The steady phase is a platform that has been running: its tables
	// have statistics, as autovacuum gives them within a minute of such a
	// burst. Without them the planner takes the tables for nearly empty
	// (docs/benchmarks.md, "Statistics").
	b.StopTimer()
	if _, err := st.DB.Owner.Exec(context.Background(), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	phase("steady", 1, max(perUser-1, 1))
	b.StopTimer()
	p.onCall.Store(nil)
	bench(b, "support_relay_reordered", float64(reordered.Load()), "reordered", "==0")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func waitFor(b *testing.B, d time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("timed out waiting for %s", what)
}
