package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// Two-factor sign-in with TOTP (RFC 6238: SHA-1, 6 digits, 30-second
// steps, one step of clock skew either way), as every authenticator app
// implements it. Enrolment is two steps — start (the password again) and
// confirm (a first code) — so a mistyped secret never locks anyone out. A
// code is accepted once: the step it matched is remembered and a code of
// that step or an earlier one is refused (replay).

const (
	totpPeriod = 30
	totpIssuer = "tgdesk"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var (
	ErrTOTPRequired       = errors.New("auth: two-factor code required")
	ErrTOTPInvalid        = errors.New("auth: two-factor code invalid")
	ErrTOTPAlreadyOn      = errors.New("auth: two-factor sign-in already on")
	ErrTOTPNotEnrolled    = errors.New("auth: two-factor enrolment not started")
	ErrTOTPNotConfigured  = errors.New("auth: no keyring for two-factor secrets")
	errTOTPSecretUnsealed = errors.New("auth: two-factor secret cannot be opened")
)

// TOTPEnrolment is what an authenticator app needs: the otpauth:// URL (also
// as a QR code PNG, base64) and the secret for typing in by hand.
type TOTPEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	QRPNG      string `json:"qr_png_base64"`
}

// TOTPStatus says whether two-factor sign-in is on for the caller.
type TOTPStatus struct {
	Enabled   bool       `json:"enabled"`
	Pending   bool       `json:"pending"`
	EnabledAt *time.Time `json:"enabled_at,omitempty"`
}

func totpTable(t tables) string {
	if t == userTables {
		return "user_totp"
	}
	return "operator_totp"
}

func totpAAD(userID fmt.Stringer) []byte { return []byte("totp:" + userID.String()) }

// TOTPStatus reports the caller's two-factor state.
func (s *Service) TOTPStatus(ctx context.Context, p *Principal) (TOTPStatus, error) {
	var st TOTPStatus
	err := s.inScope(ctx, p.TenantID, func(tx pgx.Tx, t tables) error {
		var at *time.Time
		err := tx.QueryRow(ctx, `SELECT confirmed_at FROM `+totpTable(t)+` WHERE user_id = $1`, p.UserID).Scan(&at)
		if db.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("auth: load totp: %w", err)
		}
		st = TOTPStatus{Enabled: at != nil, Pending: at == nil, EnabledAt: at}
		return nil
	})
	return st, err
}

// guardTOTP takes one attempt from the caller's two-factor budget (the
// login budget's size, per account): a stolen session must not buy
// unlimited password or code guesses through the set-up routes. release
// hands the attempt back after a success, so only failures count.
func (s *Service) guardTOTP(ctx context.Context, p *Principal) (release func(), err error) {
	key := limitKey("totp-user", p.UserID.String())
	wait, err := s.reserve(ctx, key)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, &ThrottledError{RetryAfter: wait}
	}
	return func() {
		if err := refundScript.Run(ctx, s.rdb, []string{key}).Err(); err != nil {
			s.log.Warn("totp throttle refund failed", "error", err)
		}
	}, nil
}

// guarded runs fn under the two-factor budget.
func (s *Service) guarded(ctx context.Context, p *Principal, fn func() error) error {
	release, err := s.guardTOTP(ctx, p)
	if err != nil {
		return err
	}
	err = fn()
	if !errors.Is(err, ErrWrongPassword) && !errors.Is(err, ErrTOTPInvalid) {
		release()
	}
	return err
}

// StartTOTP checks the password and creates (or replaces) a pending secret.
func (s *Service) StartTOTP(ctx context.Context, p *Principal, password string) (TOTPEnrolment, error) {
	if s.opt.Keyring == nil {
		return TOTPEnrolment{}, ErrTOTPNotConfigured
	}
	var out TOTPEnrolment
	err := s.guarded(ctx, p, func() error { return s.startTOTP(ctx, p, password, &out) })
	return out, err
}

func (s *Service) startTOTP(ctx context.Context, p *Principal, password string, out *TOTPEnrolment) error {
	return s.inScope(ctx, p.TenantID, func(tx pgx.Tx, t tables) error {
		var hash, email string
		err := tx.QueryRow(ctx, `SELECT password_hash, email FROM `+t.principals+` WHERE id = $1 FOR UPDATE`, p.UserID).Scan(&hash, &email)
		if err != nil {
			return fmt.Errorf("auth: load account: %w", err)
		}
		if crypto.CheckPassword(hash, password) != nil {
			return ErrWrongPassword
		}
		var confirmed *time.Time
		err = tx.QueryRow(ctx, `SELECT confirmed_at FROM `+totpTable(t)+` WHERE user_id = $1`, p.UserID).Scan(&confirmed)
		if err != nil && !db.IsNotFound(err) {
			return fmt.Errorf("auth: load totp: %w", err)
		}
		if confirmed != nil {
			return ErrTOTPAlreadyOn
		}
		key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: email, Period: totpPeriod,
			Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return fmt.Errorf("auth: generate totp: %w", err)
		}
		sealed, err := s.opt.Keyring.Seal([]byte(key.Secret()), totpAAD(p.UserID))
		if err != nil {
			return err
		}
		q := `INSERT INTO ` + totpTable(t) + ` (user_id, secret_sealed) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, last_step = 0, created_at = now()`
		if t == userTables {
			q = `INSERT INTO user_totp (user_id, tenant_id, secret_sealed) VALUES ($1, app_tenant(), $2)
			ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, last_step = 0, created_at = now()`
		}
		if _, err := tx.Exec(ctx, q, p.UserID, sealed); err != nil {
			return fmt.Errorf("auth: store totp: %w", err)
		}
		img, err := key.Image(256, 256)
		if err != nil {
			return fmt.Errorf("auth: totp qr: %w", err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return fmt.Errorf("auth: totp qr: %w", err)
		}
		*out = TOTPEnrolment{Secret: key.Secret(), OTPAuthURL: key.URL(), QRPNG: base64.StdEncoding.EncodeToString(buf.Bytes())}
		return nil
	})
}

