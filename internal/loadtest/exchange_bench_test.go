package loadtest

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm/exchange"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// BenchmarkExchangeOutbox measures the 1C outbox under concurrent
// publishers of one tenant (each a transaction publishing one event, as a
// feature does) while one consumer pulls pages of up to 500 and
// acknowledges them by cursor, the loop docs/connectors/http-json.md
// recommends. It reports publishes/s, deliveries/s, the delay from commit
// to delivery and how many pulls met publishing in progress often enough
// to return an empty page (the price of never skipping an event).
func BenchmarkExchangeOutbox(b *testing.B) {
	st := newStores(b)
	set := ingestSettingsFromEnv()
	ctx := context.Background()
	tenant := ids.New()
	if _, err := st.DB.Owner.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ($1, 'Outbox Bench')", tenant); err != nil {
		b.Fatal(err)
	}
	svc := exchange.NewService(st.DB.DB, exchange.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	publishers := min(set.Concurrency, 16)

	var committedAt sync.Map // event id -> commit time
	var published, delivered, emptyPages, pulls atomic.Int64
	var lagMu sync.Mutex
	var lags []time.Duration
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var id uuid.UUID
				err := st.DB.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
					var err error
					id, err = exchange.Publish(ctx, tx, tenant, exchange.EventFeedbackCreated, map[string]any{"text": "bench"})
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
				committedAt.Store(id, time.Now())
				published.Add(1)
			}
		}()
	}
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		cursor := exchange.Cursor{}
		draining := false
		for {
			page, err := svc.Pull(ctx, tenant, cursor, 500)
			if err != nil {
				b.Error(err)
				return
			}
			pulls.Add(1)
			now := time.Now()
			for _, e := range page.Events {
				if t, ok := committedAt.Load(e.ID); ok {
					lagMu.Lock()
					lags = append(lags, now.Sub(t.(time.Time)))
					lagMu.Unlock()
				}
			}
			delivered.Add(int64(len(page.Events)))
			if len(page.Events) == 0 {
				emptyPages.Add(1)
				if draining {
					return
				}
				select {
				case <-stop:
					draining = true
				default:
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			cursor, _ = exchange.ParseCursor(page.NextCursor)
			if _, err := svc.Ack(ctx, tenant, &cursor, nil); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	time.Sleep(set.Duration)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	<-consumerDone
	b.StopTimer()

	if delivered.Load() != published.Load() {
		b.Fatalf("published %d, delivered %d", published.Load(), delivered.Load())
	}
	slices.Sort(lags)
	pct := func(q float64) float64 {
		if len(lags) == 0 {
			return 0
		}
		return float64(lags[int(q*float64(len(lags)-1))].Microseconds()) / 1000
	}
	say("exchange outbox: %d publishers, %s: %d published, %d delivered, %d pulls (%d empty)",
		publishers, elapsed.Round(time.Millisecond), published.Load(), delivered.Load(), pulls.Load(), emptyPages.Load())
	bench(b, "exchange_publish_per_s", float64(published.Load())/elapsed.Seconds(), "publishes/s", "")
	bench(b, "exchange_delivery_lag_p50_ms", pct(0.50), "lag-p50-ms", "")
	bench(b, "exchange_delivery_lag_p99_ms", pct(0.99), "lag-p99-ms", "")
	bench(b, "exchange_empty_pull_ratio", float64(emptyPages.Load())/float64(max(pulls.Load(), 1)), "empty/pull", "")
}
