package auth

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the Service to HTTP.
type Handler struct{ svc *Service }

// NewHandler returns the HTTP adapter of svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// Routes registers the account routes under r (the lead mounts r at
// /api/v1). It registers the public routes first, then installs
// Authenticate on r with r.Use, then the protected routes. Fiber runs
// handlers in registration order, so the public routes answer before the
// middleware is reached, and every route registered on r after this call
// (by any package) requires a valid access token.
func (h *Handler) Routes(r fiber.Router) {
	// Public (listed in the intro of docs/permissions.md).
	r.Post("/signup", h.signup)
	r.Post("/auth/login", h.login)
	r.Post("/auth/refresh", h.refresh)
	r.Post("/auth/password-reset", h.resetRequest)
	r.Post("/auth/password-reset/confirm", h.resetConfirm)
	r.Post("/invites/accept", h.acceptInvite)

	r.Use(h.Authenticate())

	// Any authenticated caller, operators included: their own account.
	r.Post("/auth/logout", authenticated, h.logout)
	r.Get("/auth/sessions", authenticated, h.sessions)
	r.Delete("/auth/sessions/:id", authenticated, h.revokeSession)
	r.Get("/me", authenticated, h.me)
	r.Post("/me/password", authenticated, h.changePassword)
	r.Get("/me/totp", authenticated, h.totpStatus)
	r.Post("/me/totp", authenticated, h.totpStart)
	r.Post("/me/totp/confirm", authenticated, h.totpConfirm)
	r.Post("/me/totp/disable", authenticated, h.totpDisable)

	// The team.
	r.Get("/members", Require(RoleAgent), h.members)
	r.Patch("/members/:id", Require(RoleAdmin), h.updateMember)
	r.Delete("/members/:id", Require(RoleAdmin), h.deleteMember)
	r.Post("/invites", Require(RoleAdmin), h.createInvite)
	r.Get("/invites", Require(RoleAdmin), h.invites)
	r.Delete("/invites/:id", Require(RoleAdmin), h.revokeInvite)
}

// authenticated admits any verified caller: a tenant member or an operator.
func authenticated(c *fiber.Ctx) error {
	if PrincipalOf(c) == nil {
		return httpx.Unauthorized("unauthenticated", "Log in first.")
	}
	return c.Next()
}

// Authenticate verifies `Authorization: Bearer <access token>` and sets the
// principal. Missing → 401 unauthenticated; malformed, forged, wrong
// algorithm, issuer or audience → 401 invalid_token; expired → 401
// token_expired (the console refreshes on it); revoked session → 401
// session_revoked. It is idempotent, so applying it twice is harmless.
func (h *Handler) Authenticate() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if PrincipalOf(c) != nil {
			return c.Next()
		}
		header := c.Get(fiber.HeaderAuthorization)
		if header == "" {
			return httpx.Unauthorized("unauthenticated", "Log in first: send Authorization: Bearer <access token>.")
		}
		scheme, token, ok := strings.Cut(header, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return httpx.Unauthorized("invalid_token", "The Authorization header must be: Bearer <access token>.")
		}
		p, err := h.svc.Verify(c.UserContext(), strings.TrimSpace(token))
		if err != nil {
			return problem(err)
		}
		SetPrincipal(c, p)
		attrs := []slog.Attr{slog.String("user_id", p.UserID.String())}
		if p.TenantID != uuid.Nil {
			attrs = append(attrs, slog.String("tenant_id", p.TenantID.String()))
		}
		httpx.LogAttrs(c, attrs...)
		return c.Next()
	}
}

