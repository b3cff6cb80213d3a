package support

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// ErrCannedTaken: another saved reply has the name.
var ErrCannedTaken = errors.New("support: a saved reply with this name exists")

// Canned is a saved reply an agent sends with "/t name" in a topic.
type Canned struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Text      string    `json:"text"`
	UpdatedAt time.Time `json:"updated_at"`
}

var cannedName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// ListCanned lists the tenant's saved replies by name.
func (s *Service) ListCanned(ctx context.Context, tenantID uuid.UUID) ([]Canned, error) {
	out := []Canned{}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, text, updated_at FROM support_canned ORDER BY name`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Canned, error) {
			var c Canned
			err := r.Scan(&c.ID, &c.Name, &c.Text, &c.UpdatedAt)
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("support: canned: %w", err)
	}
	return out, nil
}

// SaveCanned creates (id uuid.Nil) or updates a saved reply.
func (s *Service) SaveCanned(ctx context.Context, tenantID, id uuid.UUID, name, text string) (Canned, error) {
	now := s.clock.Now()
	c := Canned{ID: id, Name: name, Text: text, UpdatedAt: now}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if id == uuid.Nil {
			c.ID = ids.New()
			_, err := tx.Exec(ctx, `INSERT INTO support_canned (id, tenant_id, name, text, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $5)`, c.ID, tenantID, name, text, now)
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE support_canned SET name = $2, text = $3, updated_at = $4 WHERE id = $1`, id, name, text, now)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return err
	})
	switch {
	case db.IsUniqueViolation(err, "support_canned_tenant_id_name_key"):
		return Canned{}, ErrCannedTaken
	case errors.Is(err, ErrNotFound):
		return Canned{}, err
	case err != nil:
		return Canned{}, fmt.Errorf("support: save canned: %w", err)
	}
	return c, nil
}

// DeleteCanned removes a saved reply.
func (s *Service) DeleteCanned(ctx context.Context, tenantID, id uuid.UUID) error {
	return s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM support_canned WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("support: delete canned: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return nil
	})
}

func (h *Handler) cannedRoutes(api fiber.Router) {
	api.Get("/support/canned", auth.Require(auth.RoleAgent), h.listCanned)
	api.Post("/support/canned", auth.Require(auth.RoleAdmin), h.saveCanned)
	api.Put("/support/canned/:id", auth.Require(auth.RoleAdmin), h.saveCanned)
	api.Delete("/support/canned/:id", auth.Require(auth.RoleAdmin), h.deleteCanned)
}

func (h *Handler) listCanned(c *fiber.Ctx) error {
	cs, err := h.s.ListCanned(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"canned": cs})
}

type cannedRequest struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

func cannedProblem(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.NotFound("no such saved reply")
	case errors.Is(err, ErrCannedTaken):
		return httpx.Conflict("canned_name_taken", "a saved reply with this name exists")
	}
	return err
}

func (h *Handler) saveCanned(c *fiber.Ctx) error {
	id := uuid.Nil
	if c.Params("id") != "" {
		var err error
		if id, err = uuid.Parse(c.Params("id")); err != nil {
			return httpx.NotFound("no such saved reply")
		}
	}
	var req cannedRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	req.Name, req.Text = strings.ToLower(strings.TrimSpace(req.Name)), strings.TrimSpace(req.Text)
	var v httpx.Validator
	v.Check(cannedName.MatchString(req.Name), "name", "invalid", "1 to 32 of a-z, 0-9, _ and -")
	v.Check(req.Text != "", "text", "required", "the text is empty")
	v.Check(utf8.RuneCountInString(req.Text) <= 4096, "text", "too_long", "at most 4096 characters")
	if err := v.Err(); err != nil {
		return err
	}
	cn, err := h.s.SaveCanned(c.UserContext(), auth.PrincipalOf(c).TenantID, id, req.Name, req.Text)
	if err != nil {
		return cannedProblem(err)
	}
	if id == uuid.Nil {
		return c.Status(fiber.StatusCreated).JSON(cn)
	}
	return c.JSON(cn)
}

func (h *Handler) deleteCanned(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return httpx.NotFound("no such saved reply")
	}
	if err := h.s.DeleteCanned(c.UserContext(), auth.PrincipalOf(c).TenantID, id); err != nil {
		return cannedProblem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
