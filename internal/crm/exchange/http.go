package exchange

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the service to HTTP.
type Handler struct{ s *Service }

// NewHandler returns the exchange HTTP handler.
func NewHandler(s *Service) *Handler { return &Handler{s: s} }

// KeyRoutes registers the routes the tenant's system calls with an API key
// (Authorization: Bearer hxk_...). They must be registered on api before
// the JWT authentication is installed (auth.Handler.Routes), which answers
// every later route without a session.
func (h *Handler) KeyRoutes(api fiber.Router) {
	key := h.RequireKey()
	api.Get("/exchange/events", key, h.pull)
	api.Post("/exchange/events/ack", key, h.ack)
	api.Post("/exchange/clients", key, h.pushClients)
	api.Post("/exchange/balances", key, h.pushBalances)
	api.Post("/exchange/terminals", key, h.pushTerminals)
	api.Post("/exchange/deals/events", key, h.pushEvents)
}

// Routes registers the key management routes (a session, admin role).
func (h *Handler) Routes(api fiber.Router) {
	api.Post("/exchange/keys", auth.Require(auth.RoleAdmin), h.createKey)
	api.Get("/exchange/keys", auth.Require(auth.RoleAdmin), h.keys)
	api.Delete("/exchange/keys/:id", auth.Require(auth.RoleAdmin), h.revokeKey)
}

const localCaller = "exchange_caller"

// RequireKey authenticates Authorization: Bearer <API key>; a missing,
// unknown or revoked key answers 401 invalid_api_key.
func (h *Handler) RequireKey() fiber.Handler {
	return func(c *fiber.Ctx) error {
		scheme, secret, _ := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			return httpx.Unauthorized("invalid_api_key", "Send the exchange API key as Authorization: Bearer <key>.")
		}
		caller, err := h.s.Authenticate(c.UserContext(), strings.TrimSpace(secret))
		if errors.Is(err, ErrBadKey) {
			return httpx.Unauthorized("invalid_api_key", "The API key is unknown or revoked.")
		}
		if err != nil {
			return err
		}
		c.Locals(localCaller, caller)
		return c.Next()
	}
}

func callerOf(c *fiber.Ctx) Caller {
	caller, _ := c.Locals(localCaller).(Caller)
	return caller
}

func problem(err error) error {
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		fes := make([]httpx.FieldError, 0, len(inv.Fields))
		for _, f := range inv.Fields {
			fes = append(fes, httpx.FieldError{Field: f.Field, Code: f.Code, Message: f.Message})
		}
		return httpx.Invalid(fes...)
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such key")
	case errors.Is(err, ErrBadCursor):
		return httpx.Invalid(httpx.FieldError{Field: "after", Code: "invalid", Message: "a cursor this API returned"})
	case errors.Is(err, ErrNoSink):
		return httpx.Unavailable("crm_unavailable", "CRM events are not accepted yet; send them again later.")
	case errors.Is(err, ErrSinkFailed):
		// The tenant sends the batch again; event keys make that harmless.
		return httpx.Unavailable("crm_unavailable", "The events could not be taken now; send the batch again.")
	}
	return err
}

type accepted struct {
	Accepted int `json:"accepted"`
}

func (h *Handler) pull(c *fiber.Ctx) error {
	after, err := ParseCursor(c.Query("after"))
	if err != nil {
		return problem(err)
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > MaxPullLimit {
			return httpx.Invalid(httpx.FieldError{Field: "limit", Code: "invalid", Message: "1 to 1000"})
		}
	}
	page, err := h.s.Pull(c.UserContext(), callerOf(c).TenantID, after, limit)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (h *Handler) ack(c *fiber.Ctx) error {
	var req struct {
		Cursor *string  `json:"cursor"`
		IDs    []string `json:"ids"`
	}
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if (req.Cursor == nil || *req.Cursor == "") && len(req.IDs) == 0 {
		return httpx.Invalid(httpx.FieldError{Field: "cursor", Code: "required", Message: "a cursor to acknowledge up to, or ids"})
	}
	if len(req.IDs) > MaxPullLimit {
		return httpx.Invalid(httpx.FieldError{Field: "ids", Code: "invalid", Message: "at most 1000 ids"})
	}
	ids := make([]uuid.UUID, 0, len(req.IDs))
	for i, s := range req.IDs {
		id, err := uuid.Parse(s)
		if err != nil {
			return httpx.Invalid(httpx.FieldError{Field: "ids[" + strconv.Itoa(i) + "]", Code: "invalid", Message: "an event id this API returned"})
		}
		ids = append(ids, id)
	}
	var upTo *Cursor
	if req.Cursor != nil && *req.Cursor != "" {
		cur, err := ParseCursor(*req.Cursor)
		if err != nil {
			return httpx.Invalid(httpx.FieldError{Field: "cursor", Code: "invalid", Message: "a cursor this API returned"})
		}
		upTo = &cur
	}
	n, err := h.s.Ack(c.UserContext(), callerOf(c).TenantID, upTo, ids)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"acknowledged": n})
}

func (h *Handler) pushClients(c *fiber.Ctx) error {
	var req struct {
		Clients []ClientIn `json:"clients"`
	}
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	n, err := h.s.PushClients(c.UserContext(), callerOf(c), req.Clients)
	if err != nil {
		return problem(err)
	}
	return c.JSON(accepted{n})
}

func (h *Handler) pushBalances(c *fiber.Ctx) error {
	var req struct {
		Balances []BalanceIn `json:"balances"`
	}
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	n, err := h.s.PushBalances(c.UserContext(), callerOf(c).TenantID, req.Balances)
	if err != nil {
		return problem(err)
	}
	return c.JSON(accepted{n})
}

func (h *Handler) pushTerminals(c *fiber.Ctx) error {
	var req struct {
		Terminals []TerminalIn `json:"terminals"`
	}
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	n, err := h.s.PushTerminals(c.UserContext(), callerOf(c).TenantID, req.Terminals)
	if err != nil {
		return problem(err)
	}
	return c.JSON(accepted{n})
}

func (h *Handler) pushEvents(c *fiber.Ctx) error {
	var req struct {
		Events []httpjson.EventIn `json:"events"`
	}
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	n, err := h.s.PushEvents(c.UserContext(), callerOf(c), req.Events)
	if err != nil {
		return problem(err)
	}
	return c.JSON(accepted{n})
}

func (h *Handler) createKey(c *fiber.Ctx) error {
	var req struct {
		Name        string     `json:"name"`
		ConnectorID *uuid.UUID `json:"connector_id"`
	}
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	p := auth.PrincipalOf(c)
	k, secret, err := h.s.CreateKey(c.UserContext(), p.TenantID, req.Name, req.ConnectorID, p.UserID)
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(struct {
		Key
		Secret string `json:"key"`
	}{k, secret})
}

func (h *Handler) keys(c *fiber.Ctx) error {
	keys, err := h.s.Keys(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"keys": keys})
}

func (h *Handler) revokeKey(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return httpx.NotFound("no such key")
	}
	if err := h.s.RevokeKey(c.UserContext(), auth.PrincipalOf(c).TenantID, id); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
