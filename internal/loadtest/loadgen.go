// Package loadtest holds the benchmarks that cross packages (the webhook
// path from Telegram's POST to the bot's reply) and the HTTP load generator
// they run in a second process. `make bench` runs them; they print figures
// and never assert timings. docs/benchmarks.md explains each figure.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// SecretHeader is Telegram's webhook secret header.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Config describes one load run against one URL.
type Config struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
	// Concurrency is the number of connections, each with one request in
	// flight (Telegram's max_connections plays this role for one bot).
	Concurrency int `json:"concurrency"`
	// Warmup runs first and is not measured; Duration is measured.
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
	// Rate, when positive, paces requests open-loop at this many per
	// second; latency then counts from each request's scheduled start, so
	// a stalled server is not hidden by the generator waiting for it.
	// Zero runs closed-loop: as fast as the server answers.
	Rate float64 `json:"rate"`
	// FirstUpdateID is the first update_id sent; every request gets the
	// next one, so each is a fresh update for the dedupe.
	FirstUpdateID int64 `json:"first_update_id"`
	// Chats spreads updates over this many private chats.
	Chats int `json:"chats"`
}

// Result is what one run measured (the warm-up excluded, except Acked).
type Result struct {
	Requests int64 `json:"requests"`
	// Errors are transport errors and any answer but 200.
	Errors   int64            `json:"errors"`
	Statuses map[string]int64 `json:"statuses"`
	Seconds  float64          `json:"seconds"`
	PerSec   float64          `json:"per_sec"`
	P50ms    float64          `json:"p50_ms"`
	P90ms    float64          `json:"p90_ms"`
	P99ms    float64          `json:"p99_ms"`
	MaxMs    float64          `json:"max_ms"`
	// Acked counts 200 answers including the warm-up: what the server
	// should have queued.
	Acked int64 `json:"acked"`
	// ServerCPUus and RedisCPUus are filled in by the benchmark, which
	// sees the server's process: CPU microseconds per acked update.
	ServerCPUus float64 `json:"-"`
	RedisCPUus  float64 `json:"-"`
}

// UpdateBody appends a realistic private text message update (about 400
// bytes, Cyrillic text as our tenants' users write) to dst.
func UpdateBody(dst []byte, updateID, chatID int64) []byte {
	dst = append(dst, `{"update_id":`...)
	dst = strconv.AppendInt(dst, updateID, 10)
	dst = append(dst, `,"message":{"message_id":`...)
	dst = strconv.AppendInt(dst, updateID%1_000_000+1, 10)
	dst = append(dst, `,"from":{"id":`...)
	dst = strconv.AppendInt(dst, chatID, 10)
	dst = append(dst, `,"is_bot":false,"first_name":"Анна","last_name":"Петрова","username":"anna_p","language_code":"ru"},"chat":{"id":`...)
	dst = strconv.AppendInt(dst, chatID, 10)
	dst = append(dst, `,"first_name":"Анна","last_name":"Петрова","username":"anna_p","type":"private"},"date":1767225600,"text":"Здравствуйте! Не могу подключиться к VPN с телефона, пишет ошибку авторизации."}}`...)
	return dst
}

// Run drives cfg.URL with POSTed updates and measures the answers.
func Run(ctx context.Context, cfg Config) (Result, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return Result{}, fmt.Errorf("loadgen: bad url %q", cfg.URL)
	}
	if cfg.Concurrency <= 0 || cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: concurrency and duration must be positive")
	}
	if cfg.Chats <= 0 {
		cfg.Chats = 1000
	}
	client := &fasthttp.HostClient{
		Addr:         u.Host,
		MaxConns:     cfg.Concurrency,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
	}
	defer client.CloseIdleConnections()
	g := &generator{cfg: cfg, client: client, next: cfg.FirstUpdateID}

	if cfg.Warmup > 0 {
		g.phase(ctx, cfg.Warmup, nil)
	}
	lat := make([][]time.Duration, cfg.Concurrency)
	start := time.Now()
	g.phase(ctx, cfg.Duration, lat)
	elapsed := time.Since(start)

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	res := Result{
		Requests: int64(len(all)),
		Errors:   g.errors.Load(),
		Statuses: g.statusCounts(),
		Seconds:  elapsed.Seconds(),
		Acked:    g.acked.Load(),
	}
	res.PerSec = float64(res.Requests-res.Errors) / res.Seconds
	res.P50ms = ms(Percentile(all, 50))
	res.P90ms = ms(Percentile(all, 90))
	res.P99ms = ms(Percentile(all, 99))
	if len(all) > 0 {
		res.MaxMs = ms(all[len(all)-1])
	}
	return res, nil
}

type generator struct {
	cfg    Config
	client *fasthttp.HostClient
	next   int64 // the next update_id, taken atomically
	acked  atomic.Int64
	errors atomic.Int64

	mu       sync.Mutex
	statuses map[string]int64
}

// phase runs the workers for d; lat (one slice per worker) receives
// latencies, or nil during the warm-up.
func (g *generator) phase(ctx context.Context, d time.Duration, lat [][]time.Duration) {
	start := time.Now()
	end := start.Add(d)
	var slot atomic.Int64
	var interval time.Duration
	if g.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / g.cfg.Rate)
	}
	var wg sync.WaitGroup
	for w := range g.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(g.cfg.URL)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.SetContentType("application/json")
			req.Header.Set(SecretHeader, g.cfg.Secret)
			var body []byte
			for ctx.Err() == nil {
				begin := time.Now()
				if interval > 0 {
					begin = start.Add(time.Duration(slot.Add(1)-1) * interval)
					if !begin.Before(end) {
						return
					}
					if wait := time.Until(begin); wait > 0 {
						time.Sleep(wait)
					}
				} else if !begin.Before(end) {
					return
				}
				id := atomic.AddInt64(&g.next, 1) - 1
				body = UpdateBody(body[:0], id, 100_000+id%int64(g.cfg.Chats))
				req.SetBodyRaw(body)
				err := g.client.Do(req, resp)
				took := time.Since(begin)
				status := 0
				if err == nil {
					status = resp.StatusCode()
				}
				g.count(status, err)
				if lat != nil {
					lat[w] = append(lat[w], took)
				}
			}
		}()
	}
	wg.Wait()
}

func (g *generator) count(status int, err error) {
	if err == nil && status == fasthttp.StatusOK {
		g.acked.Add(1)
		return
	}
	g.errors.Add(1)
	key := strconv.Itoa(status)
	if err != nil {
		key = "transport"
	}
	g.mu.Lock()
	if g.statuses == nil {
		g.statuses = map[string]int64{}
	}
	g.statuses[key]++
	g.mu.Unlock()
}

func (g *generator) statusCounts() map[string]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int64{}
	maps.Copy(out, g.statuses)
	return out
}

// Percentile returns the p-th percentile (nearest rank) of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
