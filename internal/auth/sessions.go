package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Session is one login, as listed to its owner.
type Session struct {
	ID         uuid.UUID `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"`
}

// Client describes where a request came from, for the session list.
type Client struct {
	IP        string
	UserAgent string
}

func (c Client) trimmed() Client {
	if len(c.UserAgent) > 300 {
		c.UserAgent = c.UserAgent[:300]
	}
	if len(c.IP) > 64 {
		c.IP = c.IP[:64]
	}
	return c
}

// startSession creates a session and its first refresh token in tx, and
// returns the token pair for p (p.SessionID is filled in).
func (s *Service) startSession(ctx context.Context, tx pgx.Tx, t tables, p *Principal, cl Client) (TokenPair, error) {
	now := s.now()
	cl = cl.trimmed()
	p.SessionID = ids.New()
	_, err := tx.Exec(ctx, `INSERT INTO `+t.sessions+` (id, user_id, user_agent, ip, created_at, last_used_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $5, $6)`, p.SessionID, p.UserID, cl.UserAgent, cl.IP, now, now.Add(s.opt.RefreshTTL))
	if err != nil {
		return TokenPair{}, fmt.Errorf("auth: insert session: %w", err)
	}
	return s.issue(ctx, tx, t, *p)
}

// issue stores a new refresh token for p's session and signs an access token.
func (s *Service) issue(ctx context.Context, tx pgx.Tx, t tables, p Principal) (TokenPair, error) {
	now := s.now()
	refresh := ids.Token(32)
	exp := now.Add(s.opt.RefreshTTL)
	_, err := tx.Exec(ctx, `INSERT INTO `+t.tokens+` (hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		ids.Hash(refresh), p.SessionID, now, exp)
	if err != nil {
		return TokenPair{}, fmt.Errorf("auth: insert refresh token: %w", err)
	}
	access, err := s.signAccess(p)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(s.opt.AccessTTL / time.Second),
		RefreshToken: refresh, RefreshExpiresAt: exp, SessionID: p.SessionID,
	}, nil
}

// Refresh rotates a refresh token: the presented token is spent and a new
// pair is issued. Presenting a spent token again means it was copied, so the
// whole session (every token of the family, and its access tokens) is
// revoked and ErrRefreshReused returned.
func (s *Service) Refresh(ctx context.Context, refreshToken string, cl Client) (TokenPair, error) {
	if refreshToken == "" || len(refreshToken) > 200 {
		return TokenPair{}, ErrRefreshInvalid
	}
	hash := ids.Hash(refreshToken)
	var sid uuid.UUID
	var tenantID *uuid.UUID
	err := s.db.Pool.QueryRow(ctx, `SELECT session_id, tenant_id FROM auth_session_by_refresh_hash($1)`, hash).Scan(&sid, &tenantID)
	if db.IsNotFound(err) {
		return TokenPair{}, ErrRefreshInvalid
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("auth: look up refresh token: %w", err)
	}
	tid := uuid.Nil
	if tenantID != nil {
		tid = *tenantID
	}
	var pair TokenPair
	var outcome error
	err = s.inScope(ctx, tid, func(tx pgx.Tx, t tables) error {
		now := s.now()
		var spent *time.Time
		var tokExp time.Time
		err := tx.QueryRow(ctx, `SELECT spent_at, expires_at FROM `+t.tokens+` WHERE hash = $1 FOR UPDATE`, hash).Scan(&spent, &tokExp)
		if err != nil {
			return fmt.Errorf("auth: lock refresh token: %w", err)
		}
		var userID uuid.UUID
		var revoked *time.Time
		err = tx.QueryRow(ctx, `SELECT user_id, revoked_at FROM `+t.sessions+` WHERE id = $1 FOR UPDATE`, sid).Scan(&userID, &revoked)
		if err != nil {
			return fmt.Errorf("auth: lock session: %w", err)
		}
		switch {
		case revoked != nil:
			outcome = ErrSessionRevoked
			return nil
		case spent != nil:
			outcome = ErrRefreshReused
			return s.revokeSessions(ctx, tx, t, "refresh_reused", sid)
		case !now.Before(tokExp):
			outcome = ErrRefreshExpired
			return nil
		}
		p := Principal{UserID: userID, TenantID: tid, SessionID: sid, Role: RoleOperator}
		var disabled bool
		if t == userTables {
			err = tx.QueryRow(ctx, `SELECT role, disabled FROM users WHERE id = $1`, userID).Scan(&p.Role, &disabled)
		} else {
			err = tx.QueryRow(ctx, `SELECT disabled FROM operators WHERE id = $1`, userID).Scan(&disabled)
		}
		if err != nil {
			return fmt.Errorf("auth: load principal: %w", err)
		}
		if disabled {
			outcome = ErrAccountDisabled
			return s.revokeSessions(ctx, tx, t, "disabled", sid)
		}
		if t == userTables {
			if err := tenantSuspended(ctx, tx); err != nil {
				if !errors.Is(err, ErrTenantSuspended) {
					return err
				}
				outcome = err
				return nil
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE `+t.tokens+` SET spent_at = $2 WHERE hash = $1`, hash, now); err != nil {
			return fmt.Errorf("auth: spend refresh token: %w", err)
		}
		cl = cl.trimmed()
		if _, err := tx.Exec(ctx, `UPDATE `+t.sessions+` SET last_used_at = $2, expires_at = $3, ip = $4, user_agent = $5 WHERE id = $1`,
			sid, now, now.Add(s.opt.RefreshTTL), cl.IP, cl.UserAgent); err != nil {
			return fmt.Errorf("auth: touch session: %w", err)
		}
		pair, err = s.issue(ctx, tx, t, p)
		return err
	})
	if err != nil {
		return TokenPair{}, err
	}
	if outcome != nil {
		if errors.Is(outcome, ErrRefreshReused) {
			s.log.Warn("refresh token reused: session revoked", "session_id", sid, "tenant_id", tid)
		}
		return TokenPair{}, outcome
	}
	return pair, nil
}

