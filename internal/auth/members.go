package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Members lists the tenant's users.
func (s *Service) Members(ctx context.Context, p *Principal) ([]User, error) {
	var out []User
	err := s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 ORDER BY created_at, id`, p.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list members: %w", err)
	}
	return out, nil
}

// MemberChange is a PATCH of a member; nil fields stay as they are.
type MemberChange struct {
	Role     *Role
	Disabled *bool
}

// lockMember locks the tenant's owners (always first, in id order, so two
// concurrent owner changes cannot deadlock or both pass the last-owner
// check) and then the target, and checks the caller may manage it.
func lockMember(ctx context.Context, tx pgx.Tx, p *Principal, id uuid.UUID) (User, []uuid.UUID, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM users WHERE tenant_id = $1 AND role = 'owner' AND NOT disabled ORDER BY id FOR UPDATE`, p.TenantID)
	if err != nil {
		return User{}, nil, fmt.Errorf("auth: lock owners: %w", err)
	}
	owners, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return User{}, nil, fmt.Errorf("auth: lock owners: %w", err)
	}
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, p.TenantID, id))
	if db.IsNotFound(err) {
		return User{}, nil, ErrNotFound
	}
	if err != nil {
		return User{}, nil, fmt.Errorf("auth: lock member: %w", err)
	}
	if !canManage(p.Role, u.Role) {
		return User{}, nil, ErrForbidden
	}
	return u, owners, nil
}

// isLastOwner reports whether u is the tenant's only active owner.
func isLastOwner(u User, owners []uuid.UUID) bool {
	return u.Role == RoleOwner && !u.Disabled && len(owners) == 1 && owners[0] == u.ID
}

// UpdateMember changes a member's role or disabled flag. A role change or
// disabling revokes the member's sessions (a demoted member's old access
// tokens must not keep the old role). The last active owner can be neither
// demoted nor disabled (ErrLastOwner).
func (s *Service) UpdateMember(ctx context.Context, p *Principal, id uuid.UUID, ch MemberChange) (User, error) {
	if ch.Role != nil && !ch.Role.Valid() {
		return User{}, httpx.Invalid(httpx.FieldError{Field: "role", Code: "invalid_role", Message: "Use owner, admin or agent."})
	}
	var out User
	err := s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		u, owners, err := lockMember(ctx, tx, p, id)
		if err != nil {
			return err
		}
		role, disabled := u.Role, u.Disabled
		if ch.Role != nil {
			if !canManage(p.Role, *ch.Role) {
				return ErrForbidden
			}
			role = *ch.Role
		}
		if ch.Disabled != nil {
			disabled = *ch.Disabled
		}
		if isLastOwner(u, owners) && (role != RoleOwner || disabled) {
			return ErrLastOwner
		}
		out, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET role = $3, disabled = $4, updated_at = $5
			WHERE tenant_id = $1 AND id = $2 RETURNING `+userColumns, p.TenantID, id, string(role), disabled, s.now()))
		if err != nil {
			return fmt.Errorf("auth: update member: %w", err)
		}
		if role != u.Role || (disabled && !u.Disabled) {
			if err := s.revokeUserSessions(ctx, tx, userTables, id, uuid.Nil, "member_changed"); err != nil {
				return err
			}
		}
		return audit(ctx, tx, p.UserID.String(), "member.update", "user:"+id.String(), map[string]any{
			"email": u.Email, "role_from": u.Role, "role_to": role, "disabled_from": u.Disabled, "disabled_to": disabled,
		})
	})
	if err != nil {
		return User{}, err
	}
	return out, nil
}

// DeleteMember removes a member and revokes their sessions; the last active
// owner cannot be removed (ErrLastOwner).
func (s *Service) DeleteMember(ctx context.Context, p *Principal, id uuid.UUID) error {
	return s.db.InTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		u, owners, err := lockMember(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if isLastOwner(u, owners) {
			return ErrLastOwner
		}
		if err := s.revokeUserSessions(ctx, tx, userTables, id, uuid.Nil, "member_removed"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE tenant_id = $1 AND id = $2`, p.TenantID, id); err != nil {
			return fmt.Errorf("auth: delete member: %w", err)
		}
		return audit(ctx, tx, p.UserID.String(), "member.delete", "user:"+id.String(), map[string]any{"email": u.Email, "role": u.Role})
	})
}