// ConfirmTOTP turns two-factor sign-in on with a first code from the app.
func (s *Service) ConfirmTOTP(ctx context.Context, p *Principal, code string) error {
	return s.guarded(ctx, p, func() error { return s.confirmTOTP(ctx, p, code) })
}

func (s *Service) confirmTOTP(ctx context.Context, p *Principal, code string) error {
	return s.inScope(ctx, p.TenantID, func(tx pgx.Tx, t tables) error {
		confirmed, err := s.checkTOTP(ctx, tx, t, p.UserID, code, true)
		if err != nil {
			return err
		}
		if confirmed {
			return ErrTOTPAlreadyOn
		}
		if _, err := tx.Exec(ctx, `UPDATE `+totpTable(t)+` SET confirmed_at = $2 WHERE user_id = $1`, p.UserID, s.now()); err != nil {
			return fmt.Errorf("auth: confirm totp: %w", err)
		}
		if t == userTables {
			return audit(ctx, tx, p.UserID.String(), "member.totp_on", "user:"+p.UserID.String(), nil)
		}
		return nil
	})
}

// DisableTOTP turns two-factor sign-in off; it takes the password and a
// current code, so a stolen session alone cannot remove the second factor.
func (s *Service) DisableTOTP(ctx context.Context, p *Principal, password, code string) error {
	return s.guarded(ctx, p, func() error { return s.disableTOTP(ctx, p, password, code) })
}

func (s *Service) disableTOTP(ctx context.Context, p *Principal, password, code string) error {
	return s.inScope(ctx, p.TenantID, func(tx pgx.Tx, t tables) error {
		var hash string
		if err := tx.QueryRow(ctx, `SELECT password_hash FROM `+t.principals+` WHERE id = $1 FOR UPDATE`, p.UserID).Scan(&hash); err != nil {
			return fmt.Errorf("auth: load account: %w", err)
		}
		if crypto.CheckPassword(hash, password) != nil {
			return ErrWrongPassword
		}
		if _, err := s.checkTOTP(ctx, tx, t, p.UserID, code, false); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+totpTable(t)+` WHERE user_id = $1`, p.UserID); err != nil {
			return fmt.Errorf("auth: delete totp: %w", err)
		}
		if t == userTables {
			return audit(ctx, tx, p.UserID.String(), "member.totp_off", "user:"+p.UserID.String(), nil)
		}
		return nil
	})
}

// loginTOTP is the second factor of a login whose password was right: no
// confirmed secret → nothing to check.
func (s *Service) loginTOTP(ctx context.Context, tx pgx.Tx, t tables, userID fmt.Stringer, code string) error {
	_, err := s.checkTOTP(ctx, tx, t, userID, code, false)
	switch {
	case errors.Is(err, ErrTOTPNotEnrolled):
		return nil // no confirmed secret: the password was enough
	case errors.Is(err, ErrTOTPInvalid) && code == "":
		return ErrTOTPRequired
	}
	return err
}

// checkTOTP verifies code against the stored secret (pending ones only when
// pending is true) and remembers its step. It reports whether the secret was
// already confirmed.
func (s *Service) checkTOTP(ctx context.Context, tx pgx.Tx, t tables, userID fmt.Stringer, code string, pending bool) (bool, error) {
	var sealed []byte
	var confirmed *time.Time
	var lastStep int64
	err := tx.QueryRow(ctx, `SELECT secret_sealed, confirmed_at, last_step FROM `+totpTable(t)+` WHERE user_id = $1 FOR UPDATE`, userID).
		Scan(&sealed, &confirmed, &lastStep)
	if db.IsNotFound(err) || (err == nil && confirmed == nil && !pending) {
		return false, ErrTOTPNotEnrolled
	}
	if err != nil {
		return false, fmt.Errorf("auth: load totp: %w", err)
	}
	if s.opt.Keyring == nil {
		return false, ErrTOTPNotConfigured
	}
	secret, err := s.opt.Keyring.Open(sealed, totpAAD(userID))
	if err != nil {
		return false, errTOTPSecretUnsealed
	}
	step, ok := matchTOTP(string(secret), code, s.now())
	if !ok || step <= lastStep {
		return confirmed != nil, ErrTOTPInvalid
	}
	if _, err := tx.Exec(ctx, `UPDATE `+totpTable(t)+` SET last_step = $2 WHERE user_id = $1`, userID, step); err != nil {
		return false, fmt.Errorf("auth: totp step: %w", err)
	}
	return confirmed != nil, nil
}

// matchTOTP returns the 30-second step whose code equals code, looking one
// step either side of now.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for _, d := range []int64{0, -1, 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((step+d)*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + d, true
		}
	}
	return 0, false
}
