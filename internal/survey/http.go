package survey

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the engine to HTTP. The broadcasts issue extends it
// (runs to audiences, exports); for now surveys are created and read.
type Handler struct{ s *Service }

// NewHandler returns the survey HTTP handler.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// Routes registers the survey API under api (/api/v1), each route with its guard.
func (h *Handler) Routes(api fiber.Router) {
	api.Post("/surveys", auth.Require(auth.RoleAdmin), h.create)
	api.Get("/surveys/:id", auth.Require(auth.RoleAdmin), h.get)
	api.Get("/surveys/:id/stats", auth.Require(auth.RoleAdmin), h.stats)
}

func problem(err error) error {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such survey")
	case errors.As(err, &inv):
		return httpx.Invalid(httpx.FieldError{Field: inv.Field, Code: inv.Code, Message: inv.Message})
	}
	return err
}

func (h *Handler) create(c *fiber.Ctx) error {
	var d Def
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	for i := range d.Questions {
		d.Questions[i].PromptKey = "" // catalogue prompts are for system surveys
	}
	sv, err := h.s.CreateSurvey(c.UserContext(), auth.PrincipalOf(c).TenantID, d)
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(sv)
}

func (h *Handler) get(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return httpx.NotFound("no such survey")
	}
	sv, err := h.s.Get(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(sv)
}

func (h *Handler) stats(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return httpx.NotFound("no such survey")
	}
	var run *uuid.UUID
	if r := c.Query("run_id"); r != "" {
		rid, err := uuid.Parse(r)
		if err != nil {
			return httpx.Invalid(httpx.FieldError{Field: "run_id", Code: "invalid", Message: "a run id"})
		}
		run = &rid
	}
	st, err := h.s.Stats(c.UserContext(), auth.PrincipalOf(c).TenantID, id, run)
	if err != nil {
		return problem(err)
	}
	return c.JSON(st)
}
