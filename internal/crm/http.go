package crm

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the service to HTTP.
type Handler struct{ s *Service }

// NewHandler returns the HTTP adapter.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// PublicRoutes registers the unauthenticated routes on the app, before the
// API's authentication is installed: CRM webhooks (the URL's secret is the
// authentication) and each OAuth kind's redirect (the state is).
func (h *Handler) PublicRoutes(app fiber.Router) {
	app.Post("/hooks/crm/:publicID/:secret", h.webhook)
	for _, kind := range h.s.oauthKinds() {
		app.Get("/api/v1/connectors/"+string(kind)+"/oauth/callback", h.oauthCallback(kind))
	}
}

// Routes registers the connector API under api (/api/v1, authenticated).
func (h *Handler) Routes(api fiber.Router) {
	admin := auth.Require(auth.RoleAdmin)
	api.Get("/connectors", admin, h.list)
	api.Post("/connectors", admin, h.create)
	for _, kind := range h.s.oauthKinds() {
		api.Post("/connectors/"+string(kind)+"/oauth/start", admin, h.oauthStart(kind))
	}
	api.Get("/connectors/:id", admin, h.get)
	api.Patch("/connectors/:id", admin, h.update)
	api.Delete("/connectors/:id", admin, h.delete)
	api.Get("/connectors/:id/pipelines", admin, h.pipelines)
	api.Get("/connectors/:id/users", admin, h.users)
	api.Get("/connectors/:id/fields", admin, h.fields)
	api.Get("/connectors/:id/calls", admin, h.calls)
	api.Post("/connectors/:id/link-codes", admin, h.linkCode)
	api.Post("/connectors/:id/webhook-secret", admin, h.rotateSecret)
	api.Put("/contacts/:id/crm-link", admin, h.setLink)
}

func (s *Service) oauthKinds() []Kind {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Kind
	for _, k := range []Kind{AmoCRM, Bitrix24, HTTPJSON} {
		if _, ok := s.oauth[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// problem maps service errors to problems once, here at the edge.
func problem(err error) error {
	var inv *InvalidError
	var rl *RateLimitedError
	switch {
	case errors.As(err, &inv):
		return httpx.Invalid(httpx.FieldError{Field: inv.Field, Code: inv.Code, Message: inv.Message})
	case errors.Is(err, ErrConnectorNotFound):
		return httpx.NotFound("No such connector.")
	case errors.Is(err, ErrContactNotFound):
		return httpx.NotFound("No such contact.")
	case errors.Is(err, ErrUnknownKind):
		return httpx.NotFound("No such connector kind.")
	case errors.Is(err, ErrOAuthState):
		return httpx.BadRequest("oauth_state", "This authorization is unknown or expired; start connecting again.")
	case errors.Is(err, ErrUnauthorized):
		return httpx.NewProblem(http.StatusBadGateway, "crm_unauthorized",
			"The CRM refused our credentials; reconnect the CRM (its health shows the error).")
	case errors.As(err, &rl):
		p := httpx.Unavailable("crm_rate_limited", "The CRM asks us to slow down; retry shortly.")
		p.RetryAfter = max(1, int(rl.RetryAfter.Seconds()))
		return p
	case errors.Is(err, ErrUnavailable):
		p := httpx.Unavailable("crm_unavailable", "The CRM does not answer; retry shortly.")
		p.RetryAfter = 5
		return p
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound):
		return httpx.NewProblem(http.StatusBadGateway, "crm_refused", "The CRM refused the request.")
	}
	return err
}

func idParam(c *fiber.Ctx, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, httpx.NotFound("No such " + what + ".")
	}
	return id, nil
}

func (h *Handler) list(c *fiber.Ctx) error {
	list, err := h.s.List(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"items": list})
}

func (h *Handler) create(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	var req CreateRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	info, err := h.s.Create(c.UserContext(), p.TenantID, p.UserID, req)
	if err != nil {
		return problem(err)
	}
	httpx.LogAttrs(c, slog.String("connector_id", info.ID.String()))
	return c.Status(http.StatusCreated).JSON(info)
}

