package audience

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the service to HTTP.
type Handler struct{ s *Service }

// NewHandler returns the audience HTTP handler.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// Routes registers the segment API under api (/api/v1), each route with its guard.
func (h *Handler) Routes(api fiber.Router) {
	admin := auth.Require(auth.RoleAdmin)
	api.Get("/audience/topics", admin, h.topics)
	api.Get("/segments", admin, h.list)
	api.Post("/segments", admin, h.create)
	api.Post("/segments/preview", admin, h.preview)
	api.Get("/segments/:id", admin, h.get)
	api.Put("/segments/:id", admin, h.update)
	api.Delete("/segments/:id", admin, h.delete)
	api.Get("/segments/:id/count", admin, h.count)
}

func problem(err error) error {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such segment")
	case errors.Is(err, ErrNameTaken):
		return httpx.Conflict("segment_name_taken", "a segment with this name exists")
	case errors.Is(err, ErrInUse):
		return httpx.Conflict("segment_in_use", "a campaign uses this segment")
	case errors.Is(err, ErrUnknownBot):
		return httpx.Invalid(httpx.FieldError{Field: "bot_id", Code: "unknown_bot", Message: "not a bot of this tenant"})
	case errors.Is(err, ErrUnknownTopic):
		return httpx.Invalid(httpx.FieldError{Field: "topic", Code: "unknown_topic", Message: "not one of this tenant's subscription topics"})
	case errors.As(err, &inv):
		fields := make([]httpx.FieldError, len(inv.Fields))
		for i, f := range inv.Fields {
			fields[i] = httpx.FieldError{Field: f.Field, Code: f.Code, Message: f.Message}
		}
		return httpx.Invalid(fields...)
	}
	return err
}

func segmentID(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, httpx.NotFound("no such segment")
	}
	return id, nil
}

func botIDOf(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, httpx.Invalid(httpx.FieldError{Field: "bot_id", Code: "required", Message: "the bot whose subscribers to count"})
	}
	return id, nil
}

func (h *Handler) topics(c *fiber.Ctx) error {
	t, err := h.s.Topics(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"topics": t})
}

func (h *Handler) list(c *fiber.Ctx) error {
	l, err := h.s.ListSegments(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"segments": l})
}

func (h *Handler) create(c *fiber.Ctx) error {
	var d SegmentDef
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	seg, err := h.s.CreateSegment(c.UserContext(), p.TenantID, p.UserID, d)
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(seg)
}

func (h *Handler) get(c *fiber.Ctx) error {
	id, err := segmentID(c)
	if err != nil {
		return err
	}
	seg, err := h.s.GetSegment(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(seg)
}

func (h *Handler) update(c *fiber.Ctx) error {
	id, err := segmentID(c)
	if err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	// A missing id answers 404 before the body is judged.
	if _, err := h.s.GetSegment(c.UserContext(), p.TenantID, id); err != nil {
		return problem(err)
	}
	var d SegmentDef
	if err := httpx.DecodeJSON(c, &d); err != nil {
		return err
	}
	seg, err := h.s.UpdateSegment(c.UserContext(), p.TenantID, p.UserID, id, d)
	if err != nil {
		return problem(err)
	}
	return c.JSON(seg)
}

func (h *Handler) delete(c *fiber.Ctx) error {
	id, err := segmentID(c)
	if err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	if err := h.s.DeleteSegment(c.UserContext(), p.TenantID, p.UserID, id); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) count(c *fiber.Ctx) error {
	id, err := segmentID(c)
	if err != nil {
		return err
	}
	tenantID := auth.PrincipalOf(c).TenantID
	if _, err := h.s.GetSegment(c.UserContext(), tenantID, id); err != nil {
		return problem(err)
	}
	botID, err := botIDOf(c.Query("bot_id"))
	if err != nil {
		return err
	}
	sz, err := h.s.SegmentSizes(c.UserContext(), tenantID, botID, id, c.Query("topic"))
	if err != nil {
		return problem(err)
	}
	return c.JSON(sz)
}

type previewReq struct {
	BotID  int64  `json:"bot_id"`
	Topic  string `json:"topic"`
	Filter Filter `json:"filter"`
}

func (h *Handler) preview(c *fiber.Ctx) error {
	var r previewReq
	if err := httpx.DecodeJSON(c, &r); err != nil {
		return err
	}
	if r.BotID <= 0 {
		return httpx.Invalid(httpx.FieldError{Field: "bot_id", Code: "required", Message: "the bot whose subscribers to count"})
	}
	sz, err := h.s.Preview(c.UserContext(), auth.PrincipalOf(c).TenantID, r.BotID, r.Filter, r.Topic)
	if err != nil {
		return problem(err)
	}
	return c.JSON(sz)
}
