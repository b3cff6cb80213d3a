package broadcast

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the service to HTTP.
type Handler struct{ s *Service }

// NewHandler returns the campaigns HTTP handler.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// Routes registers the campaign API under api (/api/v1), admins only.
func (h *Handler) Routes(api fiber.Router) {
	admin := auth.Require(auth.RoleAdmin)
	api.Post("/campaigns", admin, h.create)
	api.Get("/campaigns", admin, h.list)
	api.Get("/campaigns/:id", admin, h.get)
	api.Put("/campaigns/:id", admin, h.update)
	api.Delete("/campaigns/:id", admin, h.delete)
	api.Post("/campaigns/:id/schedule", admin, h.schedule)
	api.Post("/campaigns/:id/send", admin, h.action((*Service).SendNow))
	api.Post("/campaigns/:id/pause", admin, h.action((*Service).Pause))
	api.Post("/campaigns/:id/resume", admin, h.action((*Service).Resume))
	api.Post("/campaigns/:id/cancel", admin, h.action((*Service).Cancel))
	api.Post("/campaigns/:id/test", admin, h.test)
	api.Get("/campaigns/:id/stats", admin, h.stats)
	api.Get("/campaigns/:id/recipients", admin, h.recipients)
}

// PublicRoutes registers the click redirect (no authentication: it is the
// URL behind a tracked button).
func (h *Handler) PublicRoutes(app fiber.Router) {
	app.Get("/r/:token", h.click)
}

func problem(err error) error {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such campaign")
	case errors.Is(err, ErrState):
		return httpx.Conflict("campaign_state", "not allowed in the campaign's current state")
	case errors.As(err, &inv):
		fs := make([]httpx.FieldError, len(inv.Fields))
		for i, f := range inv.Fields {
			fs[i] = httpx.FieldError{Field: f.Field, Code: f.Code, Message: f.Message}
		}
		return httpx.Invalid(fs...)
	}
	return err
}

func idOf(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, httpx.NotFound("no such campaign")
	}
	return id, nil
}

func (h *Handler) create(c *fiber.Ctx) error {
	var d Def
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	out, err := h.s.Create(c.UserContext(), p.TenantID, p.UserID, d)
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (h *Handler) list(c *fiber.Ctx) error {
	limit, _ := strconv.Atoi(c.Query("limit"))
	out, err := h.s.List(c.UserContext(), auth.PrincipalOf(c).TenantID, c.Query("status"), limit)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"campaigns": out})
}

func (h *Handler) get(c *fiber.Ctx) error {
	id, err := idOf(c)
	if err != nil {
		return err
	}
	out, err := h.s.Get(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(out)
}

func (h *Handler) update(c *fiber.Ctx) error {
	id, err := idOf(c)
	if err != nil {
		return err
	}
	var d Def
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	out, err := h.s.Update(c.UserContext(), auth.PrincipalOf(c).TenantID, id, d)
	if err != nil {
		return problem(err)
	}
	return c.JSON(out)
}

func (h *Handler) delete(c *fiber.Ctx) error {
	id, err := idOf(c)
	if err != nil {
		return err
	}
	if err := h.s.Delete(c.UserContext(), auth.PrincipalOf(c).TenantID, id); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) schedule(c *fiber.Ctx) error {
	id, err := idOf(c)
	if err != nil {
		return err
	}
	var body struct {
		At string `json:"at"`
	}
	if err := httpx.DecodeJSON(c, &body); err != nil {
		return err
	}
	out, err := h.s.Schedule(c.UserContext(), auth.PrincipalOf(c).TenantID, id, body.At)
	if err != nil {
		return problem(err)
	}
	return c.JSON(out)
}

func (h *Handler) action(fn func(*Service, context.Context, uuid.UUID, uuid.UUID) (Campaign, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := idOf(c)
		if err != nil {
			return err
		}
		out, err := fn(h.s, c.UserContext(), auth.PrincipalOf(c).TenantID, id)
		if err != nil {
			return problem(err)
		}
		return c.JSON(out)
	}
}

func (h *Handler) test(c *fiber.Ctx) error {
	id, err := idOf(c)
	if err != nil {
		return err
	}
	var body struct {
		ChatIDs []int64 `json:"chat_ids"`
	}
	if err := httpx.DecodeJSON(c, &body); err != nil {
		return err
	}
	n, err := h.s.TestSend(c.UserContext(), auth.PrincipalOf(c).TenantID, id, body.ChatIDs)
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"queued": n})
}

func (h *Handler) stats(c *fiber.Ctx) error {
	id, err := idOf(c)
	if err != nil {
		return err
	}
	out, err := h.s.Stats(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(out)
}

// recipients exports the delivery rows as CSV (default) or XLSX
// (?format=xlsx), streamed to the client.
func (h *Handler) recipients(c *fiber.Ctx) error {
	id, err := idOf(c)
	if err != nil {
		return err
	}
	tenantID := auth.PrincipalOf(c).TenantID
	format := c.Query("format", "csv")
	if format != "csv" && format != "xlsx" {
		return httpx.Invalid(httpx.FieldError{Field: "format", Code: "invalid", Message: "csv or xlsx"})
	}
	// The body is written after the handler returned: the request's
	// context must not end with it (a client that goes away fails a write).
	// Bounded all the same: the export holds a transaction while the client
	// reads, and the streamed body's write deadline slides (httpx.StreamBody).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), exportTimeout)
	if _, err := h.s.Get(ctx, tenantID, id); err != nil {
		cancel()
		return problem(err)
	}
	name := "campaign-" + id.String() + "-recipients." + format
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	}
	log := h.s.log
	httpx.StreamBody(c, httpx.StreamIdle, func(w io.Writer) error {
		defer cancel()
		if format == "csv" {
			return h.s.ExportCSV(ctx, tenantID, id, w)
		}
		return h.s.ExportXLSX(ctx, tenantID, id, w)
	}, func(err error) {
		// Headers are gone: the truncated body is all the client sees.
		log.Warn("broadcast: export", "tenant_id", tenantID, "campaign_id", id, "error", err)
	})
	return nil
}

// exportTimeout bounds one streamed recipients export.
const exportTimeout = 30 * time.Minute

func (h *Handler) click(c *fiber.Ctx) error {
	u, err := h.s.Click(c.UserContext(), c.Params("token"))
	if errors.Is(err, ErrBadLink) {
		return httpx.NotFound("no such link")
	}
	if err != nil {
		return err
	}
	return c.Redirect(u, fiber.StatusFound)
}
