package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tgdesk/helpdesk/internal/platform/testenv"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Several processes may start at once; the advisory lock lets one migrate
// while the others wait and find nothing left to do.
func TestConcurrentMigrateThenServeChecksSchema(t *testing.T) {
	ctx := context.Background()
	d, drop, err := testenv.NewEmptyDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	r, dropRedis, err := testenv.NewRedis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer dropRedis()
	env := map[string]string{
		"HELPDESK_DATABASE_URL":         d.AppURL,
		"HELPDESK_MIGRATE_DATABASE_URL": d.OwnerURL,
		"HELPDESK_REDIS_URL":            r.URL,
		"HELPDESK_SECRET_KEY":           "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"HELPDESK_JWT_SECRET":           strings.Repeat("s", 32),
		"HELPDESK_HTTP_ADDR":            "127.0.0.1:0",
	}

	// Before migrating, serve refuses to start.
	var stderr bytes.Buffer
	if code := run([]string{"serve"}, &bytes.Buffer{}, &stderr, nil, lookup(env)); code == 0 || !strings.Contains(stderr.String(), "helpdesk migrate") {
		t.Fatalf("serve on an empty schema: code %d, stderr %s", code, stderr.String())
	}

	var wg sync.WaitGroup
	codes := make([]int, 3)
	outs := make([]bytes.Buffer, 3)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = run([]string{"migrate"}, &bytes.Buffer{}, &outs[i], nil, lookup(env))
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Fatalf("migrate #%d exited %d: %s", i, c, outs[i].String())
		}
	}
}

func TestMigrateRefusesAppRoleAsOwner(t *testing.T) {
	var stderr bytes.Buffer
	env := map[string]string{
		"HELPDESK_DATABASE_URL":         "postgres://same@127.0.0.1:5432/x",
		"HELPDESK_MIGRATE_DATABASE_URL": "postgres://same@127.0.0.1:5432/x",
	}
	if code := run([]string{"migrate"}, &bytes.Buffer{}, &stderr, nil, lookup(env)); code != 1 || !strings.Contains(stderr.String(), "row-level security") {
		t.Fatalf("code %d: %s", code, stderr.String())
	}
}

func TestUnknownCommandPrintsUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, &bytes.Buffer{}, &stderr, nil, lookup(nil)); code != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Fatalf("code %d: %s", code, stderr.String())
	}
}