// revokeSessions marks sessions revoked (Redis first, then the database) and
// spends every refresh token of their families.
func (s *Service) revokeSessions(ctx context.Context, tx pgx.Tx, t tables, reason string, sids ...uuid.UUID) error {
	if len(sids) == 0 {
		return nil
	}
	if err := s.markRevoked(ctx, sids...); err != nil {
		return err
	}
	now := s.now()
	_, err := tx.Exec(ctx, `UPDATE `+t.sessions+` SET revoked_at = $2, revoke_reason = $3
		WHERE id = ANY($1) AND revoked_at IS NULL`, sids, now, reason)
	if err != nil {
		return fmt.Errorf("auth: revoke sessions: %w", err)
	}
	_, err = tx.Exec(ctx, `UPDATE `+t.tokens+` SET spent_at = $2 WHERE session_id = ANY($1) AND spent_at IS NULL`, sids, now)
	if err != nil {
		return fmt.Errorf("auth: spend family: %w", err)
	}
	return nil
}

// revokeUserSessions revokes every live session of one user, except keep
// (uuid.Nil keeps none).
func (s *Service) revokeUserSessions(ctx context.Context, tx pgx.Tx, t tables, userID, keep uuid.UUID, reason string) error {
	rows, err := tx.Query(ctx, `SELECT id FROM `+t.sessions+` WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2`, userID, keep)
	if err != nil {
		return fmt.Errorf("auth: list sessions to revoke: %w", err)
	}
	sids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("auth: list sessions to revoke: %w", err)
	}
	return s.revokeSessions(ctx, tx, t, reason, sids...)
}

// Logout revokes the caller's current session.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	return s.RevokeSession(ctx, p, p.SessionID)
}

// RevokeSession revokes one of the caller's own sessions; any other id
// (another user's, another tenant's) is ErrNotFound.
func (s *Service) RevokeSession(ctx context.Context, p *Principal, sid uuid.UUID) error {
	return s.inScope(ctx, p.TenantID, func(tx pgx.Tx, t tables) error {
		var found uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM `+t.sessions+` WHERE user_id = $1 AND id = $2 FOR UPDATE`, p.UserID, sid).Scan(&found)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("auth: find session: %w", err)
		}
		reason := "revoked"
		if sid == p.SessionID {
			reason = "logout"
		}
		return s.revokeSessions(ctx, tx, t, reason, sid)
	})
}

// Sessions lists the caller's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, p *Principal) ([]Session, error) {
	var out []Session
	err := s.inScope(ctx, p.TenantID, func(tx pgx.Tx, t tables) error {
		rows, err := tx.Query(ctx, `SELECT id, created_at, last_used_at, expires_at, user_agent, ip FROM `+t.sessions+`
			WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC`, p.UserID, s.now())
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
			var x Session
			err := r.Scan(&x.ID, &x.CreatedAt, &x.LastUsedAt, &x.ExpiresAt, &x.UserAgent, &x.IP)
			x.Current = x.ID == p.SessionID
			return x, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list sessions: %w", err)
	}
	return out, nil
}
