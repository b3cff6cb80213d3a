package crm

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Factory builds a connector of one kind from its credentials (the JSON the
// admin gave when connecting, opened from its sealed column) and the
// platform's dependencies. It returns ErrInvalid (wrapped, with a message
// naming the field) for credentials it cannot use; the service calls it
// when a connector is created, so bad credentials are refused up front.
//
// The app registers one factory per kind:
//
//	svc.Register(crm.AmoCRM, amocrm.Factory(amocrm.Options{BaseURL: cfg.AmoCRMBaseURL}))
//	svc.Register(crm.Bitrix24, bitrix24.Factory(bitrix24.Options{}))
type Factory func(creds []byte, deps Deps) (Connector, error)

// Deps are what the service gives every connector it builds.
type Deps struct {
	// HTTPClient is shared by every connector (timeouts set).
	HTTPClient *http.Client
	// Limiter spaces calls to the kind's account rate; call
	// Limiter.Wait(ctx, LimitKey) before every request to the CRM.
	Limiter  Limiter
	LimitKey string
	// Tokens is set for connectors authorized by OAuth2: Token gives the
	// current access token (refreshed before expiry), Refresh forces a
	// refresh after the CRM answered 401. Nil for long-lived credentials.
	Tokens TokenSource
	Logger *slog.Logger
}

// TokenSource hands out a connector's OAuth2 access token. Refreshes are
// single-flight across processes (a Redis lock) and a failed refresh shows
// as the connector's health.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	// Refresh replaces stale (the token the CRM refused) unless another
	// caller already did, and returns the new token; ErrUnauthorized when
	// the CRM refuses the refresh token (revoked).
	Refresh(ctx context.Context, stale string) (string, error)
}

// OAuthApp is a CRM integration's OAuth2 client.
type OAuthApp struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RedirectURI  string `json:"redirect_uri"`
}

// OAuthToken is an access/refresh token pair.
type OAuthToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// OAuthProvider is a kind's OAuth2 authorization-code flow. account is
// where the CRM account lives (amoCRM's referer, e.g. example.amocrm.ru);
// the provider refuses accounts that are not the vendor's (no requests to
// arbitrary hosts).
type OAuthProvider interface {
	AuthorizeURL(app OAuthApp, state string) string
	Exchange(ctx context.Context, app OAuthApp, account, code string) (OAuthToken, error)
	Refresh(ctx context.Context, app OAuthApp, account, refreshToken string) (OAuthToken, error)
	// Credentials are the factory credentials of an OAuth connector of
	// account (the account and nothing secret: the token comes from Deps.Tokens).
	Credentials(account string) []byte
}

// Resolver is implemented by connectors whose webhooks carry ids only
// (Bitrix24 sends ONCRMDEALUPDATE without the stage). The event task calls
// Resolve with the stage it last saw for the deal ("" when none), so a
// field change that moved the deal can become DealStageEntered, and then
// remembers the resolved stage. An error wrapping ErrNotFound (the deal is
// gone) drops the event visibly; a retryable error retries the task.
type Resolver interface {
	Resolve(ctx context.Context, e Event, lastStage string) (Event, error)
}