// problem maps the domain's errors to problem details, once, here.
func problem(err error) error {
	if _, ok := httpx.AsProblem(err); ok {
		return err
	}
	if wait, ok := IsThrottled(err); ok {
		return httpx.TooManyRequests("too_many_attempts", "Too many attempts; wait a little and try again.", int(math.Ceil(wait.Seconds())))
	}
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return httpx.Unauthorized("invalid_credentials", "Wrong e-mail or password.")
	case errors.Is(err, ErrAccountDisabled):
		return httpx.NewProblem(http.StatusForbidden, "account_disabled", "This account is disabled; ask your team's owner.")
	case errors.Is(err, ErrTenantSuspended):
		return httpx.NewProblem(http.StatusForbidden, "tenant_suspended", "This company's account is suspended; contact the platform's support.")
	case errors.Is(err, ErrTOTPRequired):
		return httpx.Unauthorized("totp_required", "Enter the 6-digit code from your authenticator app.")
	case errors.Is(err, ErrTOTPInvalid):
		return httpx.Unauthorized("invalid_totp", "The code is wrong or was already used; enter the current code from your authenticator app.")
	case errors.Is(err, ErrTOTPAlreadyOn):
		return httpx.Conflict("totp_already_on", "Two-factor sign-in is already on; turn it off first to set up a new app.")
	case errors.Is(err, ErrTOTPNotEnrolled):
		return httpx.Conflict("totp_not_enrolled", "Two-factor sign-in is not set up; start the set-up first.")
	case errors.Is(err, ErrTOTPNotConfigured):
		return httpx.NewProblem(http.StatusServiceUnavailable, "totp_unavailable", "Two-factor sign-in is not available on this server.")
	case errors.Is(err, ErrInvalidToken):
		return httpx.Unauthorized("invalid_token", "The access token is not valid.")
	case errors.Is(err, ErrTokenExpired):
		return httpx.Unauthorized("token_expired", "The access token has expired; refresh it.")
	case errors.Is(err, ErrSessionRevoked):
		return httpx.Unauthorized("session_revoked", "This session was signed out; log in again.")
	case errors.Is(err, ErrRefreshInvalid):
		return httpx.Unauthorized("invalid_refresh_token", "The refresh token is not valid; log in again.")
	case errors.Is(err, ErrRefreshExpired):
		return httpx.Unauthorized("refresh_expired", "The refresh token has expired; log in again.")
	case errors.Is(err, ErrRefreshReused):
		return httpx.Unauthorized("refresh_reused", "This refresh token was already used, so the session was signed out for safety; log in again.")
	case errors.Is(err, ErrEmailTaken):
		return httpx.Conflict("email_taken", "An account with this e-mail address already exists.")
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("No such object.")
	case errors.Is(err, ErrForbidden):
		return httpx.Forbidden("Your role cannot manage members or invites of that role.")
	case errors.Is(err, ErrLastOwner):
		return httpx.Conflict("last_owner", "The team must keep at least one active owner; make someone else owner first.")
	case errors.Is(err, ErrInviteExpired):
		return httpx.NewProblem(http.StatusGone, "invite_expired", "This invite has expired; ask for a new one.")
	case errors.Is(err, ErrInviteUsed):
		return httpx.NewProblem(http.StatusGone, "invite_used", "This invite was already used or withdrawn.")
	case errors.Is(err, ErrResetExpired):
		return httpx.NewProblem(http.StatusGone, "reset_expired", "This reset link has expired; ask for a new one.")
	case errors.Is(err, ErrResetUsed):
		return httpx.NewProblem(http.StatusGone, "reset_used", "This reset link was already used.")
	case errors.Is(err, ErrWrongPassword):
		return httpx.Invalid(httpx.FieldError{Field: "current_password", Code: "incorrect", Message: "The current password is wrong."})
	case errors.Is(err, ErrUnavailable):
		return httpx.Unavailable("unavailable", "A service we depend on is unavailable; please retry.")
	}
	return err
}

func clientOf(c *fiber.Ctx) Client {
	return Client{IP: c.IP(), UserAgent: c.Get(fiber.HeaderUserAgent)}
}

// pathID parses :id; an id that is not a UUID names nothing (404).
func pathID(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, httpx.NotFound("No such object.")
	}
	return id, nil
}

func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
