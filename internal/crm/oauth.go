package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// oauthState is what an OAuth connector keeps sealed: its app and tokens.
type oauthState struct {
	App   OAuthApp   `json:"app"`
	Token OAuthToken `json:"token"`
}

// pendingOAuth is an authorization in progress, kept in Redis under its
// state (single use, 15 minutes).
type pendingOAuth struct {
	TenantID uuid.UUID `json:"tenant_id"`
	ActorID  uuid.UUID `json:"actor_id"`
	Kind     Kind      `json:"kind"`
	Name     string    `json:"name"`
	App      OAuthApp  `json:"app"`
	Mapping  *Mapping  `json:"mapping,omitempty"`
}

const oauthStateTTL = 15 * time.Minute

func stateKey(state string) string    { return "crm:oauth:state:" + state }
func stateAAD(state string) []byte    { return []byte("crm:oauth-state:" + state) }
func refreshLock(id uuid.UUID) string { return "crm:oauth:refresh:" + id.String() }

// OAuthStart begins connecting a CRM by OAuth2 with the tenant's own
// integration (client id and secret from the CRM's integration settings).
type OAuthStart struct {
	Name         string   `json:"name"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Mapping      *Mapping `json:"mapping"`
}

// OAuthStarted is where to send the admin.
type OAuthStarted struct {
	AuthorizeURL string `json:"authorize_url"`
	State        string `json:"state"`
	RedirectURI  string `json:"redirect_uri"`
}

// RedirectURI is the callback a kind's integration must be configured with.
func (s *Service) RedirectURI(kind Kind) string {
	return s.opts.PublicURL + "/api/v1/connectors/" + string(kind) + "/oauth/callback"
}

func (s *Service) provider(kind Kind) (OAuthProvider, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.oauth[kind]
	return p, ok
}

// StartOAuth records a pending authorization and returns the consent URL.
func (s *Service) StartOAuth(ctx context.Context, tenantID, actorID uuid.UUID, kind Kind, r OAuthStart) (OAuthStarted, error) {
	p, ok := s.provider(kind)
	if !ok {
		return OAuthStarted{}, ErrUnknownKind
	}
	name := strings.TrimSpace(r.Name)
	switch {
	case name == "" || len(name) > 200:
		return OAuthStarted{}, invalid("name", "required", "a name of 1 to 200 characters")
	case strings.TrimSpace(r.ClientID) == "" || len(r.ClientID) > 200:
		return OAuthStarted{}, invalid("client_id", "required", "the integration's client id")
	case strings.TrimSpace(r.ClientSecret) == "" || len(r.ClientSecret) > 500:
		return OAuthStarted{}, invalid("client_secret", "required", "the integration's secret key")
	}
	if r.Mapping != nil {
		if err := validMapping(*r.Mapping); err != nil {
			return OAuthStarted{}, err
		}
	}
	app := OAuthApp{ClientID: strings.TrimSpace(r.ClientID), ClientSecret: strings.TrimSpace(r.ClientSecret), RedirectURI: s.RedirectURI(kind)}
	state := ids.Token(24)
	raw, _ := json.Marshal(pendingOAuth{TenantID: tenantID, ActorID: actorID, Kind: kind, Name: name, App: app, Mapping: r.Mapping})
	sealed, err := s.keys.Seal(raw, stateAAD(state))
	if err != nil {
		return OAuthStarted{}, fmt.Errorf("crm: seal oauth state: %w", err)
	}
	if err := s.rdb.Set(ctx, stateKey(state), sealed, oauthStateTTL).Err(); err != nil {
		return OAuthStarted{}, fmt.Errorf("crm: store oauth state: %w", err)
	}
	return OAuthStarted{AuthorizeURL: p.AuthorizeURL(app, state), State: state, RedirectURI: app.RedirectURI}, nil
}

// CompleteOAuth handles the CRM's redirect: the state is used up, the code
// exchanged at the account (referer) and the connector created.
func (s *Service) CompleteOAuth(ctx context.Context, kind Kind, code, state, account string) (Info, uuid.UUID, error) {
	p, ok := s.provider(kind)
	if !ok {
		return Info{}, uuid.Nil, ErrUnknownKind
	}
	if state == "" || len(state) > 100 || code == "" {
		return Info{}, uuid.Nil, ErrOAuthState
	}
	sealed, err := s.rdb.GetDel(ctx, stateKey(state)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Info{}, uuid.Nil, ErrOAuthState
	}
	if err != nil {
		return Info{}, uuid.Nil, fmt.Errorf("crm: oauth state: %w", err)
	}
	raw, err := s.keys.Open(sealed, stateAAD(state))
	if err != nil {
		return Info{}, uuid.Nil, ErrOAuthState
	}
	var pend pendingOAuth
	if err := json.Unmarshal(raw, &pend); err != nil || pend.Kind != kind {
		return Info{}, uuid.Nil, ErrOAuthState
	}
	account = strings.ToLower(strings.TrimSpace(account))
	tok, err := p.Exchange(ctx, pend.App, account, code)
	if err != nil {
		return Info{}, pend.TenantID, fmt.Errorf("crm: oauth exchange: %w", err)
	}
	m := Mapping{ContactFields: map[string]string{}}
	if pend.Mapping != nil {
		m = *pend.Mapping
	}
	info, err := s.insert(ctx, pend.TenantID, pend.ActorID, kind, pend.Name, p.Credentials(account),
		&oauthState{App: pend.App, Token: tok}, m)
	return info, pend.TenantID, err
}

// tokenSource is an OAuth connector's TokenSource: tokens live sealed in
// the connector row; a refresh takes a Redis lock so one process in the
// cluster refreshes (amoCRM refresh tokens are single use: two concurrent
// refreshes would revoke each other).
type tokenSource struct {
	s        *Service
	tenantID uuid.UUID
	id       uuid.UUID
	kind     Kind
	account  string
}

func (t *tokenSource) load(ctx context.Context) (oauthState, error) {
	var st oauthState
	err := t.s.db.InTenant(ctx, t.tenantID, func(tx pgx.Tx) error {
		var sealed []byte
		if err := tx.QueryRow(ctx, `SELECT oauth_sealed FROM connectors WHERE id = $1`, t.id).Scan(&sealed); err != nil {
			return fmt.Errorf("store: oauth: %w", err)
		}
		if sealed == nil {
			return errors.New("crm: connector has no OAuth tokens")
		}
		raw, err := t.s.keys.Open(sealed, oauthAAD(t.id))
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &st)
	})
	return st, err
}

func (t *tokenSource) fresh(st oauthState) bool {
	return t.s.clock.Now().Add(t.s.opts.RefreshBefore).Before(st.Token.ExpiresAt)
}

// Token returns the access token, refreshed first when it is about to expire.
func (t *tokenSource) Token(ctx context.Context) (string, error) {
	st, err := t.load(ctx)
	if err != nil {
		return "", err
	}
	if t.fresh(st) {
		return st.Token.AccessToken, nil
	}
	return t.Refresh(ctx, st.Token.AccessToken)
}

// Refresh replaces stale unless someone already did.
func (t *tokenSource) Refresh(ctx context.Context, stale string) (string, error) {
	v, err, _ := t.s.group.Do(t.id.String(), func() (any, error) { return t.refresh(ctx, stale) })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (t *tokenSource) refresh(ctx context.Context, stale string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	owner := ids.Token(12)
	for {
		st, err := t.load(ctx)
		if err != nil {
			return "", err
		}
		if st.Token.AccessToken != stale && t.fresh(st) {
			return st.Token.AccessToken, nil // another process refreshed
		}
		ok, err := t.s.rdb.SetNX(ctx, refreshLock(t.id), owner, 30*time.Second).Result()
		if err != nil {
			return "", fmt.Errorf("%w: refresh lock: %v", ErrUnavailable, err)
		}
		if ok {
			return t.refreshLocked(ctx, stale, owner)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w: token refresh of %s is taking too long", ErrUnavailable, t.id)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func (t *tokenSource) refreshLocked(ctx context.Context, stale, owner string) (string, error) {
	defer func() {
		_ = releaseScript.Run(context.WithoutCancel(ctx), t.s.rdb, []string{refreshLock(t.id)}, owner).Err()
	}()
	st, err := t.load(ctx)
	if err != nil {
		return "", err
	}
	if st.Token.AccessToken != stale && t.fresh(st) {
		return st.Token.AccessToken, nil
	}
	p, ok := t.s.provider(t.kind)
	if !ok {
		return "", ErrUnknownKind
	}
	tok, rerr := p.Refresh(ctx, st.App, t.account, st.Token.RefreshToken)
	now := t.s.clock.Now()
	if rerr != nil {
		status := "active"
		if errors.Is(rerr, ErrUnauthorized) {
			status = "auth_error" // revoked: only a new authorization helps
		}
		wctx := context.WithoutCancel(ctx)
		if err := t.s.db.InTenant(wctx, t.tenantID, func(tx pgx.Tx) error {
			return setStatus(wctx, tx, t.id, status, "token refresh failed: "+rerr.Error(), now)
		}); err != nil {
			t.s.log.Warn("crm: record refresh failure", "connector_id", t.id, "error", err)
		}
		t.s.log.Warn("crm: token refresh failed", "tenant_id", t.tenantID, "connector_id", t.id, "error", rerr)
		return "", fmt.Errorf("crm: token refresh failed: %w", rerr)
	}
	st.Token = tok
	raw, _ := json.Marshal(st)
	sealed, err := t.s.keys.Seal(raw, oauthAAD(t.id))
	if err != nil {
		return "", err
	}
	// Stored even if the caller gave up: the old refresh token is spent.
	wctx := context.WithoutCancel(ctx)
	err = t.s.db.InTenant(wctx, t.tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(wctx, `UPDATE connectors SET oauth_sealed = $2, token_expires_at = $3, status = 'active',
			updated_at = $4 WHERE id = $1`, t.id, sealed, tok.ExpiresAt, now)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("crm: store refreshed token: %w", err)
	}
	t.s.log.Info("crm: token refreshed", "tenant_id", t.tenantID, "connector_id", t.id, "expires_at", tok.ExpiresAt)
	return tok.AccessToken, nil
}
