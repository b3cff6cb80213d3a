package support

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the desk to HTTP.
type Handler struct{ s *Service }

// NewHandler returns the desk's HTTP handler.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// Routes registers the desk's API under api (/api/v1), each route with its guard.
func (h *Handler) Routes(api fiber.Router) {
	api.Post("/support/staff-groups/bind-code", auth.Require(auth.RoleAdmin), h.bindCode)
	api.Get("/support/staff-groups", auth.Require(auth.RoleAdmin), h.staffGroups)
	api.Get("/support/tickets", auth.Require(auth.RoleAgent), h.list)
	api.Get("/support/tickets/:id", auth.Require(auth.RoleAgent), h.get)
	api.Get("/support/tickets/:id/export", auth.Require(auth.RoleAgent), h.export)
	api.Post("/support/tickets/:id/reply", auth.Require(auth.RoleAgent), h.reply)
	api.Post("/support/tickets/:id/status", auth.Require(auth.RoleAgent), h.status)
	api.Post("/support/tickets/:id/assignee", auth.Require(auth.RoleAgent), h.assignee)
	api.Get("/support/metrics", auth.Require(auth.RoleAgent), h.metrics)
	api.Get("/support/messages/:id/file", auth.Require(auth.RoleAgent), h.file)
	h.cannedRoutes(api)
	h.routingRoutes(api)
}

func problem(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such ticket")
	case errors.Is(err, ErrUnknownMember):
		return httpx.NotFound("no such member")
	case errors.Is(err, ErrUnreachable):
		return httpx.Conflict("contact_unreachable", "the person has no chat with the bot")
	case errors.Is(err, ErrTicketClosed):
		return httpx.Conflict("ticket_resolved", "the ticket is resolved; it reopens when the person writes again")
	case errors.Is(err, ErrNoFile):
		return httpx.NotFound("the message has no file")
	case errors.Is(err, ErrFileTooLarge):
		return httpx.NewProblem(fiber.StatusRequestEntityTooLarge, "file_too_large", "the file is larger than 20 MB, the most a bot may download")
	case errors.Is(err, ErrTelegram):
		return httpx.NewProblem(fiber.StatusBadGateway, "telegram_unavailable", "Telegram did not give the file; try again later")
	case errors.Is(err, ErrBadStatus):
		return httpx.Invalid(httpx.FieldError{Field: "status", Code: "invalid", Message: "one of new, in_work, resolved"})
	}
	return err
}

func ticketID(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, httpx.NotFound("no such ticket")
	}
	return id, nil
}

type bindCodeRequest struct {
	RequestTypes []string `json:"request_types"`
}

// bindCode issues a bind code; the optional body limits the group to
// request types of the tenant's routing menu.
func (h *Handler) bindCode(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	var req bindCodeRequest
	if len(c.Body()) > 0 {
		if err := httpx.DecodeJSON(c, &req); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	for _, rt := range h.s.settings(c.UserContext(), p.TenantID).Support.RequestTypes {
		known[rt.Key] = true
	}
	var v httpx.Validator
	for _, k := range req.RequestTypes {
		v.Check(known[k], "request_types", "unknown_request_type", "not a request type of the tenant: "+k)
	}
	if err := v.Err(); err != nil {
		return err
	}
	code, err := h.s.CreateBindCodeFor(c.UserContext(), p.TenantID, p.UserID, req.RequestTypes)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(code)
}

func (h *Handler) staffGroups(c *fiber.Ctx) error {
	gs, err := h.s.StaffGroups(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"staff_groups": gs})
}

func (h *Handler) list(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	f := TicketFilter{Status: c.Query("status"), Limit: c.QueryInt("limit", 50), Offset: c.QueryInt("offset", 0)}
	var v httpx.Validator
	v.Check(f.Status == "" || f.Status == "new" || f.Status == "in_work" || f.Status == "resolved", "status", "invalid", "one of new, in_work, resolved")
	v.Check(f.Limit >= 1 && f.Limit <= 100, "limit", "out_of_range", "1 to 100")
	v.Check(f.Offset >= 0, "offset", "out_of_range", "0 or more")
	f.Tag = c.Query("tag")
	v.Check(len(f.Tag) <= 64, "tag", "too_long", "at most 64 characters")
	if q := c.Query("from"); q != "" {
		t, ok := parseTime(q)
		v.Check(ok, "from", "invalid", "RFC 3339 time or YYYY-MM-DD")
		f.From = t
	}
	if q := c.Query("to"); q != "" {
		t, ok := parseTime(q)
		v.Check(ok, "to", "invalid", "RFC 3339 time or YYYY-MM-DD")
		f.To = t
	}
	switch a := c.Query("assignee"); a {
	case "":
	case "me":
		f.AssigneeUserID = &p.UserID
	case "none":
		f.Unassigned = true
	default:
		id, err := uuid.Parse(a)
		v.Check(err == nil, "assignee", "invalid", "me, none or a user id")
		f.AssigneeUserID = &id
	}
	if err := v.Err(); err != nil {
		return err
	}
	ts, err := h.s.Tickets(c.UserContext(), p.TenantID, f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tickets": ts, "limit": f.Limit, "offset": f.Offset})
}

func (h *Handler) get(c *fiber.Ctx) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	t, msgs, err := h.s.TicketWithMessages(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"ticket": t, "messages": msgs})
}

