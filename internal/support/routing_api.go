package support

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// The greeting and routing editor (docs/support.md, "Greeting and routing
// menu"): what /start answers, the question above the routing menu and the
// menu itself, each request type with its target (a staff group, a tag, an
// agent). The texts are tenant texts; the menu is the tenant's
// settings.support.request_types.

// RoutingConfig keeps the greeting texts and the routing menu (*tenant.Service).
type RoutingConfig interface {
	Settings(ctx context.Context, tenantID uuid.UUID) (tenant.Settings, error)
	Catalog() *tenant.Catalog
	ListTexts(ctx context.Context, tenantID uuid.UUID) ([]tenant.TextEntry, error)
	SetText(ctx context.Context, tenantID, actor uuid.UUID, key, lang, value string) error
	ResetText(ctx context.Context, tenantID, actor uuid.UUID, key, lang string) error
	SetRequestTypes(ctx context.Context, tenantID, actor uuid.UUID, types []tenant.RequestType) (bool, error)
}

// ErrNoRoutingConfig: the desk runs without a tenant service.
var ErrNoRoutingConfig = errors.New("support: routing is not configurable here")

// The texts the editor shows: the greeting /start answers and the question
// above the menu's buttons.
var routingTexts = map[string]string{"greeting": telegram.TextGreeting, "route_prompt": TextRoutePrompt}

// MaxRequestTypes caps the menu (tenants/schema.json allows 20 too).
const MaxRequestTypes = 20

// maxButtonTitle keeps a title readable on one inline button.
const maxButtonTitle = 64

var (
	requestTypeKey = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
	requestTypeTag = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
)

// RoutingText is one editable text per language, with its default.
type RoutingText struct {
	Values       map[string]string `json:"values"`
	Defaults     map[string]string `json:"defaults"`
	Placeholders []string          `json:"placeholders"`
}

// Routing is the editor's document.
type Routing struct {
	Languages    []string             `json:"languages"`
	Greeting     RoutingText          `json:"greeting"`
	RoutePrompt  RoutingText          `json:"route_prompt"`
	RequestTypes []tenant.RequestType `json:"request_types"`
}

// RoutingUpdate replaces the menu; a text per language left out stays as
// it is, one equal to its default drops the tenant's own value.
type RoutingUpdate struct {
	Greeting     map[string]string    `json:"greeting"`
	RoutePrompt  map[string]string    `json:"route_prompt"`
	RequestTypes []tenant.RequestType `json:"request_types"`
}

func (s *Service) routingConfig() (RoutingConfig, error) {
	rc, ok := s.texts.(RoutingConfig)
	if !ok {
		return nil, ErrNoRoutingConfig
	}
	return rc, nil
}

// Routing returns the tenant's greeting texts and routing menu.
func (s *Service) Routing(ctx context.Context, tenantID uuid.UUID) (Routing, error) {
	rc, err := s.routingConfig()
	if err != nil {
		return Routing{}, err
	}
	st, err := rc.Settings(ctx, tenantID)
	if err != nil {
		return Routing{}, fmt.Errorf("support: routing: %w", err)
	}
	texts, err := rc.ListTexts(ctx, tenantID)
	if err != nil {
		return Routing{}, fmt.Errorf("support: routing texts: %w", err)
	}
	out := Routing{Languages: st.Languages, RequestTypes: st.Support.RequestTypes}
	if out.RequestTypes == nil {
		out.RequestTypes = []tenant.RequestType{}
	}
	for _, e := range texts {
		rt := RoutingText{Values: map[string]string{}, Defaults: map[string]string{}, Placeholders: e.Placeholders}
		for lang, v := range e.Values {
			rt.Values[lang], rt.Defaults[lang] = v.Value, v.Default
		}
		switch e.Key {
		case routingTexts["greeting"]:
			out.Greeting = rt
		case routingTexts["route_prompt"]:
			out.RoutePrompt = rt
		}
	}
	return out, nil
}

