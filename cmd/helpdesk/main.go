// Command helpdesk is the platform in one binary with several roles:
//
//	helpdesk serve              HTTP: API, Telegram webhooks, console, /ops
//	helpdesk work               asynq workers and the (leader-elected) scheduler
//	helpdesk all                both (the default for local use)
//	helpdesk migrate            apply database migrations (as the schema owner)
//	helpdesk operator create    create a platform operator
//	helpdesk tenant apply FILE  create or update a tenant from a template
//	helpdesk config             print every setting with its default
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tgdesk/helpdesk/internal/platform/config"
	"github.com/tgdesk/helpdesk/internal/platform/logging"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Stdin, os.LookupEnv))
}

const usage = `usage: helpdesk <command> [flags]

commands:
  serve                         run the HTTP server (API, webhooks, console, /ops)
  work                          run the workers and the scheduler
  all                           run both in one process (default)
  migrate                       apply database migrations
  operator create --email E     create a platform operator (password from --password-stdin or generated)
  tenant apply FILE             create or update a tenant from a template (tenants/<name>/tenant.yaml)
  config                        print every setting with its default
`

// errUsage makes run print the usage and exit 2.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer, stdin io.Reader, lookup func(string) (string, bool)) int {
	cmd := "all"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd {
	case "serve", "work", "all":
		err = runServer(ctx, cmd, args, stderr, lookup)
	case "migrate":
		err = runMigrate(ctx, stderr, lookup)
	case "operator":
		err = runOperator(ctx, args, stdout, stderr, stdin, lookup)
	case "tenant":
		err = runTenant(ctx, args, stdout, stderr, lookup)
	case "config":
		printConfig(stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		err = errUsage
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, usage)
		return 2
	default:
		fmt.Fprintln(stderr, "helpdesk:", logging.Redact(err.Error()))
		return 1
	}
}

func loadConfig(lookup func(string) (string, bool), stderr io.Writer) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(lookup)
	if err != nil {
		return nil, nil, err
	}
	return cfg, logging.New(stderr, cfg.LogFormat, cfg.LogLevel), nil
}

func printConfig(w io.Writer) {
	fmt.Fprintln(w, "| variable | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, s := range config.Specs {
		def := "`" + s.Default + "`"
		if s.Required {
			def = "required"
		} else if s.Default == "" {
			def = "(empty)"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", s.Name, def, s.Description)
	}
}