type replyRequest struct {
	Text string `json:"text"`
}

func (h *Handler) reply(c *fiber.Ctx) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	var req replyRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	req.Text = strings.TrimSpace(req.Text)
	var v httpx.Validator
	v.Check(req.Text != "", "text", "required", "the reply is empty")
	v.Check(utf8.RuneCountInString(req.Text) <= 4096, "text", "too_long", "at most 4096 characters")
	if err := v.Err(); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	m, err := h.s.Reply(c.UserContext(), p.TenantID, p.UserID, id, req.Text)
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

type statusRequest struct {
	Status string `json:"status"`
}

func (h *Handler) status(c *fiber.Ctx) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	var req statusRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.s.SetStatus(c.UserContext(), auth.PrincipalOf(c).TenantID, id, req.Status); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type assigneeRequest struct {
	// UserID is a member of the tenant; null clears the assignee.
	UserID *string `json:"user_id"`
}

func (h *Handler) assignee(c *fiber.Ctx) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	var req assigneeRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	var user *uuid.UUID
	if req.UserID != nil {
		u, err := uuid.Parse(*req.UserID)
		if err != nil {
			return httpx.Invalid(httpx.FieldError{Field: "user_id", Code: "invalid", Message: "a user id or null"})
		}
		user = &u
	}
	p := auth.PrincipalOf(c)
	t, err := h.s.Assign(c.UserContext(), p.TenantID, p.UserID, id, user)
	if err != nil {
		return problem(err)
	}
	return c.JSON(t)
}

// parseTime takes RFC 3339 or a date (YYYY-MM-DD, midnight UTC).
func parseTime(v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// metrics answers agent metrics over tickets opened in [from, to); the
// default period is the last 30 days.
func (h *Handler) metrics(c *fiber.Ctx) error {
	to := h.s.clock.Now()
	from := to.Add(-30 * 24 * time.Hour)
	var v httpx.Validator
	if q := c.Query("from"); q != "" {
		t, ok := parseTime(q)
		v.Check(ok, "from", "invalid", "RFC 3339 time or YYYY-MM-DD")
		from = t
	}
	if q := c.Query("to"); q != "" {
		t, ok := parseTime(q)
		v.Check(ok, "to", "invalid", "RFC 3339 time or YYYY-MM-DD")
		to = t
	}
	if err := v.Err(); err != nil {
		return err
	}
	v.Check(from.Before(to), "to", "out_of_range", "after from")
	v.Check(to.Sub(from) <= 366*24*time.Hour, "from", "out_of_range", "a period of at most 366 days")
	if err := v.Err(); err != nil {
		return err
	}
	m, err := h.s.Metrics(c.UserContext(), auth.PrincipalOf(c).TenantID, from, to)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

// file streams a message's media to an agent of the tenant; a message of
// another tenant is not found.
func (h *Handler) file(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return httpx.NotFound("no such message")
	}
	f, err := h.s.OpenFile(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if errors.Is(err, ErrNotFound) {
		return httpx.NotFound("no such message")
	}
	if err != nil {
		return problem(err)
	}
	c.Set(fiber.HeaderContentType, f.ContentType)
	c.Set(fiber.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	size := -1
	if f.Size > 0 {
		size = int(f.Size)
	}
	// fasthttp closes the body (an io.Closer) once it is sent.
	return c.SendStream(f.Body, size)
}

// export answers a ticket with its whole history as JSON (default) or as
// plain text (?format=text), as a download.
func (h *Handler) export(c *fiber.Ctx) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	format := c.Query("format", "json")
	if format != "json" && format != "text" {
		return httpx.Invalid(httpx.FieldError{Field: "format", Code: "invalid", Message: "json or text"})
	}
	t, msgs, err := h.s.TicketWithMessages(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
	if err != nil {
		return problem(err)
	}
	name := fmt.Sprintf("ticket-%d.%s", t.No, map[string]string{"json": "json", "text": "txt"}[format])
	c.Set(fiber.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	if format == "json" {
		return c.JSON(fiber.Map{"ticket": t, "messages": msgs})
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	return c.SendString(ExportText(t, msgs))
}
