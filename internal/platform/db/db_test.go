package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// Every table with a tenant_id column must have RLS on and a policy; a new
// table that forgets either fails here.
func TestEveryTenantTableHasRLSAndPolicy(t *testing.T) {
	ctx := context.Background()
	rows, err := env.Owner.Query(ctx, `
		SELECT c.relname, c.relrowsecurity,
		       (SELECT count(*) FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
		WHERE c.relkind IN ('r', 'p')
		  AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
		       OR c.relname = 'tenants')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		var rls bool
		var policies int
		if err := rows.Scan(&name, &rls, &policies); err != nil {
			t.Fatal(err)
		}
		n++
		if !rls {
			t.Errorf("table %s has tenant_id but row-level security is off", name)
		}
		if policies == 0 {
			t.Errorf("table %s has tenant_id but no policy", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("found only %d tenant tables; the catalog query is wrong", n)
	}
}

// The application role must not own tables nor bypass RLS, or every policy is moot.
func TestAppRoleCannotBypassRLS(t *testing.T) {
	ctx := context.Background()
	var super, bypass bool
	var role string
	err := env.DB.Pool.QueryRow(ctx, "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&role, &super, &bypass)
	if err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Fatalf("app role %s: superuser=%v bypassrls=%v", role, super, bypass)
	}
	var owned int
	err = env.DB.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user").Scan(&owned)
	if err != nil {
		t.Fatal(err)
	}
	if owned != 0 {
		t.Fatalf("app role owns %d tables", owned)
	}
}

func newTenant(t *testing.T, d *db.DB) uuid.UUID {
	t.Helper()
	id := ids.New()
	err := d.InTenant(context.Background(), id, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), "INSERT INTO tenants (id, name) VALUES ($1, $2)", id, "t-"+id.String()[:8])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTenantScopeSeesOnlyOwnRows(t *testing.T) {
	ctx := context.Background()
	a, b := newTenant(t, env.DB), newTenant(t, env.DB)
	for _, tid := range []uuid.UUID{a, b} {
		err := env.DB.InTenant(ctx, tid, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO contacts (id, tenant_id, tg_user_id, first_name) VALUES ($1, $2, 42, 'x')", ids.New(), tid)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(tid uuid.UUID) (n int) {
		err := env.DB.InTenant(ctx, tid, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, "SELECT count(*) FROM contacts").Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count(a); got != 1 {
		t.Errorf("tenant a sees %d contacts, want 1", got)
	}
	var none int
	if err := env.DB.Pool.QueryRow(ctx, "SELECT count(*) FROM contacts").Scan(&none); err != nil {
		t.Fatal(err)
	}
	if none != 0 {
		t.Errorf("no tenant set: sees %d contacts, want 0", none)
	}
	// Writing a row for another tenant is refused by the policy's WITH CHECK.
	err := env.DB.InTenant(ctx, a, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO contacts (id, tenant_id, tg_user_id) VALUES ($1, $2, 7)", ids.New(), b)
		return err
	})
	if err == nil {
		t.Fatal("inserting a row for another tenant succeeded")
	}
}

func TestSchemaIsCurrent(t *testing.T) {
	if err := env.DB.CheckSchema(context.Background()); err != nil {
		t.Fatal(err)
	}
	latest, err := db.LatestVersion()
	if err != nil || latest < 1 {
		t.Fatalf("latest version %d, %v", latest, err)
	}
}
