package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// JWT issuer and audience of access tokens.
const (
	tokenIssuer   = "tgdesk"
	tokenAudience = "api"
)

// TokenPair is what login, refresh and sign-up return.
type TokenPair struct {
	AccessToken      string    `json:"access_token"`
	TokenType        string    `json:"token_type"`
	ExpiresIn        int       `json:"expires_in"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	SessionID        uuid.UUID `json:"session_id"`
}

type accessClaims struct {
	TenantID  string `json:"tid,omitempty"`
	Role      Role   `json:"role"`
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// signAccess makes an HS256 access token for one session.
func (s *Service) signAccess(p Principal) (string, error) {
	now := s.now()
	c := accessClaims{
		Role:      p.Role,
		SessionID: p.SessionID.String(),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   p.UserID.String(),
			Audience:  jwt.ClaimStrings{tokenAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.opt.AccessTTL)),
		},
	}
	if p.TenantID != uuid.Nil {
		c.TenantID = p.TenantID.String()
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.opt.JWTSecret)
	if err != nil {
		return "", fmt.Errorf("auth: sign access token: %w", err)
	}
	return tok, nil
}

// ParseAccess verifies an access token: HS256 only, our issuer and audience,
// an expiry that has not passed. It does not consult the revocation list;
// Verify does.
func (s *Service) ParseAccess(token string) (*Principal, error) {
	var c accessClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.opt.JWTSecret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.clock.Now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, ErrTokenExpired
		}
		return nil, ErrInvalidToken
	}
	p := &Principal{Role: c.Role}
	if p.UserID, err = uuid.Parse(c.Subject); err != nil {
		return nil, ErrInvalidToken
	}
	if p.SessionID, err = uuid.Parse(c.SessionID); err != nil {
		return nil, ErrInvalidToken
	}
	switch {
	case c.Role == RoleOperator && c.TenantID == "":
	case c.Role.Valid() && c.TenantID != "":
		if p.TenantID, err = uuid.Parse(c.TenantID); err != nil || p.TenantID == uuid.Nil {
			return nil, ErrInvalidToken
		}
	default:
		return nil, ErrInvalidToken
	}
	return p, nil
}

// Verify parses an access token and checks its session has not been revoked.
// The check is one Redis EXISTS: revocation writes a marker per session that
// outlives every access token issued before it.
func (s *Service) Verify(ctx context.Context, token string) (*Principal, error) {
	p, err := s.ParseAccess(token)
	if err != nil {
		return nil, err
	}
	n, err := s.rdb.Exists(ctx, revokedKey(p.SessionID)).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: revocation check: %v", ErrUnavailable, err)
	}
	if n > 0 {
		return nil, ErrSessionRevoked
	}
	return p, nil
}

func revokedKey(sid uuid.UUID) string { return "auth:revoked:" + sid.String() }

// markRevoked writes the revocation markers before the database change, so
// a revoked session's access tokens stop working even if the process dies
// right after; a marker for a session that stays live would only cost the
// holder a re-login.
func (s *Service) markRevoked(ctx context.Context, sids ...uuid.UUID) error {
	if len(sids) == 0 {
		return nil
	}
	// Access tokens live AccessTTL; a minute more covers clock skew.
	ttl := s.opt.AccessTTL + time.Minute
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, sid := range sids {
			p.Set(ctx, revokedKey(sid), 1, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: mark sessions revoked: %v", ErrUnavailable, err)
	}
	return nil
}
