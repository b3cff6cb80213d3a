package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Tenant is the account a business signs up for.
type Tenant struct {
	ID              uuid.UUID `json:"id"`
	Name            string    `json:"name"`
	DefaultLanguage string    `json:"default_language"`
	CreatedAt       time.Time `json:"created_at"`
}

// User is a tenant member (or, from /me, an operator: role "operator" and
// no tenant_id).
type User struct {
	ID        uuid.UUID  `json:"id"`
	TenantID  *uuid.UUID `json:"tenant_id"`
	Email     string     `json:"email"`
	Name      string     `json:"name"`
	Language  string     `json:"language"`
	Role      Role       `json:"role"`
	Disabled  bool       `json:"disabled"`
	CreatedAt time.Time  `json:"created_at"`
}

const userColumns = `id, tenant_id, email, name, language, role, disabled, created_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	var tid uuid.UUID
	err := row.Scan(&u.ID, &tid, &u.Email, &u.Name, &u.Language, &u.Role, &u.Disabled, &u.CreatedAt)
	u.TenantID = &tid
	return u, err
}

// SignupInput is a new business's sign-up form.
type SignupInput struct {
	Company  string
	Email    string
	Password string
	Name     string
	Language string
}

// Signup is what a successful sign-up returns.
type Signup struct {
	Tenant Tenant `json:"tenant"`
	User   User   `json:"user"`
	TokenPair
}

// validatePassword adds the password rule's field error, if any.
func validatePassword(v *httpx.Validator, field, pw, email string) {
	switch checkPassword(pw, email) {
	case "weak_password":
		v.Add(field, "weak_password", passwordRule)
	case "too_long":
		v.Add(field, "too_long", "Use at most 256 characters.")
	}
}

func validateName(v *httpx.Validator, name string) {
	v.Check(utf8.RuneCountInString(name) <= 200, "name", "too_long", "Use at most 200 characters.")
}

func validLanguage(l string) bool { return l == "" || l == "ru" || l == "en" }

// Signup creates a tenant, its owner and the owner's first session, and
// records the sign-up in the tenant's audit log.
func (s *Service) Signup(ctx context.Context, in SignupInput, cl Client) (Signup, error) {
	var out Signup
	in.Company, in.Name = strings.TrimSpace(in.Company), strings.TrimSpace(in.Name)
	email, emailOK := normalizeEmail(in.Email)
	var v httpx.Validator
	v.Check(in.Company != "" && utf8.RuneCountInString(in.Company) <= 200, "company", "invalid", "Give the company name (1 to 200 characters).")
	v.Check(emailOK, "email", "invalid_email", "Give a valid e-mail address, like name@example.com.")
	validatePassword(&v, "password", in.Password, email)
	validateName(&v, in.Name)
	v.Check(validLanguage(in.Language), "language", "unsupported", "Use ru or en.")
	if err := v.Err(); err != nil {
		return out, err
	}
	if taken, err := s.emailTaken(ctx, email); err != nil {
		return out, err
	} else if taken {
		return out, ErrEmailTaken
	}
	hash, err := crypto.HashPassword(s.opt.PasswordParams, in.Password)
	if err != nil {
		return out, err
	}
	lang := in.Language
	if lang == "" {
		lang = "ru"
	}
	tid, now := ids.New(), s.now()
	err = s.db.InTenant(ctx, tid, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO tenants (id, name, default_language, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4) RETURNING id, name, default_language, created_at`, tid, in.Company, lang, now).
			Scan(&out.Tenant.ID, &out.Tenant.Name, &out.Tenant.DefaultLanguage, &out.Tenant.CreatedAt)
		if err != nil {
			return fmt.Errorf("auth: insert tenant: %w", err)
		}
		if out.User, err = insertUser(ctx, tx, email, in.Name, in.Language, RoleOwner, hash, now); err != nil {
			return err
		}
		if err := audit(ctx, tx, out.User.ID.String(), "tenant.signup", "tenant:"+tid.String(),
			map[string]any{"company": in.Company, "email": email}); err != nil {
			return err
		}
		p := &Principal{UserID: out.User.ID, TenantID: tid, Role: RoleOwner}
		out.TokenPair, err = s.startSession(ctx, tx, userTables, p, cl)
		return err
	})
	if err != nil {
		return Signup{}, err
	}
	s.log.Info("tenant signed up", "tenant_id", tid, "user_id", out.User.ID)
	return out, nil
}

