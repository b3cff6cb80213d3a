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
// a handler answers through the outbox; the clock stops when the sandbox
// has answered the bot's sendMessage (the reply is then in the user's chat).
// One message is in flight at a time, after a random pause, so each sample
// meets idle workers at a random phase of their TaskCheckInterval poll, as a
// real user's message does.
//
// The main series sends /start from known users: the command handler
// answers the tenant's greeting every time. (Plain text goes to the support
// desk, which answers only a ticket's first message.) A second, shorter
// series has new users write their first message: contact creation, a
// support ticket and its "received" notice, the heavier first-contact path.
func BenchmarkIdleEndToEnd(b *testing.B) {
	st := newStores(b)
	// The outbox's budgets are lifted (x100) so that quick samples measure
	// the path, not Telegram's per-bot 30/s and per-chat 1/s pacing (which
	// the outbox tests cover); the sandbox's limits are off.
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
	greet := p.series(samples, func(i int) (int64, string) { return users[i%len(users)].ID, "/start" }, bt.ID)
	say("idle end-to-end, /start → greeting (webhook → drain task → outbox pump, TaskCheckInterval %s): %s",
		p.App.Cfg.TaskCheckInterval, greet)
	say("  legs: %s", greet.legs())

	firsts := max(samples/4, 1)
	fresh := make([]tgsandbox.User, firsts)
	for i := range fresh {
		fresh[i] = p.Sandbox.CreateUser(fmt.Sprintf("New%d", i), fmt.Sprintf("new_user_%d", i))
	}
	ticket := p.series(firsts, func(i int) (int64, string) {
		return fresh[i].ID, "Здравствуйте! Не могу подключиться к VPN с телефона."
	}, bt.ID)
	say("idle end-to-end, a new user's first message → support ticket \"received\" notice: %s", ticket)
	say("  legs: %s", ticket.legs())

	bench(b, "e2e_idle_p50_ms", greet.pct(50), "e2e-p50-ms", "<=30")
	bench(b, "e2e_idle_p90_ms", greet.pct(90), "e2e-p90-ms", "")
	bench(b, "e2e_idle_p99_ms", greet.pct(99), "e2e-p99-ms", "")
	bench(b, "e2e_idle_max_ms", greet.pct(100), "e2e-max-ms", "")
	bench(b, "e2e_idle_first_message_p50_ms", ticket.pct(50), "e2e-first-p50-ms", "")
	bench(b, "e2e_idle_first_message_p99_ms", ticket.pct(99), "e2e-first-p99-ms", "")
	bench(b, "e2e_idle_failures", float64(greet.failures+ticket.failures), "e2e-failures", "==0")
}

// samples are the round trips of one series, each leg sorted.
type samples struct {
	total, deliver, ack, worker, send []time.Duration
	failures                          int
}

// series runs n round trips one after the other; next names the sender and
// text of the i-th. It gives up after a few missing replies rather than
// waiting out every timeout.
func (p *platform) series(n int, next func(i int) (int64, string), botID int64) *samples {
	s := &samples{}
	for i := range n {
		if s.failures >= 3 {
			s.failures += n - i
			break
		}
		time.Sleep(time.Duration(rand.Int64N(int64(40 * time.Millisecond))))
		user, text := next(i)
		l, err := p.roundTrip(botID, user, text)
		if err != nil {
			s.failures++
			say("  no reply: %v", err)
			continue
		}
		s.total, s.deliver, s.ack = append(s.total, l.Total), append(s.deliver, l.Deliver), append(s.ack, l.Ack)
		s.worker, s.send = append(s.worker, l.Worker), append(s.send, l.Send)
	}
	for _, d := range [][]time.Duration{s.total, s.deliver, s.ack, s.worker, s.send} {
		slices.Sort(d)
	}
	return s
}

func (s *samples) pct(p float64) float64 { return ms(Percentile(s.total, p)) }

func (s *samples) String() string {
	return fmt.Sprintf("%d samples, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms, %d without a reply",
		len(s.total), s.pct(50), s.pct(90), s.pct(99), s.pct(100), s.failures)
}

func (s *samples) legs() string {
	leg := func(d []time.Duration) string {
		return fmt.Sprintf("p50 %.1f / p90 %.1f ms", ms(Percentile(d, 50)), ms(Percentile(d, 90)))
	}
	return fmt.Sprintf("sandbox → webhook request %s; platform ack %s; ack → sendMessage (drain hop, handling, outbox hop) %s; sendMessage %s",
		leg(s.deliver), leg(s.ack), leg(s.worker), leg(s.send))
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
	timeout := time.NewTimer(5 * time.Second)
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
			return legs{}, fmt.Errorf("no reply to %q within 5 s", text)
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
