package bots

import (
	"context"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Preview is what Telegram says about a token's bot, before it is saved.
type Preview struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// Check asks getMe about a token without storing anything, so the console
// can show the bot's name and @username before the admin connects it. It
// refuses what Register would refuse before saving (format, a bot connected
// here or to another tenant, a token Telegram does not accept).
func (s *Service) Check(ctx context.Context, tenantID uuid.UUID, token string) (Preview, error) {
	botID, err := ParseToken(token)
	if err != nil {
		return Preview{}, err
	}
	if err := s.checkFree(ctx, tenantID, botID); err != nil {
		return Preview{}, err
	}
	info, err := s.tg.GetMe(ctx, token)
	if err != nil {
		return Preview{}, fmt.Errorf("bots: check: %w", err)
	}
	if info.ID != botID {
		return Preview{}, fmt.Errorf("bots: check: getMe answered bot %d: %w", info.ID, ErrTokenRejected)
	}
	return Preview{ID: botID, Username: info.Username, Name: info.FirstName}, nil
}

func (h *Handler) check(c *fiber.Ctx) error {
	var req tokenRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	p, err := h.svc.Check(c.UserContext(), auth.PrincipalOf(c).TenantID, req.Token)
	if err != nil {
		return problem(err)
	}
	return c.JSON(p)
}
