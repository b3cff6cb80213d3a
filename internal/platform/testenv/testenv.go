// Package testenv gives integration tests real services: a fresh PostgreSQL
// database per test package (migrated by the owner role, used through the
// RLS-bound app role) and a Redis database of its own.
//
// It reads HELPDESK_TEST_PG_ADMIN_URL (a superuser URL, default
// postgres://postgres@127.0.0.1:5432/postgres) and HELPDESK_TEST_REDIS_ADDR
// (default 127.0.0.1:6379). `make test` starts both when they are not running.
package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Role names used by tests and by the local setup (deploy/dev/services.sh).
const (
	OwnerRole = "helpdesk"
	AppRole   = "helpdesk_app"
)

func adminURL() string {
	if v := os.Getenv("HELPDESK_TEST_PG_ADMIN_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisAddr is the Redis server tests use.
func RedisAddr() string {
	if v := os.Getenv("HELPDESK_TEST_REDIS_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:6379"
}

// Database is one fresh, migrated database.
type Database struct {
	Name     string
	AppURL   string
	OwnerURL string
	DB       *db.DB
	// Owner bypasses RLS (it owns the tables); tests use it to set up
	// fixtures and to look behind the application's back.
	Owner *pgx.Conn
}

// withDB swaps the database name in a URL.
func withDB(base, user, dbName string) string {
	u, _ := url.Parse(base)
	u.User = url.User(user)
	u.Path = "/" + dbName
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// NewDatabase creates, migrates and opens a database; cleanup drops it.
// Call it from TestMain (sharing one database per package) or per test.
func NewDatabase(ctx context.Context) (*Database, func(), error) {
	d, drop, err := NewEmptyDatabase(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := db.Migrate(ctx, d.OwnerURL, AppRole, nil); err != nil {
		drop()
		return nil, nil, err
	}
	if d.DB, err = db.Open(ctx, d.AppURL, 0); err != nil {
		drop()
		return nil, nil, err
	}
	if d.Owner, err = pgx.Connect(ctx, d.OwnerURL); err != nil {
		d.DB.Close()
		drop()
		return nil, nil, err
	}
	cleanup := func() {
		d.DB.Close()
		_ = d.Owner.Close(context.Background())
		drop()
	}
	return d, cleanup, nil
}

// NewEmptyDatabase creates a database with no schema (only Name, AppURL and
// OwnerURL are set); drop removes it.
func NewEmptyDatabase(ctx context.Context) (*Database, func(), error) {
	admin, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: connect admin (is PostgreSQL running? `make test` starts it): %w", err)
	}
	defer admin.Close(ctx)
	for _, stmt := range []string{
		"CREATE ROLE " + OwnerRole + " LOGIN",
		"CREATE ROLE " + AppRole + " LOGIN NOBYPASSRLS",
	} {
		// Roles are cluster-wide and packages run in parallel: an
		// "already exists" (or a unique violation in a race) is fine.
		if _, err := admin.Exec(ctx, stmt); err != nil && !strings.Contains(err.Error(), "already exists") && !db.IsUniqueViolation(err, "") {
			return nil, nil, fmt.Errorf("testenv: %s: %w", stmt, err)
		}
	}
	name := "hdtest_" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(ids.Token(9)))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" OWNER "+OwnerRole); err != nil {
		return nil, nil, fmt.Errorf("testenv: create database: %w", err)
	}
	d := &Database{
		Name:     name,
		AppURL:   withDB(adminURL(), AppRole, name),
		OwnerURL: withDB(adminURL(), OwnerRole, name),
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), adminURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	}
	return d, drop, nil
}

// Redis is one Redis logical database held for the life of a test package.
type Redis struct {
	DB     int
	Client *redis.Client
	Asynq  asynq.RedisClientOpt
	URL    string
}

var redisLockKey = "helpdesk:testenv:db:%d"

// NewRedis claims a free logical database (1–15) with a lock in DB 0 so that
// packages running in parallel never share one, and flushes it.
func NewRedis(ctx context.Context) (*Redis, func(), error) {
	ctl := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	owner := ids.Token(12)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for n := 1; n <= 15; n++ {
			ok, err := ctl.SetNX(ctx, fmt.Sprintf(redisLockKey, n), owner, 30*time.Minute).Result()
			if err != nil {
				_ = ctl.Close()
				return nil, nil, fmt.Errorf("testenv: redis (is Redis running? `make test` starts it): %w", err)
			}
			if !ok {
				continue
			}
			r := &Redis{
				DB:     n,
				Client: redis.NewClient(&redis.Options{Addr: RedisAddr(), DB: n}),
				Asynq:  asynq.RedisClientOpt{Addr: RedisAddr(), DB: n},
				URL:    fmt.Sprintf("redis://%s/%d", RedisAddr(), n),
			}
			if err := r.Client.FlushDB(ctx).Err(); err != nil {
				return nil, nil, err
			}
			var once sync.Once
			cleanup := func() {
				once.Do(func() {
					_ = r.Client.FlushDB(context.Background()).Err()
					_ = r.Client.Close()
					_ = ctl.Del(context.Background(), fmt.Sprintf(redisLockKey, n)).Err()
					_ = ctl.Close()
				})
			}
			return r, cleanup, nil
		}
		if time.Now().After(deadline) {
			_ = ctl.Close()
			return nil, nil, fmt.Errorf("testenv: no free Redis database after 2 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Env is the usual pair for a package's integration tests.
type Env struct {
	*Database
	Redis *Redis
}

// Main runs a package's tests with a fresh database and Redis, and exits.
// Use it as: func TestMain(m *testing.M) { testenv.Main(m, &env) }.
func Main(m *testing.M, env **Env) {
	os.Exit(runMain(m, env))
}

func runMain(m *testing.M, env **Env) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	d, dropDB, err := NewDatabase(ctx)
	if err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer dropDB()
	r, dropRedis, err := NewRedis(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer dropRedis()
	*env = &Env{Database: d, Redis: r}
	return m.Run()
}
