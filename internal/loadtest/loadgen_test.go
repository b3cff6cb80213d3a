package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The load generator runs in a second process: this test binary, executed
// again with loadgenEnv set to a JSON Config. Without it the test returns at
// once, so `go test ./...` pays nothing.
const (
	loadgenEnv    = "HELPDESK_LOADGEN_CONFIG"
	loadgenPrefix = "LOADGEN_RESULT "
)

func TestLoadgenProcess(t *testing.T) {
	raw := os.Getenv(loadgenEnv)
	if raw == "" {
		return
	}
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("loadgen config: %v", err)
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(res)
	fmt.Println(loadgenPrefix + string(out))
}

// runLoadgen runs cfg in a child process and returns its result.
func runLoadgen(tb testing.TB, cfg Config) Result {
	tb.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Warmup+cfg.Duration+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLoadgenProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), loadgenEnv+"="+string(raw))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("load generator: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), loadgenPrefix); ok {
			var res Result
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				tb.Fatalf("load generator result %q: %v", line, err)
			}
			return res
		}
	}
	tb.Fatalf("load generator printed no result:\n%s\n%s", stdout.String(), stderr.String())
	return Result{}
}

// The generator sends every update once, with fresh ids, the secret header
// and a valid JSON body, and counts what the server answers.
func TestRunSendsDistinctUpdatesAndCountsAnswers(t *testing.T) {
	var (
		mu      sync.Mutex
		seen    = map[int64]int{}
		secrets = map[string]int{}
		bad     int
	)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/tg/:id", func(c *fiber.Ctx) error {
		var u struct {
			UpdateID int64 `json:"update_id"`
			Message  struct {
				Chat struct{ ID int64 } `json:"chat"`
			} `json:"message"`
		}
		if err := json.Unmarshal(c.Body(), &u); err != nil || u.Message.Chat.ID == 0 {
			mu.Lock()
			bad++
			mu.Unlock()
			return c.SendStatus(400)
		}
		mu.Lock()
		seen[u.UpdateID]++
		secrets[c.Get(SecretHeader)]++
		n := len(seen)
		mu.Unlock()
		if n%10 == 0 {
			return c.SendStatus(503) // every tenth is refused: counted as an error
		}
		return c.SendStatus(200)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })

	for _, tc := range []struct {
		name string
		rate float64
	}{
		{"closed loop", 0},
		{"paced", 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			clear(seen)
			clear(secrets)
			mu.Unlock()
			res, err := Run(t.Context(), Config{
				URL: "http://" + ln.Addr().String() + "/tg/abc", Secret: "s3cret", Concurrency: 4,
				Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Rate: tc.rate,
				FirstUpdateID: 1000, Chats: 7,
			})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			total := int64(len(seen))
			if bad != 0 || res.Requests == 0 || total == 0 {
				t.Fatalf("bad bodies %d, requests %d, distinct updates %d", bad, res.Requests, total)
			}
			for id, n := range seen {
				if n != 1 || id < 1000 {
					t.Fatalf("update %d sent %d times", id, n)
				}
			}
			if len(secrets) != 1 || secrets["s3cret"] == 0 {
				t.Fatalf("secret headers %v", secrets)
			}
			if res.Errors != res.Statuses["503"] || res.Errors == 0 || res.Acked+res.Errors != total {
				t.Fatalf("errors %d statuses %v acked %d, server saw %d", res.Errors, res.Statuses, res.Acked, total)
			}
			if tc.rate > 0 && (res.Requests > 110 || res.Requests < 50) {
				t.Fatalf("paced at 500/s for 0.2 s sent %d", res.Requests)
			}
			if res.P50ms <= 0 || res.P99ms < res.P50ms || res.MaxMs < res.P99ms {
				t.Fatalf("percentiles %+v", res)
			}
		})
	}
}

func TestUpdateBodyIsAboutFourHundredBytesOfValidJSON(t *testing.T) {
	b := UpdateBody(nil, 123456789, 100042)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if len(b) < 350 || len(b) > 500 {
		t.Fatalf("update is %d bytes", len(b))
	}
}

func TestPercentile(t *testing.T) {
	d := func(n int) time.Duration { return time.Duration(n) }
	sorted := []time.Duration{}
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, d(i))
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{d(7)}, 99, d(7)},
		{"median of 100", sorted, 50, d(50)},
		{"p99 of 100", sorted, 99, d(99)},
		{"p100 is the max", sorted, 100, d(100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.in, tc.p); got != tc.want {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}
