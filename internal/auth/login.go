package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// account is what login needs to know about an e-mail address.
type account struct {
	id       uuid.UUID
	tenantID uuid.UUID // uuid.Nil for an operator
	role     Role
	hash     string
	disabled bool
}

// normalizeEmail trims and lower-cases an address; ok is false when it is
// not a plain address.
func normalizeEmail(email string) (string, bool) {
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) < 3 || len(e) > 254 {
		return e, false
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e, "@") {
		return e, false
	}
	return e, true
}

// lookupAccount finds a user (through the SECURITY DEFINER function, the
// tenant being unknown) or else an operator with that e-mail.
func (s *Service) lookupAccount(ctx context.Context, email string) (*account, error) {
	var a account
	var role string
	err := s.db.Pool.QueryRow(ctx, `SELECT id, tenant_id, role, password_hash, disabled FROM auth_user_by_email($1)`, email).
		Scan(&a.id, &a.tenantID, &role, &a.hash, &a.disabled)
	if err == nil {
		a.role = Role(role)
		return &a, nil
	}
	if !db.IsNotFound(err) {
		return nil, fmt.Errorf("auth: look up user: %w", err)
	}
	err = s.db.Pool.QueryRow(ctx, `SELECT id, password_hash, disabled FROM operators WHERE email = $1`, email).
		Scan(&a.id, &a.hash, &a.disabled)
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: look up operator: %w", err)
	}
	a.role = RoleOperator
	return &a, nil
}

// emailTaken reports whether a user or an operator already has the address.
func (s *Service) emailTaken(ctx context.Context, email string) (bool, error) {
	a, err := s.lookupAccount(ctx, email)
	return a != nil, err
}

// Login checks an e-mail and password and starts a session. Users and
// operators log in here alike; an operator's token has role "operator" and
// no tenant. Failures are throttled per account and per IP. Tests in other
// packages use it to get tokens.
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent string) (TokenPair, error) {
	pair, _, err := s.login(ctx, email, password, "", Client{IP: ip, UserAgent: userAgent})
	return pair, err
}

func (s *Service) login(ctx context.Context, email, password, code string, cl Client) (TokenPair, *Principal, error) {
	email, _ = normalizeEmail(email)
	release, err := s.throttle(ctx, email, cl.IP)
	if err != nil {
		return TokenPair{}, nil, err
	}
	a, err := s.lookupAccount(ctx, email)
	if err != nil {
		return TokenPair{}, nil, err
	}
	if a == nil {
		// Same argon2 work as for a real account: no timing oracle.
		_ = crypto.CheckPassword(s.dummyHash, password)
		return TokenPair{}, nil, ErrInvalidCredentials
	}
	if err := crypto.CheckPassword(a.hash, password); err != nil {
		return TokenPair{}, nil, ErrInvalidCredentials
	}
	if a.disabled {
		release()
		return TokenPair{}, nil, ErrAccountDisabled
	}
	p := &Principal{UserID: a.id, TenantID: a.tenantID, Role: a.role}
	var pair TokenPair
	var outcome error
	err = s.inScope(ctx, a.tenantID, func(tx pgx.Tx, t tables) error {
		if t == userTables {
			if outcome = tenantSuspended(ctx, tx); outcome != nil {
				return nil
			}
		}
		if outcome = s.loginTOTP(ctx, tx, t, a.id, code); outcome != nil {
			if errors.Is(outcome, ErrTOTPInvalid) || errors.Is(outcome, ErrTOTPRequired) {
				return nil
			}
			return outcome
		}
		var err error
		pair, err = s.startSession(ctx, tx, t, p, cl)
		return err
	})
	if err == nil {
		err = outcome
	}
	// A missing or wrong second factor counts as a failed attempt: the
	// throttle keeps a known password from buying unlimited code guesses.
	if !errors.Is(err, ErrTOTPInvalid) && !errors.Is(err, ErrTOTPRequired) {
		release()
	}
	if err != nil {
		return TokenPair{}, nil, err
	}
	return pair, p, nil
}

// IsThrottled extracts the wait from a throttling error.
func IsThrottled(err error) (time.Duration, bool) {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.RetryAfter, true
	}
	return 0, false
}

// tenantSuspended answers ErrTenantSuspended when the transaction's tenant
// was suspended by an operator: its users cannot log in or refresh (access
// tokens already issued live out their short TTL; every feature already
// stops for a suspended tenant).
func tenantSuspended(ctx context.Context, tx pgx.Tx) error {
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM tenants WHERE id = app_tenant()`).Scan(&status); err != nil {
		return fmt.Errorf("auth: load tenant status: %w", err)
	}
	if status == "suspended" {
		return ErrTenantSuspended
	}
	return nil
}
