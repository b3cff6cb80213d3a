package automation

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the engine to HTTP.
type Handler struct{ s *Service }

// NewHandler returns the automation HTTP handler.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// Routes registers the rules and sequences API under api (/api/v1); admins only.
func (h *Handler) Routes(api fiber.Router) {
	admin := auth.Require(auth.RoleAdmin)
	api.Get("/rules", admin, h.listRules)
	api.Post("/rules", admin, h.createRule)
	api.Get("/rules/:id", admin, h.getRule)
	api.Put("/rules/:id", admin, h.updateRule)
	api.Delete("/rules/:id", admin, h.deleteRule)
	api.Post("/rules/:id/dry-run", admin, h.dryRun)
	api.Get("/rules/:id/runs", admin, h.runs)
	api.Get("/sequences", admin, h.listSequences)
	api.Post("/sequences", admin, h.createSequence)
	api.Get("/sequences/:id", admin, h.getSequence)
	api.Put("/sequences/:id", admin, h.updateSequence)
	api.Delete("/sequences/:id", admin, h.deleteSequence)
	api.Get("/sequences/:id/enrollments", admin, h.enrollments)
}

func problem(err error, what string) error {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such " + what)
	case errors.As(err, &inv):
		return httpx.Invalid(httpx.FieldError{Field: inv.Field, Code: inv.Code, Message: inv.Message})
	}
	return err
}

func idParam(c *fiber.Ctx, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, httpx.NotFound("no such " + what)
	}
	return id, nil
}

func (h *Handler) listRules(c *fiber.Ctx) error {
	list, err := h.s.Rules(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"rules": list})
}

func (h *Handler) createRule(c *fiber.Ctx) error {
	var d RuleDef
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	r, err := h.s.CreateRule(c.UserContext(), p.TenantID, p.UserID, d)
	if err != nil {
		return problem(err, "rule")
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (h *Handler) getRule(c *fiber.Ctx) error {
	id, err := idParam(c, "rule")
	if err != nil {
		return err
	}
	r, err := h.s.GetRule(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err, "rule")
	}
	return c.JSON(r)
}

func (h *Handler) updateRule(c *fiber.Ctx) error {
	id, err := idParam(c, "rule")
	if err != nil {
		return err
	}
	var d RuleDef
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	r, err := h.s.UpdateRule(c.UserContext(), p.TenantID, p.UserID, id, d)
	if err != nil {
		return problem(err, "rule")
	}
	return c.JSON(r)
}

func (h *Handler) deleteRule(c *fiber.Ctx) error {
	id, err := idParam(c, "rule")
	if err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	if err := h.s.DeleteRule(c.UserContext(), p.TenantID, p.UserID, id); err != nil {
		return problem(err, "rule")
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) dryRun(c *fiber.Ctx) error {
	id, err := idParam(c, "rule")
	if err != nil {
		return err
	}
	var ev Event
	if err := httpx.DecodeJSON(c, &ev); err != nil {
		return err
	}
	if ev.CRM == nil && ev.Bot == nil && ev.Source != "schedule" {
		return httpx.Invalid(httpx.FieldError{Field: "crm", Code: "required", Message: "give a crm event, a bot event or source \"schedule\""})
	}
	switch {
	case ev.CRM != nil:
		ev.Source = "crm"
	case ev.Bot != nil:
		ev.Source = "bot"
	}
	out, err := h.s.DryRunRule(c.UserContext(), auth.PrincipalOf(c).TenantID, id, ev)
	if err != nil {
		return problem(err, "rule")
	}
	return c.JSON(out)
}

func (h *Handler) runs(c *fiber.Ctx) error {
	id, err := idParam(c, "rule")
	if err != nil {
		return err
	}
	list, err := h.s.Runs(c.UserContext(), auth.PrincipalOf(c).TenantID, id, c.QueryInt("limit", 50))
	if err != nil {
		return problem(err, "rule")
	}
	return c.JSON(fiber.Map{"runs": list})
}

func (h *Handler) enrollments(c *fiber.Ctx) error {
	id, err := idParam(c, "sequence")
	if err != nil {
		return err
	}
	list, err := h.s.Enrollments(c.UserContext(), auth.PrincipalOf(c).TenantID, id, c.Query("status"), c.QueryInt("limit", 50))
	if err != nil {
		return problem(err, "sequence")
	}
	return c.JSON(fiber.Map{"enrollments": list})
}

func (h *Handler) listSequences(c *fiber.Ctx) error {
	list, err := h.s.Sequences(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"sequences": list})
}

func (h *Handler) createSequence(c *fiber.Ctx) error {
	var d SequenceDef
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	q, err := h.s.CreateSequence(c.UserContext(), p.TenantID, p.UserID, d)
	if err != nil {
		return problem(err, "sequence")
	}
	return c.Status(fiber.StatusCreated).JSON(q)
}

func (h *Handler) getSequence(c *fiber.Ctx) error {
	id, err := idParam(c, "sequence")
	if err != nil {
		return err
	}
	q, err := h.s.GetSequence(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err, "sequence")
	}
	return c.JSON(q)
}

func (h *Handler) updateSequence(c *fiber.Ctx) error {
	id, err := idParam(c, "sequence")
	if err != nil {
		return err
	}
	var d SequenceDef
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	q, err := h.s.UpdateSequence(c.UserContext(), p.TenantID, p.UserID, id, d)
	if err != nil {
		return problem(err, "sequence")
	}
	return c.JSON(q)
}

func (h *Handler) deleteSequence(c *fiber.Ctx) error {
	id, err := idParam(c, "sequence")
	if err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	if err := h.s.DeleteSequence(c.UserContext(), p.TenantID, p.UserID, id); err != nil {
		return problem(err, "sequence")
	}
	return c.SendStatus(fiber.StatusNoContent)
}