func (h *Handler) get(c *fiber.Ctx) error {
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	info, err := h.s.Get(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(info)
}

func (h *Handler) update(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	var req UpdateRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	info, err := h.s.Update(c.UserContext(), p.TenantID, p.UserID, id, req)
	if err != nil {
		return problem(err)
	}
	return c.JSON(info)
}

func (h *Handler) delete(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	if err := h.s.Delete(c.UserContext(), p.TenantID, p.UserID, id); err != nil {
		return problem(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

func (h *Handler) pipelines(c *fiber.Ctx) error {
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	out, err := h.s.Pipelines(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"items": out})
}

func (h *Handler) users(c *fiber.Ctx) error {
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	out, err := h.s.Users(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"items": out})
}

func (h *Handler) fields(c *fiber.Ctx) error {
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	out, err := h.s.Fields(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"items": out})
}

func (h *Handler) calls(c *fiber.Ctx) error {
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(c.Query("limit"))
	out, err := h.s.Calls(c.UserContext(), auth.PrincipalOf(c).TenantID, id, limit)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"items": out})
}

func (h *Handler) linkCode(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	var req LinkCodeRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	out, err := h.s.CreateLinkCode(c.UserContext(), p.TenantID, p.UserID, id, req)
	if err != nil {
		return problem(err)
	}
	return c.Status(http.StatusCreated).JSON(out)
}

func (h *Handler) rotateSecret(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := idParam(c, "connector")
	if err != nil {
		return err
	}
	out, err := h.s.RotateWebhookSecret(c.UserContext(), p.TenantID, p.UserID, id)
	if err != nil {
		return problem(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(http.StatusCreated).JSON(out)
}

func (h *Handler) setLink(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := idParam(c, "contact")
	if err != nil {
		return err
	}
	var req LinkRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	links, err := h.s.SetLink(c.UserContext(), p.TenantID, p.UserID, id, req)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"crm_links": links})
}

func (h *Handler) oauthStart(kind Kind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := auth.PrincipalOf(c)
		var req OAuthStart
		if err := httpx.DecodeJSON(c, &req); err != nil {
			return err
		}
		out, err := h.s.StartOAuth(c.UserContext(), p.TenantID, p.UserID, kind, req)
		if err != nil {
			return problem(err)
		}
		return c.JSON(out)
	}
}

// oauthCallback is where the CRM sends the admin's browser back; it
// answers with a redirect to the connector in the console.
func (h *Handler) oauthCallback(kind Kind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if e := c.Query("error"); e != "" {
			return httpx.BadRequest("oauth_denied", "The CRM did not grant access.")
		}
		info, tenantID, err := h.s.CompleteOAuth(c.UserContext(), kind, c.Query("code"), c.Query("state"), c.Query("referer"))
		if err != nil {
			if errors.Is(err, ErrInvalid) {
				return httpx.BadRequest("oauth_referer", "The CRM account in the redirect is not one this connector accepts.")
			}
			return problem(err)
		}
		httpx.LogAttrs(c, slog.String("tenant_id", tenantID.String()), slog.String("connector_id", info.ID.String()))
		return c.Redirect(h.s.opts.PublicURL+"/connectors/"+url.PathEscape(info.ID.String()), http.StatusSeeOther)
	}
}

func (h *Handler) webhook(c *fiber.Ctx) error {
	body := c.Body()
	req := WebhookRequest{ContentType: c.Get(fiber.HeaderContentType), Query: url.Values{}, Header: http.Header{},
		Body: append([]byte(nil), body...)}
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) { req.Query.Add(string(k), string(v)) })
	c.Request().Header.VisitAll(func(k, v []byte) { req.Header.Add(string(k), string(v)) })
	res, err := h.s.HandleWebhook(c.UserContext(), c.Params("publicID"), c.Params("secret"), req)
	if res.TenantID != uuid.Nil {
		httpx.LogAttrs(c, slog.String("tenant_id", res.TenantID.String()), slog.String("connector_id", res.ConnectorID.String()))
	}
	switch {
	case err == nil:
		return c.JSON(fiber.Map{"accepted": res.Accepted, "duplicates": res.Duplicates})
	case errors.Is(err, ErrConnectorNotFound):
		return httpx.NewProblem(http.StatusNotFound, "unknown_connector", "No connector is registered at this address.")
	case errors.Is(err, ErrForged):
		return httpx.Unauthorized("forged", "The webhook is not authentic.")
	case errors.Is(err, ErrBodyTooLarge):
		return httpx.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", "The webhook is larger than this endpoint accepts.")
	case errors.Is(err, ErrMalformed):
		return httpx.BadRequest("malformed_webhook", "The webhook could not be read.")
	case errors.Is(err, ErrQueueUnavailable):
		return httpx.Unavailable("queue_unavailable", "The event could not be queued; retry.")
	case errors.Is(err, ErrUnknownKind):
		// The connector's kind is not enabled in this process: a
		// deployment problem; the CRM retries.
		return httpx.Unavailable("connector_unavailable", "This connector cannot take webhooks right now; retry.")
	}
	return err
}
