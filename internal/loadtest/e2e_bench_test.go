package loadtest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// BenchmarkIdleEndToEnd measures one update → reply on an idle platform:
// a sandbox user writes to a bot registered through the API, the sandbox
// delivers the webhook, the router queues it, a worker drains the chat and
// the fallback handler answers the tenant's greeting through the outbox;
// the clock stops when the sandbox has answered the bot's sendMessage (the
// reply is then in the user's chat). One message is in flight at a time,
// after a random pause, so each sample meets idle workers at a random phase
// of their TaskCheckInterval poll, as a real user's message does.
func BenchmarkIdleEndToEnd(b *testing.B) {
	st := newStores(b)
	// The outbox's budgets are lifted (x100) so that 200 quick samples
	// measure the path, not Telegram's per-bot 30/s and per-chat 1/s
	// pacing (which the outbox tests cover); the sandbox's limits are off.
	p := startPlatform(b, st, platformOptions{Worker: true, OutboxScale: 100})
	bt := p.signUpWithBot(b, st, "Latency Bench Co")
	samples := 200
	if n, err := strconv.Atoi(os.Getenv("LOADTEST_E2E_SAMPLES")); err == nil && n > 0 {
		samples = n
	}

	users := make([]tgsandbox.User, 10)
	for i := range users {
		users[i] = p.Sandbox.CreateUser(fmt.Sprintf("Bench%d", i), fmt.Sprintf("bench_user_%d", i))
		// Warm-up: the first message creates the contact and its chat.
		if _, err := p.roundTrip(bt.ID, users[i].ID, "/start"); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}

	var lat, deliver, ack, worker, send []time.Duration
	failures := 0
	for i := range samples {
		time.Sleep(time.Duration(rand.Int64N(int64(40 * time.Millisecond))))
		l, err := p.roundTrip(bt.ID, users[i%len(users)].ID, "Здравствуйте, вопрос номер "+strconv.Itoa(i))
		if err != nil {
			failures++
			continue
		}
		lat, deliver, ack = append(lat, l.Total), append(deliver, l.Deliver), append(ack, l.Ack)
		worker, send = append(worker, l.Worker), append(send, l.Send)
	}
	for _, s := range [][]time.Duration{lat, deliver, ack, worker, send} {
		slices.Sort(s)
	}
	p50, p90, p99 := ms(Percentile(lat, 50)), ms(Percentile(lat, 90)), ms(Percentile(lat, 99))
	maxMs := 0.0
	if len(lat) > 0 {
		maxMs = ms(lat[len(lat)-1])
	}
	say("idle end-to-end (user sends → bot reply in the sandbox; webhook → drain task → outbox pump, TaskCheckInterval %s): %d samples, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms, %d without a reply in 10 s",
		p.App.Cfg.TaskCheckInterval, len(lat), p50, p90, p99, maxMs, failures)
	leg := func(s []time.Duration) string {
		return fmt.Sprintf("p50 %.1f / p90 %.1f ms", ms(Percentile(s, 50)), ms(Percentile(s, 90)))
	}
	say("  legs: sandbox → webhook request %s; platform ack %s; ack → sendMessage (drain hop, handling, outbox hop) %s; sendMessage %s",
		leg(deliver), leg(ack), leg(worker), leg(send))
	bench(b, "e2e_idle_p50_ms", p50, "e2e-p50-ms", "<=30")
	bench(b, "e2e_idle_p90_ms", p90, "e2e-p90-ms", "")
	bench(b, "e2e_idle_p99_ms", p99, "e2e-p99-ms", "")
	bench(b, "e2e_idle_max_ms", maxMs, "e2e-max-ms", "")
	bench(b, "e2e_idle_failures", float64(failures), "e2e-failures", "==0")
}

// legs split one round trip: sandbox → webhook request, the platform's
// acknowledgement, ack → the bot's sendMessage reaching the sandbox (drain
// hop, handling, outbox hop), and the sendMessage call itself.
type legs struct {
	Total, Deliver, Ack, Worker, Send time.Duration
}

// roundTrip sends text as the user and waits until the bot's reply is in
// their chat; it returns the time from the send to the reply.
func (p *platform) roundTrip(botID, userID int64, text string) (legs, error) {
	before := p.botMessages(botID, userID)
	for len(p.replies) > 0 { // forget signals of earlier replies
		<-p.replies
	}
	start := time.Now()
	if _, err := p.Sandbox.SendText(userID, botID, text); err != nil {
		return legs{}, err
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case <-p.replies:
			end := time.Now()
			if p.botMessages(botID, userID) > before {
				at := func(v *atomic.Int64) time.Time { return time.Unix(0, v.Load()) }
				hs, he, ss := at(&p.marks.hookStart), at(&p.marks.hookEnd), at(&p.marks.sendStart)
				return legs{Total: end.Sub(start), Deliver: hs.Sub(start), Ack: he.Sub(hs), Worker: ss.Sub(he), Send: end.Sub(ss)}, nil
			}
		case <-timeout.C:
			return legs{}, fmt.Errorf("no reply to %q within 10 s", text)
		}
	}
}

func (p *platform) botMessages(botID, userID int64) int {
	n := 0
	for _, e := range p.Sandbox.PrivateTranscript(botID, userID) {
		if e.SenderKind == "bot" {
			n++
		}
	}
	return n
}
