package tenant

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the service to HTTP.
type Handler struct{ svc *Service }

// NewHandler returns the HTTP adapter.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// Routes registers the tenant routes under api (mounted at /api/v1 behind
// authentication). The tenant always comes from the principal.
func (h *Handler) Routes(api fiber.Router) {
	api.Get("/tenant", auth.Require(auth.RoleAgent), h.getTenant)
	api.Patch("/tenant", auth.Require(auth.RoleAdmin), h.patchTenant)
	api.Get("/texts", auth.Require(auth.RoleAgent), h.listTexts)
	api.Put("/texts/:key", auth.Require(auth.RoleAdmin), h.putText)
	api.Delete("/texts/:key", auth.Require(auth.RoleAdmin), h.deleteText)
}

// OpsRoutes registers the operator routes under ops (mounted at /ops behind
// authentication).
func (h *Handler) OpsRoutes(ops fiber.Router) {
	ops.Get("/tenants", auth.RequireOperator(), h.listTenants)
	ops.Patch("/tenants/:id", auth.RequireOperator(), h.patchTenantStatus)
}

func principal(c *fiber.Ctx) *auth.Principal {
	p := auth.PrincipalOf(c)
	if p.TenantID != uuid.Nil {
		httpx.LogAttrs(c, slog.String("tenant_id", p.TenantID.String()), slog.String("user_id", p.UserID.String()))
	}
	return p
}

func (h *Handler) getTenant(c *fiber.Ctx) error {
	p := principal(c)
	st, err := h.svc.Settings(c.UserContext(), p.TenantID)
	if err != nil {
		return problem(err)
	}
	return c.JSON(st)
}

func (h *Handler) patchTenant(c *fiber.Ctx) error {
	p := principal(c)
	var req SettingsPatch
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	st, err := h.svc.UpdateSettings(c.UserContext(), p.TenantID, p.UserID, req)
	if err != nil {
		return problem(err)
	}
	return c.JSON(st)
}

func (h *Handler) listTexts(c *fiber.Ctx) error {
	p := principal(c)
	list, err := h.svc.ListTexts(c.UserContext(), p.TenantID)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"languages": Languages, "texts": list})
}

type putTextRequest struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

func (h *Handler) putText(c *fiber.Ctx) error {
	p := principal(c)
	var req putTextRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	key := c.Params("key")
	if err := h.svc.SetText(c.UserContext(), p.TenantID, p.UserID, key, req.Lang, req.Value); err != nil {
		return problem(err)
	}
	return h.oneText(c, p.TenantID, key)
}

func (h *Handler) deleteText(c *fiber.Ctx) error {
	p := principal(c)
	key := c.Params("key")
	if err := h.svc.ResetText(c.UserContext(), p.TenantID, p.UserID, key, c.Query("lang")); err != nil {
		return problem(err)
	}
	return h.oneText(c, p.TenantID, key)
}

func (h *Handler) oneText(c *fiber.Ctx, tenantID uuid.UUID, key string) error {
	list, err := h.svc.ListTexts(c.UserContext(), tenantID)
	if err != nil {
		return problem(err)
	}
	for _, e := range list {
		if e.Key == key {
			return c.JSON(e)
		}
	}
	return httpx.NotFound("No such text.")
}

func (h *Handler) listTenants(c *fiber.Ctx) error {
	list, err := h.svc.ListUsage(c.UserContext())
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"tenants": list})
}

type statusRequest struct {
	Status string `json:"status"`
}

func (h *Handler) patchTenantStatus(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return httpx.NotFound("No such tenant.")
	}
	var req statusRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	u, err := h.svc.SetStatus(c.UserContext(), id, p.UserID, req.Status)
	if err != nil {
		return problem(err)
	}
	return c.JSON(u)
}

// problem maps domain errors to RFC 9457 problems, once, here.
func problem(err error) error {
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		fields := make([]httpx.FieldError, 0, len(inv.Fields))
		for _, f := range inv.Fields {
			fields = append(fields, httpx.FieldError{Field: f.Field, Code: f.Code, Message: f.Message})
		}
		if inv.Code == CodeValidation {
			return httpx.Invalid(fields...)
		}
		p := httpx.NewProblem(http.StatusUnprocessableEntity, inv.Code, inv.Detail)
		p.Errors = fields
		return p
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("No such tenant.")
	default:
		return err
	}
}
