//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/config"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// This file runs the real binary as separate processes (serve, work) over a
// fresh database, a private Redis DB and an in-process Telegram sandbox, so
// tests can kill and signal them like an orchestrator would.

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// TestMain only removes the binary the process tests built (lazily, once).
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// helpdeskBinary builds ./cmd/helpdesk once per test binary, with the race
// detector when the tests run with it, so races in the real processes show.
func helpdeskBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("process tests build the real binary and need the go command on PATH: %v", err)
	}
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "helpdesk-proc-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "helpdesk")
		args := []string{"build", "-o", binPath}
		if raceEnabled() {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/helpdesk: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// cluster is one deployment: a database, a Redis DB, a sandbox, a `serve`
// process, and whatever `work` processes a test starts.
type cluster struct {
	t   *testing.T
	bin string
	env map[string]string
	URL string // the serve process's base URL
	// OwnerURL connects as the schema owner, which RLS does not filter,
	// to look behind the platform's back.
	OwnerURL string
	Sandbox  *tgsandbox.Server
	Redis    *redis.Client
	Serve    *proc
}

func newCluster(t *testing.T, overrides map[string]string) *cluster {
	t.Helper()
	bin := helpdeskBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Cleanups run last-registered first: processes die before the sandbox
	// closes and before the database and Redis DB go away.
	d, dropDB, err := testenv.NewEmptyDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dropDB)
	r, dropRedis, err := testenv.NewRedis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dropRedis)
	lim := tgsandbox.NoLimits()
	sb := tgsandbox.New(tgsandbox.Options{Limits: &lim, Logger: slog.New(slog.DiscardHandler)})
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(func() { sbSrv.Close(); _ = sb.Close() })

	addr := freeAddr(t)
	c := &cluster{t: t, bin: bin, URL: "http://" + addr, OwnerURL: d.OwnerURL, Sandbox: sb, Redis: r.Client, env: map[string]string{
		"HELPDESK_DATABASE_URL":         d.AppURL,
		"HELPDESK_MIGRATE_DATABASE_URL": d.OwnerURL,
		"HELPDESK_REDIS_URL":            r.URL,
		"HELPDESK_SECRET_KEY":           "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"HELPDESK_JWT_SECRET":           strings.Repeat("s", 40),
		"HELPDESK_HTTP_ADDR":            addr,
		"HELPDESK_PUBLIC_URL":           "http://" + addr,
		"HELPDESK_TELEGRAM_API_URL":     sbSrv.URL,
		"HELPDESK_LOG_FORMAT":           "json",
		"HELPDESK_LOG_LEVEL":            "info",
	}}
	for k, v := range overrides {
		c.env[k] = v
	}

	mctx, mcancel := context.WithTimeout(context.Background(), time.Minute)
	defer mcancel()
	migrate := exec.CommandContext(mctx, bin, "migrate")
	migrate.Env = c.environ()
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("helpdesk migrate: %v\n%s", err, out)
	}

	c.Serve = c.start("serve")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(c.URL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if c.Serve.exited() || time.Now().After(deadline) {
			t.Fatalf("serve did not become ready (exited: %v, last error: %v)", c.Serve.exited(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// freeAddr picks a free local port (a tiny race with other listeners is
// accepted: serve fails loudly if it lost it).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// environ is the inherited environment without any HELPDESK_* setting (a
// developer's HELPDESK_CONFIG must not leak in), plus the cluster's.
func (c *cluster) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HELPDESK_") {
			out = append(out, kv)
		}
	}
	for k, v := range c.env {
		out = append(out, k+"="+v)
	}
	return out
}

// proc is one running helpdesk process with its combined output.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // Wait's answer, set before done closes
	// readyAt is when a worker reported its workers started.
	readyAt time.Time
}

// start runs `helpdesk <role>`. The process is killed in t.Cleanup if it
// is still running, and its output goes to the test log if the test failed.
func (c *cluster) start(role string) *proc {
	c.t.Helper()
	p := &proc{name: role, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(c.bin, role)
	p.cmd.Env = c.environ()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// If the test binary itself dies (a timeout panic), take the process with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		c.t.Fatalf("start helpdesk %s: %v", role, err)
	}
	p.name = fmt.Sprintf("%s (pid %d)", role, p.cmd.Process.Pid)
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	c.t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if c.t.Failed() {
			c.t.Logf("--- output of helpdesk %s (last 120 lines) ---\n%s", p.name, tailLines(p.out.String(), 120))
		}
		if s := p.out.String(); strings.Contains(s, "WARNING: DATA RACE") {
			c.t.Errorf("helpdesk %s reported a data race:\n%s", p.name, tailLines(s, 120))
		}
	})
	return p
}

// startWorker starts `helpdesk work` and waits until its workers run.
func (c *cluster) startWorker() *proc {
	c.t.Helper()
	p := c.start("work")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.out.String(), `"msg":"workers started"`) {
		if p.exited() || time.Now().After(deadline) {
			c.t.Fatalf("helpdesk %s did not start its workers (exited: %v):\n%s", p.name, p.exited(), tailLines(p.out.String(), 60))
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.readyAt = time.Now()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// call sends a JSON request to serve and decodes the JSON answer into out.
func (c *cluster) call(method, path, token string, body, out any) int {
	c.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest(method, c.URL+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if out != nil && len(answer) > 0 {
		if err := json.Unmarshal(answer, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, answer, err)
		}
	}
	if resp.StatusCode >= 300 {
		c.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, answer)
	}
	return resp.StatusCode
}

// signupWithBot signs a tenant up and connects a new sandbox bot through the
// API (getMe and setWebhook against the sandbox, from the serve process).
func (c *cluster) signupWithBot(company string) tgsandbox.Bot {
	c.t.Helper()
	var signup struct {
		AccessToken string `json:"access_token"`
	}
	email := "owner@" + strings.ToLower(ids.Token(6)) + ".example"
	if code := c.call("POST", "/api/v1/signup", "", map[string]string{
		"company": company, "email": email, "password": "Long-enough-pass-" + ids.Token(6), "name": "Owner",
	}, &signup); code != http.StatusCreated {
		c.t.Fatalf("signup: %d", code)
	}
	bot := c.Sandbox.CreateBot("crash_test_bot", "Crash Test")
	if code := c.call("POST", "/api/v1/bots", signup.AccessToken, map[string]string{"token": bot.Token}, nil); code != http.StatusCreated {
		c.t.Fatalf("register bot: %d", code)
	}
	return bot
}

// knownSetting reports whether config declares a setting, so tests can use
// settings that may not exist yet.
func knownSetting(name string) bool {
	for _, s := range config.Specs {
		if s.Name == name {
			return true
		}
	}
	return false
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... %d earlier lines", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
