package outbox

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkGroupRelay: the outbox alone sending 1,000 messages into one
// forum group, budgets lifted (×2000) and each call taking 5 ms at the
// sandbox (a network round trip), either all into the group itself (one
// destination: one call in flight, as every copy was when order was per
// chat) or spread over 50 topics (one destination each: up to MaxInFlight
// calls in flight). Figures: messages per second (the enqueue loop, one
// message at a time, is the ceiling of the topics case) and enqueue → outcome
// recorded latency.
func BenchmarkGroupRelay(b *testing.B) {
	for _, topics := range []int{0, 50} {
		name := "one_destination"
		if topics > 0 {
			name = fmt.Sprintf("%d_topics", topics)
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, fixtureOpts{limits: Limits{Scale: 2000}})
			g, threads := f.forum(topics)
			f.sb.SetLatency(f.bot.ID, "sendMessage", 5*time.Millisecond)
			var mu sync.Mutex
			at := map[uuid.UUID]time.Time{}
			var lat []time.Duration
			const n = 1000
			b.ResetTimer()
			start := time.Now()
			for i := range n {
				m := f.text(g.ID, fmt.Sprintf("m%d", i), Live)
				if topics > 0 {
					m.ThreadID = threads[i%topics]
				}
				id := f.enqueue(m)
				mu.Lock()
				at[id] = time.Now()
				mu.Unlock()
			}
			eventually(b, 5*time.Minute, "all sent", func() bool { return f.statusCounts()["sent"] >= n })
			took := time.Since(start)
			b.StopTimer()
			rows, err := env.Owner.Query(context.Background(), `SELECT id, finished_at FROM outbox_messages WHERE tenant_id = $1`, f.tenant)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				var id uuid.UUID
				var fin time.Time
				if err := rows.Scan(&id, &fin); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, fin.Sub(at[id]))
			}
			rows.Close()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(float64(n)/took.Seconds(), "msg/s")
			b.ReportMetric(p(0.5), "p50-ms")
			b.ReportMetric(p(0.99), "p99-ms")
			fmt.Printf("BENCH outbox_group_%s_per_sec=%.0f\nBENCH outbox_group_%s_p50_ms=%.0f\nBENCH outbox_group_%s_p99_ms=%.0f\n",
				name, float64(n)/took.Seconds(), name, p(0.5), name, p(0.99))
		})
	}
}
