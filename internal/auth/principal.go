package auth

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// Role is a member's role in a tenant, or the platform operator role.
type Role string

// Roles, from most to least powerful inside a tenant. Operators are not
// members of any tenant and hold no tenant role.
const (
	RoleOwner    Role = "owner"
	RoleAdmin    Role = "admin"
	RoleAgent    Role = "agent"
	RoleOperator Role = "operator"
)

var rank = map[Role]int{RoleAgent: 1, RoleAdmin: 2, RoleOwner: 3}

// Valid reports whether r is a tenant role.
func (r Role) Valid() bool { return rank[r] > 0 }

// AtLeast reports whether r carries every right of min.
func (r Role) AtLeast(min Role) bool { return rank[r] > 0 && rank[r] >= rank[min] }

// Principal is who is calling, taken from a verified access token.
type Principal struct {
	UserID    uuid.UUID // the user or operator id
	TenantID  uuid.UUID // uuid.Nil for operators
	Role      Role
	SessionID uuid.UUID
}

// IsOperator reports whether the caller is a platform operator.
func (p *Principal) IsOperator() bool { return p.Role == RoleOperator }

const localPrincipal = "principal"

// SetPrincipal stores the caller on the request (the authentication
// middleware does this once the token checks out).
func SetPrincipal(c *fiber.Ctx, p *Principal) { c.Locals(localPrincipal, p) }

// PrincipalOf returns the authenticated caller, or nil.
func PrincipalOf(c *fiber.Ctx) *Principal {
	p, _ := c.Locals(localPrincipal).(*Principal)
	return p
}

// Require is the one place tenant routes are authorized: the caller must be
// a tenant member with at least role min. docs/permissions.md lists every
// route with the roles allowed, and a test checks each row against the app.
func Require(min Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := PrincipalOf(c)
		if p == nil {
			return httpx.Unauthorized("unauthenticated", "Log in first.")
		}
		if p.IsOperator() || !p.Role.AtLeast(min) {
			return httpx.Forbidden("Your role does not allow this action.")
		}
		return c.Next()
	}
}

// RequireOperator authorizes platform-operator routes (/ops).
func RequireOperator() fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := PrincipalOf(c)
		if p == nil {
			return httpx.Unauthorized("unauthenticated", "Log in first.")
		}
		if !p.IsOperator() {
			return httpx.Forbidden("Only platform operators may do this.")
		}
		return c.Next()
	}
}
