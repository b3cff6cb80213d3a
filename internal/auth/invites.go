package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// canManage is the team rule below the route guard (docs/permissions.md):
// the owner manages everyone and grants any role; an admin manages agents
// only and invites only agents; agents manage no one.
func canManage(actor, target Role) bool {
	switch actor {
	case RoleOwner:
		return target.Valid()
	case RoleAdmin:
		return target == RoleAgent
	}
	return false
}

// Invite is a single-use link that lets someone join the tenant.
type Invite struct {
	ID         uuid.UUID  `json:"id"`
	Email      string     `json:"email"`
	Role       Role       `json:"role"`
	InvitedBy  *uuid.UUID `json:"invited_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	AcceptedAt *time.Time `json:"accepted_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Status     string     `json:"status"` // pending, accepted, revoked or expired
}

const inviteColumns = `id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at`

func (s *Service) scanInvite(row pgx.Row) (Invite, error) {
	var x Invite
	err := row.Scan(&x.ID, &x.Email, &x.Role, &x.InvitedBy, &x.CreatedAt, &x.ExpiresAt, &x.AcceptedAt, &x.RevokedAt)
	switch {
	case x.AcceptedAt != nil:
		x.Status = "accepted"
	case x.RevokedAt != nil:
		x.Status = "revoked"
	case !s.now().Before(x.ExpiresAt):
		x.Status = "expired"
	default:
		x.Status = "pending"
	}
	return x, err
}

// CreatedInvite is an invite with its link (shown once: only the hash is
// stored) and whether it was e-mailed.
type CreatedInvite struct {
	Invite  Invite `json:"invite"`
	Link    string `json:"link"`
	Emailed bool   `json:"emailed"`
}

