package db

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for goose
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tgdesk/helpdesk/migrations"
)

// Migrate applies every pending migration as the schema owner and then grants
// the application role what it needs. A PostgreSQL session advisory lock
// makes concurrent starts safe: one process migrates, the others wait and
// find nothing to do.
func Migrate(ctx context.Context, ownerURL, appRole string, log *slog.Logger) (int64, error) {
	sqlDB, err := sql.Open("pgx", ownerURL)
	if err != nil {
		return 0, fmt.Errorf("migrate: open: %w", err)
	}
	defer sqlDB.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, fmt.Errorf("migrate: locker: %w", err)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithSlog(log))
	if err != nil {
		return 0, fmt.Errorf("migrate: provider: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: up: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "path", r.Source.Path, "took", r.Duration)
	}
	if err := grantApp(ctx, sqlDB, appRole); err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// grantApp gives the application role data access without ownership, so
// row-level security applies to it. It runs after every migration so new
// tables are covered.
func grantApp(ctx context.Context, sqlDB *sql.DB, appRole string) error {
	role := pgx.Identifier{appRole}.Sanitize()
	// GRANTs from concurrent starts collide ("tuple concurrently
	// updated"), so they run under an advisory lock of their own.
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: grant: %w", err)
	}
	defer conn.Close()
	const grantLock = 7271001
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", grantLock); err != nil {
		return fmt.Errorf("migrate: grant lock: %w", err)
	}
	defer func() { _, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", grantLock) }()
	stmts := []string{
		"GRANT USAGE ON SCHEMA public TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role,
		"REVOKE INSERT, UPDATE, DELETE ON goose_db_version FROM " + role,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + role,
		"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO " + role,
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate: grant %s: %w", appRole, err)
		}
	}
	return nil
}

// LatestVersion is the newest migration embedded in this binary.
func LatestVersion() (int64, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return 0, fmt.Errorf("migrate: list: %w", err)
	}
	var latest int64
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return 0, fmt.Errorf("migrate: %s: %w", n, err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// SchemaVersion is the newest migration applied to the database.
func (d *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := d.Pool.QueryRow(ctx, "SELECT COALESCE(max(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("db: schema version: %w", err)
	}
	return v, nil
}

// CheckSchema refuses to run against a schema older than this binary expects.
func (d *DB) CheckSchema(ctx context.Context) error {
	want, err := LatestVersion()
	if err != nil {
		return err
	}
	have, err := d.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("%w (has `helpdesk migrate` run?)", err)
	}
	if have < want {
		return fmt.Errorf("db: schema is at version %d, this binary needs %d: run `helpdesk migrate`", have, want)
	}
	return nil
}

// RoleFromURL returns the user name in a PostgreSQL URL.
func RoleFromURL(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil || u.User.Username() == "" {
		return "", fmt.Errorf("db: no user name in database URL")
	}
	return u.User.Username(), nil
}
