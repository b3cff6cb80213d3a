package bots

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Handler adapts the registry to HTTP.
type Handler struct{ svc *Service }

// NewHandler returns the HTTP adapter.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// Routes registers the bot routes under api (the /api/v1 group, behind the
// authentication middleware).
func (h *Handler) Routes(api fiber.Router) {
	api.Get("/bots", auth.Require(auth.RoleAgent), h.list)
	api.Post("/bots", auth.Require(auth.RoleAdmin), h.register)
	api.Post("/bots/check", auth.Require(auth.RoleAdmin), h.check)
	api.Get("/bots/:id", auth.Require(auth.RoleAgent), h.get)
	api.Patch("/bots/:id", auth.Require(auth.RoleOwner), h.update)
	api.Delete("/bots/:id", auth.Require(auth.RoleAdmin), h.delete)
	api.Get("/bots/:id/webhook", auth.Require(auth.RoleAdmin), h.webhookHealth)
	api.Post("/bots/:id/webhook", auth.Require(auth.RoleAdmin), h.resetWebhook)
	api.Put("/bots/:id/token", auth.Require(auth.RoleAdmin), h.replaceToken)
}

type tokenRequest struct {
	Token string `json:"token"`
}

func (h *Handler) list(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	list, err := h.svc.List(c.UserContext(), p.TenantID)
	if err != nil {
		return problem(err)
	}
	if list == nil {
		list = []Bot{}
	}
	return c.JSON(fiber.Map{"items": list})
}

func (h *Handler) register(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	var req tokenRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	b, err := h.svc.Register(c.UserContext(), p.TenantID, p.UserID, req.Token)
	if err != nil {
		return problem(err)
	}
	httpx.LogAttrs(c, botAttr(b.ID))
	return c.Status(http.StatusCreated).JSON(b)
}

func (h *Handler) get(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := botIDParam(c)
	if err != nil {
		return err
	}
	b, err := h.svc.Get(c.UserContext(), p.TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(b)
}

type updateRequest struct {
	PaidBroadcast *bool `json:"paid_broadcast"`
}

func (h *Handler) update(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := botIDParam(c)
	if err != nil {
		return err
	}
	var req updateRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.PaidBroadcast == nil {
		return httpx.Invalid(httpx.FieldError{Field: "paid_broadcast", Code: "required", Message: "Say whether paid broadcasts are on (true or false)."})
	}
	b, err := h.svc.SetPaidBroadcast(c.UserContext(), p.TenantID, p.UserID, id, *req.PaidBroadcast)
	if err != nil {
		return problem(err)
	}
	return c.JSON(b)
}

func (h *Handler) delete(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := botIDParam(c)
	if err != nil {
		return err
	}
	if err := h.svc.Delete(c.UserContext(), p.TenantID, p.UserID, id); err != nil {
		return problem(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

func (h *Handler) webhookHealth(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := botIDParam(c)
	if err != nil {
		return err
	}
	info, err := h.svc.WebhookHealth(c.UserContext(), p.TenantID, id)
	if err != nil {
		return problem(err)
	}
	b, err := h.svc.Get(c.UserContext(), p.TenantID, id)
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{
		"url":                  info.URL,
		"url_matches":          info.URL == b.WebhookURL,
		"pending_update_count": info.PendingUpdateCount,
		"last_error_date":      info.LastErrorDate,
		"last_error_message":   info.LastErrorMessage,
		"max_connections":      info.MaxConnections,
	})
}

func (h *Handler) resetWebhook(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := botIDParam(c)
	if err != nil {
		return err
	}
	if err := h.svc.ResetWebhook(c.UserContext(), p.TenantID, p.UserID, id); err != nil {
		return problem(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

func (h *Handler) replaceToken(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	id, err := botIDParam(c)
	if err != nil {
		return err
	}
	var req tokenRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	b, err := h.svc.ReplaceToken(c.UserContext(), p.TenantID, p.UserID, id, req.Token)
	if err != nil {
		return problem(err)
	}
	return c.JSON(b)
}

// botIDParam reads :id; anything that is not a bot id cannot exist (404).
func botIDParam(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpx.NotFound("No such bot.")
	}
	return id, nil
}

// problem maps registry errors to problems once, here at the edge.
func problem(err error) error {
	switch {
	case errors.Is(err, ErrInvalidTokenFormat):
		p := httpx.NewProblem(http.StatusUnprocessableEntity, "invalid_token_format",
			"This is not a bot token: copy the whole token BotFather gave you (digits, a colon and 35 characters).")
		p.Errors = []httpx.FieldError{{Field: "token", Code: "invalid_token_format", Message: "is not a bot token"}}
		return p
	case errors.Is(err, ErrTokenRejected):
		return httpx.NewProblem(http.StatusUnprocessableEntity, "token_rejected",
			"Telegram did not accept this token; it may have been revoked in BotFather.")
	case errors.Is(err, ErrTokenBotMismatch):
		return httpx.NewProblem(http.StatusUnprocessableEntity, "token_bot_mismatch",
			"This token belongs to a different bot; a replacement token must be for the same bot.")
	case errors.Is(err, ErrBotTaken):
		return httpx.Conflict("bot_taken", "This bot is already connected to another account.")
	case errors.Is(err, ErrBotExists):
		return httpx.Conflict("bot_exists", "This bot is already connected; replace its token instead.")
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("No such bot.")
	case errors.Is(err, ErrTelegramUnavailable):
		p := httpx.Unavailable("telegram_unavailable", "Telegram could not be reached; please try again shortly.")
		p.RetryAfter = 5
		return p
	}
	return err
}

func botAttr(id int64) slog.Attr { return slog.Int64("bot_id", id) }
