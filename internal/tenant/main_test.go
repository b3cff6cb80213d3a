package tenant_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newService returns a service with its own invalidation channel, so tests
// running in parallel do not see each other's messages.
func newService(t *testing.T, opts ...tenant.Option) *tenant.Service {
	t.Helper()
	opts = append([]tenant.Option{tenant.WithLogger(quiet), tenant.WithInvalidationChannel("test:" + t.Name())}, opts...)
	return tenant.NewService(env.DB, env.Redis.Client, opts...)
}

// newTenant inserts a bare tenant (as sign-up would) and returns its id.
func newTenant(t *testing.T) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	id := ids.New()
	slug := "t-" + id.String()[24:]
	err := env.DB.InTenant(ctx, id, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tenants (id, slug, name, timezone, languages, default_language, features)
			VALUES ($1, $2, $3, 'Europe/Moscow', '{ru,en}', 'ru', '{"support": true}')`, id, slug, "Tenant "+slug)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func auditCount(t *testing.T, tenantID uuid.UUID, action string) int {
	t.Helper()
	var n int
	err := env.Owner.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2", tenantID, action).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustInvalid(t *testing.T, err error, code, field string) {
	t.Helper()
	inv, ok := asInvalid(err)
	if !ok {
		t.Fatalf("error = %v, want an InvalidError %s on %s", err, code, field)
	}
	if inv.Code != code && !hasField(inv, field, code) {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	if field != "" && !hasField(inv, field, "") {
		t.Fatalf("error = %v, want field %s named", err, field)
	}
}

func hasField(inv *tenant.InvalidError, field, code string) bool {
	for _, f := range inv.Fields {
		if f.Field == field && (code == "" || f.Code == code) {
			return true
		}
	}
	return false
}

func asInvalid(err error) (*tenant.InvalidError, bool) {
	for err != nil {
		if inv, ok := err.(*tenant.InvalidError); ok {
			return inv, true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return nil, false
		}
		err = u.Unwrap()
	}
	return nil, false
}
