package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tgdesk/helpdesk/internal/app"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// withApp opens the dependencies and builds the services for a one-shot
// command.
func withApp(ctx context.Context, stderr io.Writer, lookup func(string) (string, bool), fn func(*app.App) error) error {
	cfg, log, err := loadConfig(lookup, stderr)
	if err != nil {
		return err
	}
	deps, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer deps.Close()
	a, err := app.New(deps)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

// runOperator: helpdesk operator create --email E [--name N] [--password-stdin]
func runOperator(ctx context.Context, args []string, stdout, stderr io.Writer, stdin io.Reader, lookup func(string) (string, bool)) error {
	if len(args) == 0 || args[0] != "create" {
		return errUsage
	}
	fs := flag.NewFlagSet("operator create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "operator e-mail (required)")
	name := fs.String("name", "Operator", "display name")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("operator create: --email is required")
	}
	password := ""
	generated := false
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("operator create: read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	} else {
		password, generated = ids.Token(18), true
	}
	return withApp(ctx, stderr, lookup, func(a *app.App) error {
		if err := a.Auth.CreateOperator(ctx, *email, *name, password); err != nil {
			return fmt.Errorf("operator create: %w", err)
		}
		fmt.Fprintf(stdout, "operator %s created\n", *email)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", password)
		}
		return nil
	})
}

// runTenant: helpdesk tenant apply FILE [FILE...]
func runTenant(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	if len(args) < 2 || args[0] != "apply" {
		return errUsage
	}
	return withApp(ctx, stderr, lookup, func(a *app.App) error {
		for _, path := range args[1:] {
			res, err := a.Tenants.ApplyFile(ctx, path)
			if err != nil {
				return fmt.Errorf("tenant apply %s: %w", path, err)
			}
			fmt.Fprintf(stdout, "%s: tenant %s (%s) %s", path, res.Slug, res.TenantID, res.Outcome)
			if len(res.Changes) > 0 {
				fmt.Fprintf(stdout, " [%s]", strings.Join(res.Changes, ", "))
			}
			fmt.Fprintln(stdout)
		}
		return nil
	})
}
