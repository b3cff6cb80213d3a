package amocrm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// OAuth is amoCRM's authorization-code flow
// (https://www.amocrm.ru/developers/content/oauth/step-by-step): the admin
// is sent to the consent page, amoCRM redirects back with code, state and
// referer (the account's domain), and the code is exchanged at
// https://<referer>/oauth2/access_token for a 24-hour access token and a
// refresh token (valid three months, single use).
type OAuth struct{ o Options }

var _ crm.OAuthProvider = OAuth{}

// NewOAuth builds the provider.
func NewOAuth(o Options) OAuth {
	if o.AuthorizeURL == "" {
		o.AuthorizeURL = "https://www.amocrm.ru/oauth"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	return OAuth{o: o}
}

// AuthorizeURL is the consent page for app with state.
func (a OAuth) AuthorizeURL(app crm.OAuthApp, state string) string {
	q := url.Values{"client_id": {app.ClientID}, "state": {state}}
	return a.o.AuthorizeURL + "?" + q.Encode()
}

// Credentials of an OAuth connector name the account only.
func (a OAuth) Credentials(account string) []byte {
	b, _ := json.Marshal(Credentials{Account: account})
	return b
}

// Exchange trades an authorization code for tokens.
func (a OAuth) Exchange(ctx context.Context, app crm.OAuthApp, account, code string) (crm.OAuthToken, error) {
	return a.token(ctx, account, map[string]string{"client_id": app.ClientID, "client_secret": app.ClientSecret,
		"grant_type": "authorization_code", "code": code, "redirect_uri": app.RedirectURI})
}

// Refresh trades a refresh token for a new pair.
func (a OAuth) Refresh(ctx context.Context, app crm.OAuthApp, account, refreshToken string) (crm.OAuthToken, error) {
	return a.token(ctx, account, map[string]string{"client_id": app.ClientID, "client_secret": app.ClientSecret,
		"grant_type": "refresh_token", "refresh_token": refreshToken, "redirect_uri": app.RedirectURI})
}

func (a OAuth) token(ctx context.Context, account string, body map[string]string) (crm.OAuthToken, error) {
	account = strings.ToLower(account)
	if !ValidAccount(account) {
		return crm.OAuthToken{}, fmt.Errorf("%w: account %q is not an amoCRM domain", crm.ErrInvalid, account)
	}
	base := "https://" + account
	if a.o.BaseURL != "" {
		base = strings.TrimRight(a.o.BaseURL, "/")
	}
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth2/access_token", bytes.NewReader(raw))
	if err != nil {
		return crm.OAuthToken{}, fmt.Errorf("amocrm: token: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := a.o.HTTPClient.Do(req)
	if err != nil {
		return crm.OAuthToken{}, fmt.Errorf("%w: token: %v", crm.ErrUnavailable, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var out struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Hint         string `json:"hint"`
		Detail       string `json:"detail"`
	}
	_ = json.Unmarshal(data, &out)
	switch {
	case res.StatusCode == http.StatusTooManyRequests:
		return crm.OAuthToken{}, &crm.RateLimitedError{RetryAfter: retryAfter(res.Header.Get("Retry-After"))}
	case res.StatusCode >= 500:
		return crm.OAuthToken{}, fmt.Errorf("%w: token: status %d", crm.ErrUnavailable, res.StatusCode)
	case res.StatusCode != http.StatusOK:
		// 400/401: the code or refresh token is invalid, expired or revoked.
		return crm.OAuthToken{}, fmt.Errorf("%w: token: %d %s %s", crm.ErrUnauthorized, res.StatusCode, out.Detail, out.Hint)
	case out.AccessToken == "" || out.RefreshToken == "":
		return crm.OAuthToken{}, fmt.Errorf("%w: token: answer without tokens", crm.ErrUnavailable)
	}
	return crm.OAuthToken{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken,
		ExpiresAt: time.Now().Add(time.Duration(out.ExpiresIn) * time.Second).UTC()}, nil
}
