package dispatch

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the desk to HTTP.
type Handler struct{ s *Service }

// NewHandler returns the dispatch HTTP handler.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// Routes registers the dispatch API under api (/api/v1); admins only.
func (h *Handler) Routes(api fiber.Router) {
	admin := auth.Require(auth.RoleAdmin)
	api.Post("/dispatch/bind-code", admin, h.bindCode)
	api.Get("/dispatch/executors", admin, h.executors)
	api.Patch("/dispatch/executors/:id", admin, h.updateExecutor)
	api.Get("/dispatch/user-links", admin, h.userLinks)
	api.Put("/dispatch/user-links", admin, h.setUserLink)
	api.Get("/dispatch/jobs", admin, h.jobs)
	api.Get("/dispatch/reveals", admin, h.reveals)
}

func problem(err error) error {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such executor")
	case errors.As(err, &inv):
		return httpx.Invalid(httpx.FieldError{Field: inv.Field, Code: inv.Code, Message: inv.Message})
	}
	return err
}

func (h *Handler) bindCode(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	code, err := h.s.CreateBindCode(c.UserContext(), p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(code)
}

func (h *Handler) executors(c *fiber.Ctx) error {
	list, err := h.s.Executors(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"executors": list})
}

func (h *Handler) updateExecutor(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return httpx.NotFound("no such executor")
	}
	var patch ExecutorPatch
	if err := httpx.DecodeJSON(c, &patch); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	e, err := h.s.UpdateExecutor(c.UserContext(), p.TenantID, p.UserID, id, patch)
	if err != nil {
		return problem(err)
	}
	return c.JSON(e)
}

func (h *Handler) userLinks(c *fiber.Ctx) error {
	list, err := h.s.UserLinks(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"links": list})
}

func (h *Handler) setUserLink(c *fiber.Ctx) error {
	var l UserLink
	if err := httpx.DecodeJSON(c, &l); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	if err := h.s.SetUserLink(c.UserContext(), p.TenantID, p.UserID, l); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) jobs(c *fiber.Ctx) error {
	status := c.Query("status")
	if status != "" && status != "open" && status != "taken" && status != "removed" {
		return httpx.Invalid(httpx.FieldError{Field: "status", Code: "invalid_value", Message: "must be open, taken or removed"})
	}
	list, err := h.s.Jobs(c.UserContext(), auth.PrincipalOf(c).TenantID, status, c.QueryInt("limit", 100))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"jobs": list})
}

func (h *Handler) reveals(c *fiber.Ctx) error {
	list, err := h.s.Reveals(c.UserContext(), auth.PrincipalOf(c).TenantID, c.QueryInt("limit", 200))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"reveals": list})
}
