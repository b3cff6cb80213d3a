package survey

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the engine to HTTP (admins): surveys, their runs, stats,
// NPS trends, exports and recurring schedules.
type Handler struct{ s *Service }

// NewHandler returns the survey HTTP handler.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// Routes registers the survey API under api (/api/v1), each route with its guard.
func (h *Handler) Routes(api fiber.Router) {
	admin := auth.Require(auth.RoleAdmin)
	api.Get("/surveys", admin, h.list)
	api.Post("/surveys", admin, h.create)
	api.Get("/surveys/:id", admin, h.get)
	api.Patch("/surveys/:id", admin, h.update)
	api.Delete("/surveys/:id", admin, h.delete)
	api.Get("/surveys/:id/stats", admin, h.stats)
	api.Get("/surveys/:id/runs", admin, h.runs)
	api.Get("/surveys/:id/nps", admin, h.nps)
	api.Get("/surveys/:id/export", admin, h.export)
	api.Get("/surveys/:id/schedule", admin, h.getSchedule)
	api.Put("/surveys/:id/schedule", admin, h.setSchedule)
	api.Delete("/surveys/:id/schedule", admin, h.deleteSchedule)
	api.Get("/survey-runs/:id", admin, h.getRun)
	api.Post("/survey-runs/:id/close", admin, h.closeRun)
}

func problem(err error) error {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such survey, run or schedule")
	case errors.Is(err, ErrAnswered):
		return httpx.Conflict("survey_answered", "The survey has answers: its questions cannot change. Create a new survey instead.")
	case errors.Is(err, ErrSystem):
		return httpx.Conflict("system_survey", "A feature's system survey cannot be deleted or have its questions changed.")
	case errors.Is(err, ErrArchived):
		return httpx.Conflict("survey_archived", "The survey is archived.")
	case errors.As(err, &inv):
		return httpx.Invalid(httpx.FieldError{Field: inv.Field, Code: inv.Code, Message: inv.Message})
	}
	return err
}

// idParam is the :id path parameter; a malformed id names nothing (404).
func idParam(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, httpx.NotFound("no such survey, run or schedule")
	}
	return id, nil
}

func tenantOf(c *fiber.Ctx) uuid.UUID { return auth.PrincipalOf(c).TenantID }

// runQuery is the optional run_id query parameter.
func runQuery(c *fiber.Ctx) (*uuid.UUID, error) {
	r := c.Query("run_id")
	if r == "" {
		return nil, nil
	}
	rid, err := uuid.Parse(r)
	if err != nil {
		return nil, httpx.Invalid(httpx.FieldError{Field: "run_id", Code: "invalid", Message: "a run id"})
	}
	return &rid, nil
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
	id, err := idParam(c)
	if err != nil {
		return err
	}
	sv, err := h.s.Get(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(sv)
}

func (h *Handler) stats(c *fiber.Ctx) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	run, err := runQuery(c)
	if err != nil {
		return err
	}
	st, err := h.s.Stats(c.UserContext(), tenantOf(c), id, run)
	if err != nil {
		return problem(err)
	}
	return c.JSON(st)
}