// validateRouting checks an update against the tenant's languages, staff
// groups and members; field names follow the JSON document
// (request_types[2].title.en, greeting.ru).
func (s *Service) validateRouting(ctx context.Context, tenantID uuid.UUID, rc RoutingConfig, st tenant.Settings, u *RoutingUpdate) error {
	var v httpx.Validator
	for name, texts := range map[string]map[string]string{"greeting": u.Greeting, "route_prompt": u.RoutePrompt} {
		for lang, val := range texts {
			field := name + "." + lang
			if !tenant.IsLanguage(lang) {
				v.Add(field, "unsupported_language", "must be one of ru, en")
				continue
			}
			var inv *tenant.InvalidError
			if err := rc.Catalog().CheckText(routingTexts[name], val); errors.As(err, &inv) && len(inv.Fields) > 0 {
				v.Add(field, inv.Fields[0].Code, inv.Fields[0].Message)
			}
		}
	}
	groups, err := s.StaffGroups(ctx, tenantID)
	if err != nil {
		return err
	}
	bound := map[tenant.StaffGroupRef]bool{}
	for _, g := range groups {
		bound[tenant.StaffGroupRef{BotID: g.BotID, ChatID: g.ChatID}] = true
	}
	v.Check(len(u.RequestTypes) <= MaxRequestTypes, "request_types", "too_many", fmt.Sprintf("at most %d request types", MaxRequestTypes))
	keys := map[string]bool{}
	for i := range u.RequestTypes {
		rt := &u.RequestTypes[i]
		f := fmt.Sprintf("request_types[%d].", i)
		rt.Key, rt.Tag = strings.TrimSpace(rt.Key), strings.TrimSpace(rt.Tag)
		v.Check(requestTypeKey.MatchString(rt.Key), f+"key", "invalid", "1 to 32 of a-z, 0-9 and _")
		v.Check(!keys[rt.Key], f+"key", "duplicate", "another request type has this key")
		keys[rt.Key] = true
		rt.Title = trimmed(rt.Title)
		for lang, t := range rt.Title {
			v.Check(tenant.IsLanguage(lang), f+"title."+lang, "unsupported_language", "must be one of ru, en")
			v.Check(utf8.RuneCountInString(t) <= maxButtonTitle, f+"title."+lang, "too_long", fmt.Sprintf("at most %d characters", maxButtonTitle))
		}
		for _, lang := range st.Languages {
			v.Check(rt.Title[lang] != "", f+"title."+lang, "required", "the button needs a label in every language of the bot")
		}
		rt.AutoReply = trimmed(rt.AutoReply)
		for lang, t := range rt.AutoReply {
			v.Check(tenant.IsLanguage(lang), f+"auto_reply."+lang, "unsupported_language", "must be one of ru, en")
			v.Check(utf8.RuneCountInString(t) <= 4096, f+"auto_reply."+lang, "too_long", "at most 4096 characters")
		}
		v.Check(rt.Tag == "" || requestTypeTag.MatchString(rt.Tag), f+"tag", "invalid", "1 to 32 of a-z, 0-9, _ and -")
		if rt.StaffGroup != nil {
			v.Check(bound[*rt.StaffGroup], f+"staff_group", "unknown_staff_group", "not a staff group bound to the tenant's bot")
		}
		if rt.Assignee != nil {
			ok, err := s.activeMember(ctx, tenantID, *rt.Assignee)
			if err != nil {
				return err
			}
			v.Check(ok, f+"assignee_user_id", "unknown_member", "not an active member of the team")
		}
	}
	return v.Err()
}

// trimmed drops blank values and surrounding spaces; nil when nothing is left.
func trimmed(m map[string]string) map[string]string {
	var out map[string]string
	for k, val := range m {
		if val = strings.TrimSpace(val); val != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = val
		}
	}
	return out
}

// activeMember reports whether userID is a member of the tenant who is not
// disabled (RLS hides other tenants' users and operators).
func (s *Service) activeMember(ctx context.Context, tenantID, userID uuid.UUID) (bool, error) {
	var ok bool
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND NOT disabled)`, userID).Scan(&ok)
	})
	if err != nil {
		return false, fmt.Errorf("support: member: %w", err)
	}
	return ok, nil
}

// SetRouting validates and saves the greeting texts and the routing menu.
// Nothing is saved when a field is invalid (*httpx.Problem with the fields).
// The menu change is audited as support.routing.update, the texts as
// tenant.text.update / tenant.text.reset.
func (s *Service) SetRouting(ctx context.Context, tenantID, actor uuid.UUID, u RoutingUpdate) (Routing, error) {
	rc, err := s.routingConfig()
	if err != nil {
		return Routing{}, err
	}
	st, err := rc.Settings(ctx, tenantID)
	if err != nil {
		return Routing{}, fmt.Errorf("support: routing: %w", err)
	}
	if err := s.validateRouting(ctx, tenantID, rc, st, &u); err != nil {
		return Routing{}, err
	}
	cur, err := s.Routing(ctx, tenantID)
	if err != nil {
		return Routing{}, err
	}
	for name, texts := range map[string]map[string]string{"greeting": u.Greeting, "route_prompt": u.RoutePrompt} {
		shown := cur.Greeting
		if name == "route_prompt" {
			shown = cur.RoutePrompt
		}
		for lang, val := range texts {
			switch {
			case val == shown.Values[lang]:
			case val == shown.Defaults[lang]:
				err = rc.ResetText(ctx, tenantID, actor, routingTexts[name], lang)
			default:
				err = rc.SetText(ctx, tenantID, actor, routingTexts[name], lang, val)
			}
			if err != nil {
				return Routing{}, fmt.Errorf("support: routing text: %w", err)
			}
		}
	}
	if _, err := rc.SetRequestTypes(ctx, tenantID, actor, u.RequestTypes); err != nil {
		return Routing{}, fmt.Errorf("support: routing: %w", err)
	}
	return s.Routing(ctx, tenantID)
}

func (h *Handler) routingRoutes(api fiber.Router) {
	api.Get("/support/routing", auth.Require(auth.RoleAdmin), h.getRouting)
	api.Put("/support/routing", auth.Require(auth.RoleAdmin), h.putRouting)
}

func routingProblem(err error) error {
	if errors.Is(err, ErrNoRoutingConfig) {
		return httpx.Unavailable("routing_unavailable", "the routing menu cannot be edited on this server")
	}
	return err
}

func (h *Handler) getRouting(c *fiber.Ctx) error {
	r, err := h.s.Routing(c.UserContext(), auth.PrincipalOf(c).TenantID)
	if err != nil {
		return routingProblem(err)
	}
	return c.JSON(r)
}

func (h *Handler) putRouting(c *fiber.Ctx) error {
	p := auth.PrincipalOf(c)
	var u RoutingUpdate
	if err := httpx.DecodeJSON(c, &u); err != nil {
		return err
	}
	r, err := h.s.SetRouting(c.UserContext(), p.TenantID, p.UserID, u)
	if err != nil {
		return routingProblem(err)
	}
	return c.JSON(r)
}
