// Command tgsandbox serves the Telegram Bot API emulator for offline demos.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// botFlags collects repeated -bot token[=username] flags.
type botFlags []string

func (b *botFlags) String() string     { return strings.Join(*b, ",") }
func (b *botFlags) Set(v string) error { *b = append(*b, v); return nil }

type config struct {
	addr       string
	publicURL  string
	noLimits   bool
	scale      float64
	autoBots   bool
	seed       bool
	bots       botFlags
	retryMin   time.Duration
	retryMax   time.Duration
	updateTTL  time.Duration
	ready      func(addr string) // tests learn the bound address
	shutdownCh <-chan struct{}   // tests stop the server without signals
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("tgsandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8081", "listen address")
	fs.StringVar(&cfg.publicURL, "public-url", "", "URL at which bots reach the sandbox (printed for configuration); default http://<addr>")
	fs.BoolVar(&cfg.noLimits, "no-limits", false, "disable flood limits")
	fs.Float64Var(&cfg.scale, "limits-scale", 1, "multiply every flood limit rate and burst (e.g. 100 for benchmarks)")
	fs.BoolVar(&cfg.autoBots, "auto-bots", true, "accept any well-formed unknown token as a new bot")
	fs.BoolVar(&cfg.seed, "seed", true, "create a demo user and a forum staff group with every -bot as admin")
	fs.Var(&cfg.bots, "bot", "create a bot: token[=username] (repeatable)")
	fs.DurationVar(&cfg.retryMin, "webhook-retry-min", time.Second, "first webhook retry delay")
	fs.DurationVar(&cfg.retryMax, "webhook-retry-max", time.Minute, "largest webhook retry delay")
	fs.DurationVar(&cfg.updateTTL, "update-ttl", 24*time.Hour, "how long undelivered updates are kept")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return cfg, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := serve(cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "tgsandbox: %v\n", err)
		return 1
	}
	return 0
}

func serve(cfg *config, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	limits := tgsandbox.DefaultLimits()
	limits.Enabled = !cfg.noLimits
	limits.Scale = cfg.scale
	s := tgsandbox.New(tgsandbox.Options{
		Logger: log, Limits: &limits, AutoCreateBots: cfg.autoBots,
		WebhookRetryMin: cfg.retryMin, WebhookRetryMax: cfg.retryMax, UpdateTTL: cfg.updateTTL,
	})
	defer s.Close()
	if err := seed(s, cfg, stdout); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.addr, err)
	}
	public := cfg.publicURL
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	fmt.Fprintf(stdout, "tgsandbox listening on %s\n  Bot API: %s/bot<token>/<method>\n  web UI:  %s/\n", ln.Addr(), public, public)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errCh := make(chan error, 1)
	go func() { errCh <- srv.Serve(ln) }()
	if cfg.ready != nil {
		cfg.ready(ln.Addr().String())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-cfg.shutdownCh:
	case err := <-errCh:
		return fmt.Errorf("serve: %w", err)
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Close the sandbox first so long polls return and Shutdown does not wait on them.
	_ = s.Close()
	if err := srv.Shutdown(shCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// seed creates the bots named on the command line and, with -seed, a demo
// user and a forum staff group where those bots are administrators.
func seed(s *tgsandbox.Server, cfg *config, stdout io.Writer) error {
	var ids []int64
	for _, spec := range cfg.bots {
		token, username, _ := strings.Cut(spec, "=")
		b, err := s.CreateBotWithToken(token, username, "")
		if err != nil {
			return fmt.Errorf("seed bot: %w", err)
		}
		ids = append(ids, b.ID)
		fmt.Fprintf(stdout, "bot @%s id=%d\n", b.Username, b.ID)
	}
	if !cfg.seed {
		return nil
	}
	u := s.CreateUser("Alice", "alice")
	agent := s.CreateUser("Agent", "agent")
	g := s.CreateForumSupergroup("Staff", agent.ID)
	for _, id := range ids {
		if err := s.AddBotToChat(id, g.ID, tgsandbox.AllRights()); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	fmt.Fprintf(stdout, "demo user %q id=%d, agent id=%d, staff forum %q id=%d\n", u.FirstName, u.ID, agent.ID, g.Title, g.ID)
	return nil
}
