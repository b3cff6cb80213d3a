package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// RequestPasswordReset e-mails a single-use reset link when email belongs to
// an active user. It returns nil whether or not it does, so the caller
// answers the same for every address (no account enumeration). Requests are
// limited per address like logins; extra ones are dropped silently.
// Operators reset their password with the CLI, not here.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	email, ok := normalizeEmail(email)
	if !ok {
		return nil
	}
	if wait, err := s.reserve(ctx, limitKey("reset-email", email)); err != nil || wait > 0 {
		return err
	}
	var uid, tid uuid.UUID
	var role string
	var hash string
	var disabled bool
	err := s.db.Pool.QueryRow(ctx, `SELECT id, tenant_id, role, password_hash, disabled FROM auth_user_by_email($1)`, email).
		Scan(&uid, &tid, &role, &hash, &disabled)
	if db.IsNotFound(err) || (err == nil && disabled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: reset look-up: %w", err)
	}
	token := ids.Token(32)
	var expires time.Time
	err = s.db.InTenant(ctx, tid, func(tx pgx.Tx) error {
		now := s.now()
		expires = now.Add(s.opt.InviteTTL)
		_, err := tx.Exec(ctx, `INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			ids.New(), uid, ids.Hash(token), now, expires)
		return err
	})
	if err != nil {
		return fmt.Errorf("auth: store reset: %w", err)
	}
	link := s.opt.PublicURL + "/reset/" + token
	err = s.mailer.Send(ctx, Mail{
		To:      email,
		Subject: "Reset your tgdesk password",
		Body: fmt.Sprintf("Someone (hopefully you) asked to reset the password of this account.\n\nOpen this link to choose a new one:\n%s\n\nThe link works once and expires on %s. If you did not ask, ignore this e-mail: your password stays as it is.\n",
			link, expires.Format(time.RFC1123)),
	})
	if err != nil {
		s.log.Warn("reset e-mail failed", "tenant_id", tid, "user_id", uid, "error", err)
	}
	return nil
}

// ConfirmPasswordReset sets a new password from a reset link's token and
// revokes every session of the user. Unknown tokens are ErrNotFound, used
// ones ErrResetUsed, expired ones ErrResetExpired.
func (s *Service) ConfirmPasswordReset(ctx context.Context, token, password string) error {
	if token == "" || len(token) > 200 {
		return httpx.Invalid(httpx.FieldError{Field: "token", Code: "required", Message: "Give the token from the reset link."})
	}
	var id, tid uuid.UUID
	var expires time.Time
	var used *time.Time
	err := s.db.Pool.QueryRow(ctx, `SELECT id, tenant_id, expires_at, used_at FROM auth_reset_by_hash($1)`, ids.Hash(token)).
		Scan(&id, &tid, &expires, &used)
	if db.IsNotFound(err) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: look up reset: %w", err)
	}
	now := s.now()
	switch {
	case used != nil:
		return ErrResetUsed
	case !now.Before(expires):
		return ErrResetExpired
	}
	return s.db.InTenant(ctx, tid, func(tx pgx.Tx) error {
		var uid uuid.UUID
		err := tx.QueryRow(ctx, `UPDATE password_resets SET used_at = $3 WHERE tenant_id = $1 AND id = $2
			AND used_at IS NULL AND expires_at > $3 RETURNING user_id`, tid, id, now).Scan(&uid)
		if db.IsNotFound(err) {
			return ErrResetUsed
		}
		if err != nil {
			return fmt.Errorf("auth: use reset: %w", err)
		}
		var email string
		if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE tenant_id = $1 AND id = $2`, tid, uid).Scan(&email); err != nil {
			return fmt.Errorf("auth: load user: %w", err)
		}
		var v httpx.Validator
		validatePassword(&v, "password", password, email)
		if err := v.Err(); err != nil {
			return err
		}
		hash, err := crypto.HashPassword(s.opt.PasswordParams, password)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2`, tid, uid, hash, now); err != nil {
			return fmt.Errorf("auth: set password: %w", err)
		}
		// Other outstanding links of the user die with this one.
		if _, err := tx.Exec(ctx, `UPDATE password_resets SET used_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL`, tid, uid, now); err != nil {
			return fmt.Errorf("auth: spend other resets: %w", err)
		}
		if err := s.revokeUserSessions(ctx, tx, userTables, uid, uuid.Nil, "password_reset"); err != nil {
			return err
		}
		return audit(ctx, tx, uid.String(), "member.password_reset", "user:"+uid.String(), nil)
	})
}