// CreateInvite invites email to the caller's tenant with role. A pending
// invite to the same address is revoked, so only the newest link works.
func (s *Service) CreateInvite(ctx context.Context, p *Principal, email string, role Role) (CreatedInvite, error) {
	var out CreatedInvite
	email, ok := normalizeEmail(email)
	var v httpx.Validator
	v.Check(ok, "email", "invalid_email", "Give a valid e-mail address, like name@example.com.")
	v.Check(role.Valid(), "role", "invalid_role", "Use owner, admin or agent.")
	if err := v.Err(); err != nil {
		return out, err
	}
	if !canManage(p.Role, role) {
		return out, ErrForbidden
	}
	if taken, err := s.emailTaken(ctx, email); err != nil {
		return out, err
	} else if taken {
		return out, ErrEmailTaken
	}
	token := ids.Token(32)
	var company string
	err := s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		now := s.now()
		if err := tx.QueryRow(ctx, `SELECT name FROM tenants WHERE id = $1`, p.TenantID).Scan(&company); err != nil {
			return fmt.Errorf("auth: load tenant: %w", err)
		}
		_, err := tx.Exec(ctx, `UPDATE invites SET revoked_at = $3 WHERE tenant_id = $1 AND email = $2
			AND accepted_at IS NULL AND revoked_at IS NULL`, p.TenantID, email, now)
		if err != nil {
			return fmt.Errorf("auth: revoke older invites: %w", err)
		}
		out.Invite, err = s.scanInvite(tx.QueryRow(ctx, `INSERT INTO invites (id, email, role, token_hash, invited_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+inviteColumns,
			ids.New(), email, string(role), ids.Hash(token), p.UserID, now, now.Add(s.opt.InviteTTL)))
		if err != nil {
			return fmt.Errorf("auth: insert invite: %w", err)
		}
		return audit(ctx, tx, p.UserID.String(), "invite.create", "invite:"+out.Invite.ID.String(),
			map[string]any{"email": email, "role": role})
	})
	if err != nil {
		return CreatedInvite{}, err
	}
	out.Link = s.opt.PublicURL + "/invite/" + token
	if mailerEnabled(s.mailer) {
		err := s.mailer.Send(ctx, Mail{
			To:      email,
			Subject: "You are invited to " + oneLine(company) + " on tgdesk",
			Body: fmt.Sprintf("You have been invited to join %s as %s.\n\nOpen this link to set your password:\n%s\n\nThe link works once and expires on %s.\n",
				company, role, out.Link, out.Invite.ExpiresAt.Format(time.RFC1123)),
		})
		if err != nil {
			s.log.Warn("invite e-mail failed", "tenant_id", p.TenantID, "invite_id", out.Invite.ID, "error", err)
		}
		out.Emailed = err == nil
	}
	return out, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Invites lists the tenant's invites, newest first.
func (s *Service) Invites(ctx context.Context, p *Principal) ([]Invite, error) {
	var out []Invite
	err := s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+inviteColumns+` FROM invites WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 500`, p.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invite, error) { return s.scanInvite(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list invites: %w", err)
	}
	return out, nil
}

// RevokeInvite withdraws a pending invite; revoking twice is fine, an
// accepted invite is ErrInviteUsed.
func (s *Service) RevokeInvite(ctx context.Context, p *Principal, id uuid.UUID) error {
	return s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		x, err := s.scanInvite(tx.QueryRow(ctx, `SELECT `+inviteColumns+` FROM invites WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, p.TenantID, id))
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("auth: find invite: %w", err)
		}
		if !canManage(p.Role, x.Role) {
			return ErrForbidden
		}
		if x.AcceptedAt != nil {
			return ErrInviteUsed
		}
		if x.RevokedAt != nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE invites SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2`, p.TenantID, id, s.now()); err != nil {
			return fmt.Errorf("auth: revoke invite: %w", err)
		}
		return audit(ctx, tx, p.UserID.String(), "invite.revoke", "invite:"+id.String(), map[string]any{"email": x.Email})
	})
}

// Accepted is what accepting an invite returns: the new member, logged in.
type Accepted struct {
	User User `json:"user"`
	TokenPair
}

// AcceptInvite turns an invite link into a member of the inviting tenant.
// Unknown tokens are ErrNotFound; expired ones ErrInviteExpired; accepted or
// revoked ones ErrInviteUsed. One conditional UPDATE decides, so a link
// accepted twice at once creates one member.
func (s *Service) AcceptInvite(ctx context.Context, token, name, password string, cl Client) (Accepted, error) {
	var out Accepted
	name = strings.TrimSpace(name)
	var v httpx.Validator
	v.Check(token != "" && len(token) <= 200, "token", "required", "Give the token from the invite link.")
	validateName(&v, name)
	if err := v.Err(); err != nil {
		return out, err
	}
	var id, tid uuid.UUID
	var expires time.Time
	var accepted, revoked *time.Time
	err := s.db.Pool.QueryRow(ctx, `SELECT id, tenant_id, expires_at, accepted_at, revoked_at FROM auth_invite_by_hash($1)`, ids.Hash(token)).
		Scan(&id, &tid, &expires, &accepted, &revoked)
	if db.IsNotFound(err) {
		return out, ErrNotFound
	}
	if err != nil {
		return out, fmt.Errorf("auth: look up invite: %w", err)
	}
	now := s.now()
	switch {
	case accepted != nil || revoked != nil:
		return out, ErrInviteUsed
	case !now.Before(expires):
		return out, ErrInviteExpired
	}
	err = s.db.InTenant(ctx, tid, func(tx pgx.Tx) error {
		var email string
		var role Role
		err := tx.QueryRow(ctx, `UPDATE invites SET accepted_at = $3 WHERE tenant_id = $1 AND id = $2
			AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3 RETURNING email, role`, tid, id, now).Scan(&email, &role)
		if db.IsNotFound(err) {
			return ErrInviteUsed
		}
		if err != nil {
			return fmt.Errorf("auth: accept invite: %w", err)
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
		if out.User, err = insertUser(ctx, tx, email, name, "", role, hash, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invites SET accepted_by = $3 WHERE tenant_id = $1 AND id = $2`, tid, id, out.User.ID); err != nil {
			return fmt.Errorf("auth: mark invite: %w", err)
		}
		if err := audit(ctx, tx, out.User.ID.String(), "invite.accept", "user:"+out.User.ID.String(),
			map[string]any{"invite_id": id, "email": email, "role": role}); err != nil {
			return err
		}
		p := &Principal{UserID: out.User.ID, TenantID: tid, Role: role}
		out.TokenPair, err = s.startSession(ctx, tx, userTables, p, cl)
		return err
	})
	if err != nil {
		return Accepted{}, err
	}
	return out, nil
}
