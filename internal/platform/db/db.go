// Package db opens the PostgreSQL pool and runs every tenant-owned query in a
// transaction that has set app.tenant_id, which the row-level security
// policies read (DESIGN.md invariant 1).
package db

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// DB is the application's connection pool (the app role, subject to RLS).
type DB struct {
	Pool *pgxpool.Pool
}

// DefaultMaxConns sizes the pool when the URL does not. pgx's own default
// (the number of CPUs, at least 4) starves a worker whose tasks each hold a
// transaction while result hooks and senders need connections of their own.
const DefaultMaxConns = 40

// Open connects and pings. A pool_max_conns in the URL wins over maxConns;
// maxConns <= 0 means DefaultMaxConns.
func Open(ctx context.Context, url string, maxConns int) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		if maxConns <= 0 {
			maxConns = DefaultMaxConns
		}
		cfg.MaxConns = int32(maxConns)
	}
	// google/uuid values are sent as binary uuids; without this pgx takes
	// them as driver.Valuers (a string per value, parsed again), which cost
	// 5% of the process's CPU in the broadcast benchmark. Scanning is left
	// as it was: the library's scan plan refuses NULL where uuid.UUID's own
	// Scan gives the zero id.
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		tm := conn.TypeMap()
		tm.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{pgxuuid.TryWrapUUIDEncodePlan}, tm.TryWrapEncodePlanFuncs...)
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: ping: %w", err)
	}
	return &DB{Pool: pool}, nil
}

// Close closes the pool.
func (d *DB) Close() { d.Pool.Close() }

// Ping checks the database answers (readiness).
func (d *DB) Ping(ctx context.Context) error { return d.Pool.Ping(ctx) }

// InTenant runs fn in a transaction scoped to one tenant: every query inside
// sees only that tenant's rows. SET takes no bind parameters, so the tenant
// is set with set_config(..., true), which lasts until the transaction ends.
// BEGIN and set_config go as one simple-protocol query (one round trip, not
// two); the id is inlined, which is safe because uuid.UUID.String is only
// hex digits and dashes.
func (d *DB) InTenant(ctx context.Context, tenantID uuid.UUID, fn func(tx pgx.Tx) error) error {
	if tenantID == uuid.Nil {
		return errors.New("db: tenant transaction without a tenant")
	}
	begin := "BEGIN; SELECT set_config('app.tenant_id', '" + tenantID.String() + "', true)"
	return pgx.BeginTxFunc(ctx, d.Pool, pgx.TxOptions{BeginQuery: begin}, fn)
}

// InTenantPipeline sends set_config and the statements queued in b as one
// pipeline with one Sync, which PostgreSQL runs as one implicit transaction
// (the tenant setting lasts until it ends, so row-level security applies as
// in InTenant), and hands their results to read. One round trip instead of
// InTenant's three or more, the connection held for that long only: for a
// hot path's single statement. Read must consume b's results in order.
func (d *DB) InTenantPipeline(ctx context.Context, tenantID uuid.UUID, b *pgx.Batch, read func(br pgx.BatchResults) error) error {
	if tenantID == uuid.Nil {
		return errors.New("db: tenant pipeline without a tenant")
	}
	full := &pgx.Batch{}
	full.Queue("SELECT set_config('app.tenant_id', $1, true)", tenantID.String())
	full.QueuedQueries = append(full.QueuedQueries, b.QueuedQueries...)
	br := d.Pool.SendBatch(ctx, full)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("db: set tenant: %w", err)
	}
	rerr := read(br)
	cerr := br.Close()
	if rerr != nil {
		return rerr
	}
	return cerr
}

// InTx runs fn in a transaction with no tenant set: tenant tables show zero
// rows there; it is for the narrow SECURITY DEFINER look-ups and the
// platform's own tables.
func (d *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, d.Pool, fn)
}

// IsUniqueViolation reports whether err is a unique-constraint violation,
// optionally of the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "23505" {
		return false
	}
	return constraint == "" || pg.ConstraintName == constraint
}

// IsNotFound reports whether err is pgx.ErrNoRows.
func IsNotFound(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
