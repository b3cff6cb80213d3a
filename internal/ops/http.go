package ops

import (
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the Service to HTTP under /ops (operators only: the lead
// mounts it behind authentication and auth.RequireOperator).
type Handler struct{ svc *Service }

// NewHandler returns the HTTP adapter.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// Routes registers the operator routes on the /ops group.
func (h *Handler) Routes(ops fiber.Router) {
	ops.Get("/queues", h.queues)
	ops.Get("/queues/:queue/tasks", h.tasks)
	ops.Post("/queues/:queue/tasks/:id/run", h.runTask)
	ops.Delete("/queues/:queue/tasks/:id", h.deleteTask)
	ops.Post("/queues/:queue/pause", h.pause(true))
	ops.Post("/queues/:queue/resume", h.pause(false))
	ops.Get("/bots", h.bots)
	ops.Get("/usage", h.usage)
}

func problem(err error) error {
	if errors.Is(err, ErrNotFound) {
		return httpx.NotFound("No such queue, state or task.")
	}

	return err
}

func (h *Handler) queues(c *fiber.Ctx) error {
	qs, err := h.svc.Queues(c.UserContext())
	if err != nil {
		return err
	}
	dead, err := h.svc.DeadUpdates(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"queues": qs, "dead_updates": dead})
}

func (h *Handler) tasks(c *fiber.Ctx) error {
	state := c.Query("state", "archived")
	if state != "retry" && state != "archived" {
		return httpx.Invalid(httpx.FieldError{Field: "state", Code: "invalid", Message: "must be retry or archived"})
	}
	ts, err := h.svc.Tasks(c.UserContext(), c.Params("queue"), state)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"tasks": ts})
}

// taskID is the :id parameter decoded: fiber leaves path parameters
// escaped, and task ids hold colons ("periodic:telegram:sweep:…") that
// clients send as %3A.
func taskID(c *fiber.Ctx) string {
	id := c.Params("id")
	if d, err := url.PathUnescape(id); err == nil {
		return d
	}
	return id
}

func (h *Handler) runTask(c *fiber.Ctx) error {
	if err := h.svc.RunTask(c.UserContext(), c.Params("queue"), taskID(c)); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) deleteTask(c *fiber.Ctx) error {
	if err := h.svc.DeleteTask(c.UserContext(), c.Params("queue"), taskID(c)); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) pause(paused bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := h.svc.SetPaused(c.UserContext(), c.Params("queue"), paused); err != nil {
			return problem(err)
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
}

func (h *Handler) bots(c *fiber.Ctx) error {
	bs, err := h.svc.Bots(c.UserContext(), c.Query("unhealthy") == "true")
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"bots": bs})
}

func (h *Handler) usage(c *fiber.Ctx) error {
	days := c.QueryInt("days", 1)
	if days < 1 || days > 90 {
		return httpx.Invalid(httpx.FieldError{Field: "days", Code: "out_of_range", Message: "must be from 1 to 90"})
	}
	us, err := h.svc.Usage(c.UserContext(), h.svc.clock.Now().Add(-time.Duration(days)*24*time.Hour))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"days": days, "tenants": us})
}
