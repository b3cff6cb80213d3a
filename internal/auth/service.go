// Package auth owns accounts: sign-up, login with short-lived access JWTs and
// rotating refresh tokens, sessions, the team (invites, members, roles),
// password resets and the platform operators. principal.go holds the role
// model and the route guards every other package uses.
package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// Options configure the Service. Zero values get the defaults noted.
type Options struct {
	JWTSecret         []byte        // required, at least 32 bytes
	AccessTTL         time.Duration // default 15m
	RefreshTTL        time.Duration // default 720h
	InviteTTL         time.Duration // invite and reset links; default 72h
	PublicURL         string        // links are PublicURL + "/invite/<token>" and "/reset/<token>"
	LoginMaxPerMinute int           // failed logins per account and per IP; default 10
	PasswordParams    crypto.PasswordParams
	Clock             clock.Clock
	Mailer            Mailer          // default NopMailer
	Keyring           *crypto.Keyring // seals TOTP secrets; nil turns two-factor enrolment off
	Logger            *slog.Logger
}

// Service is the account service; it holds no fiber types.
type Service struct {
	db     *db.DB
	rdb    *redis.Client
	opt    Options
	clock  clock.Clock
	log    *slog.Logger
	mailer Mailer
	// dummyHash is checked against when an e-mail is unknown, so that
	// answering "no such account" costs as much as a wrong password.
	dummyHash string
}

// Sentinel errors; http.go maps each to a problem with a stable code.
var (
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	ErrAccountDisabled    = errors.New("auth: account disabled")
	ErrTenantSuspended    = errors.New("auth: tenant suspended")
	ErrTooManyAttempts    = errors.New("auth: too many attempts")
	ErrEmailTaken         = errors.New("auth: email taken")
	ErrInvalidToken       = errors.New("auth: invalid token")
	ErrTokenExpired       = errors.New("auth: token expired")
	ErrSessionRevoked     = errors.New("auth: session revoked")
	ErrRefreshInvalid     = errors.New("auth: refresh token invalid")
	ErrRefreshExpired     = errors.New("auth: refresh token expired")
	ErrRefreshReused      = errors.New("auth: refresh token reused")
	ErrNotFound           = errors.New("auth: not found")
	ErrForbidden          = errors.New("auth: forbidden")
	ErrLastOwner          = errors.New("auth: last owner")
	ErrInviteExpired      = errors.New("auth: invite expired")
	ErrInviteUsed         = errors.New("auth: invite used or revoked")
	ErrResetExpired       = errors.New("auth: reset link expired")
	ErrResetUsed          = errors.New("auth: reset link used")
	ErrWrongPassword      = errors.New("auth: current password is wrong")
	ErrUnavailable        = errors.New("auth: a dependency is unavailable")
)

// ThrottledError carries how long a throttled caller must wait.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string { return "auth: too many attempts" }

// Is makes errors.Is(err, ErrTooManyAttempts) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrTooManyAttempts }

// NewService builds the service.
func NewService(d *db.DB, rdb *redis.Client, o Options) (*Service, error) {
	if len(o.JWTSecret) < 32 {
		return nil, errors.New("auth: the JWT secret must be at least 32 bytes")
	}
	if o.AccessTTL <= 0 {
		o.AccessTTL = 15 * time.Minute
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 720 * time.Hour
	}
	if o.InviteTTL <= 0 {
		o.InviteTTL = 72 * time.Hour
	}
	if o.LoginMaxPerMinute <= 0 {
		o.LoginMaxPerMinute = 10
	}
	if o.PasswordParams == (crypto.PasswordParams{}) {
		o.PasswordParams = crypto.DefaultPasswordParams
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Mailer == nil {
		o.Mailer = NopMailer{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dummy, err := crypto.HashPassword(o.PasswordParams, "not a real password: timing equaliser")
	if err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	return &Service{
		db: d, rdb: rdb, opt: o,
		clock: o.Clock, log: o.Logger, mailer: o.Mailer, dummyHash: dummy,
	}, nil
}

// AccessTTL is the lifetime of access tokens.
func (s *Service) AccessTTL() time.Duration { return s.opt.AccessTTL }

func (s *Service) now() time.Time { return s.clock.Now().UTC() }

// inScope runs fn in the tenant's transaction, or, for operators
// (tenantID == uuid.Nil), in a plain transaction on the operator tables.
func (s *Service) inScope(ctx context.Context, tenantID uuid.UUID, fn func(tx pgx.Tx, t tables) error) error {
	if tenantID == uuid.Nil {
		return s.db.InTx(ctx, func(tx pgx.Tx) error { return fn(tx, operatorTables) })
	}
	return s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error { return fn(tx, userTables) })
}

// tables names the session tables of users or of operators; both sets have
// the same columns (see migrations/00002_auth.sql).
type tables struct {
	sessions, tokens, principals string
}

var (
	userTables     = tables{sessions: "sessions", tokens: "refresh_tokens", principals: "users"}
	operatorTables = tables{sessions: "operator_sessions", tokens: "operator_refresh_tokens", principals: "operators"}
)

// audit records who changed what in the tenant's operation log.
func audit(ctx context.Context, tx pgx.Tx, actor string, action, target string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, details)
		VALUES (app_tenant(), $1, $2, $3, $4)`, actor, action, target, details)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}