func insertUser(ctx context.Context, tx pgx.Tx, email, name, lang string, role Role, hash string, now time.Time) (User, error) {
	u, err := scanUser(tx.QueryRow(ctx, `INSERT INTO users (id, email, name, language, role, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING `+userColumns, ids.New(), email, name, lang, string(role), hash, now))
	if db.IsUniqueViolation(err, "users_email_key") {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: insert user: %w", err)
	}
	return u, nil
}

// EnsureOwner makes sure the tenant has an owner with this e-mail: it creates
// one when the address is new and leaves an existing user of the tenant
// alone (its id is returned). An address used by another tenant or by an
// operator is ErrEmailTaken. The password must pass the usual rule.
func (s *Service) EnsureOwner(ctx context.Context, tenantID uuid.UUID, email, name, password string) (uuid.UUID, error) {
	email, ok := normalizeEmail(email)
	if !ok {
		return uuid.Nil, fmt.Errorf("auth: ensure owner: invalid e-mail %q", email)
	}
	var id uuid.UUID
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id FROM users WHERE tenant_id = $1 AND email = $2`, tenantID, email).Scan(&id)
		if err == nil || !db.IsNotFound(err) {
			return err
		}
		if code := checkPassword(password, email); code != "" {
			return fmt.Errorf("auth: ensure owner %s: %s: %s", email, code, passwordRule)
		}
		hash, err := crypto.HashPassword(s.opt.PasswordParams, password)
		if err != nil {
			return err
		}
		u, err := insertUser(ctx, tx, email, strings.TrimSpace(name), "", RoleOwner, hash, s.now())
		if err != nil {
			return err
		}
		id = u.ID
		return audit(ctx, tx, "system", "member.create", "user:"+u.ID.String(), map[string]any{"email": email, "role": RoleOwner, "by": "template"})
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("auth: ensure owner: %w", err)
	}
	return id, nil
}

// CreateOperator adds a platform operator (the CLI's `operator create`).
func (s *Service) CreateOperator(ctx context.Context, email, name, password string) error {
	email, ok := normalizeEmail(email)
	if !ok {
		return fmt.Errorf("auth: create operator: invalid e-mail %q", email)
	}
	if code := checkPassword(password, email); code != "" {
		return fmt.Errorf("auth: create operator: %s: %s", code, passwordRule)
	}
	if taken, err := s.emailTaken(ctx, email); err != nil {
		return err
	} else if taken {
		return ErrEmailTaken
	}
	hash, err := crypto.HashPassword(s.opt.PasswordParams, password)
	if err != nil {
		return err
	}
	_, err = s.db.Pool.Exec(ctx, `INSERT INTO operators (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		ids.New(), email, strings.TrimSpace(name), hash, s.now())
	if db.IsUniqueViolation(err, "operators_email_key") {
		return ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("auth: create operator: %w", err)
	}
	return nil
}

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context, p *Principal) (User, error) {
	var u User
	err := s.inScope(ctx, p.TenantID, func(tx pgx.Tx, t tables) error {
		var err error
		if t == userTables {
			u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND id = $2`, p.TenantID, p.UserID))
			return err
		}
		u.Role = RoleOperator
		return tx.QueryRow(ctx, `SELECT id, email, name, disabled, created_at FROM operators WHERE id = $1`, p.UserID).
			Scan(&u.ID, &u.Email, &u.Name, &u.Disabled, &u.CreatedAt)
	})
	if db.IsNotFound(err) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: me: %w", err)
	}
	return u, nil
}

// ChangePassword checks the current password, sets the new one and revokes
// every other session of the caller.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string) error {
	return s.inScope(ctx, p.TenantID, func(tx pgx.Tx, t tables) error {
		var hash, email string
		err := tx.QueryRow(ctx, `SELECT password_hash, email FROM `+t.principals+` WHERE id = $1 FOR UPDATE`, p.UserID).Scan(&hash, &email)
		if err != nil {
			return fmt.Errorf("auth: load account: %w", err)
		}
		if crypto.CheckPassword(hash, current) != nil {
			return ErrWrongPassword
		}
		var v httpx.Validator
		validatePassword(&v, "new_password", next, email)
		if err := v.Err(); err != nil {
			return err
		}
		newHash, err := crypto.HashPassword(s.opt.PasswordParams, next)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+t.principals+` SET password_hash = $2 WHERE id = $1`, p.UserID, newHash); err != nil {
			return fmt.Errorf("auth: set password: %w", err)
		}
		if err := s.revokeUserSessions(ctx, tx, t, p.UserID, p.SessionID, "password_changed"); err != nil {
			return err
		}
		if t == userTables {
			return audit(ctx, tx, p.UserID.String(), "member.password_change", "user:"+p.UserID.String(), nil)
		}
		return nil
	})
}
