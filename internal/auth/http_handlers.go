package auth

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

type signupRequest struct {
	Company  string `json:"company"`
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Language string `json:"language"`
}

func (h *Handler) signup(c *fiber.Ctx) error {
	var req signupRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	out, err := h.svc.Signup(c.UserContext(), SignupInput(req), clientOf(c))
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	TOTPCode string `json:"totp_code"`
}

func (h *Handler) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	var v httpx.Validator
	v.Check(req.Email != "", "email", "required", "Give your e-mail address.")
	v.Check(req.Password != "", "password", "required", "Give your password.")
	if err := v.Err(); err != nil {
		return err
	}
	pair, _, err := h.svc.login(c.UserContext(), req.Email, req.Password, req.TOTPCode, clientOf(c))
	if err != nil {
		return problem(err)
	}
	return c.JSON(pair)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (h *Handler) refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return httpx.Invalid(httpx.FieldError{Field: "refresh_token", Code: "required", Message: "Give the refresh token."})
	}
	pair, err := h.svc.Refresh(c.UserContext(), req.RefreshToken, clientOf(c))
	if err != nil {
		return problem(err)
	}
	return c.JSON(pair)
}

func (h *Handler) logout(c *fiber.Ctx) error {
	if err := h.svc.Logout(c.UserContext(), PrincipalOf(c)); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) sessions(c *fiber.Ctx) error {
	list, err := h.svc.Sessions(c.UserContext(), PrincipalOf(c))
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"sessions": emptyIfNil(list)})
}

func (h *Handler) revokeSession(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.svc.RevokeSession(c.UserContext(), PrincipalOf(c), id); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) me(c *fiber.Ctx) error {
	u, err := h.svc.Me(c.UserContext(), PrincipalOf(c))
	if err != nil {
		return problem(err)
	}
	return c.JSON(u)
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (h *Handler) changePassword(c *fiber.Ctx) error {
	var req changePasswordRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.ChangePassword(c.UserContext(), PrincipalOf(c), req.CurrentPassword, req.NewPassword); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type resetRequest struct {
	Email string `json:"email"`
}

func (h *Handler) resetRequest(c *fiber.Ctx) error {
	var req resetRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.RequestPasswordReset(c.UserContext(), req.Email); err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{
		"detail": "If an account uses this address, a reset link is on its way.",
	})
}

type resetConfirmRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (h *Handler) resetConfirm(c *fiber.Ctx) error {
	var req resetConfirmRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.ConfirmPasswordReset(c.UserContext(), req.Token, req.Password); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type inviteRequest struct {
	Email string `json:"email"`
	Role  Role   `json:"role"`
}

func (h *Handler) createInvite(c *fiber.Ctx) error {
	var req inviteRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	out, err := h.svc.CreateInvite(c.UserContext(), PrincipalOf(c), req.Email, req.Role)
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (h *Handler) invites(c *fiber.Ctx) error {
	list, err := h.svc.Invites(c.UserContext(), PrincipalOf(c))
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"invites": emptyIfNil(list)})
}

func (h *Handler) revokeInvite(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	err = h.svc.RevokeInvite(c.UserContext(), PrincipalOf(c), id)
	if errors.Is(err, ErrInviteUsed) {
		return httpx.Conflict("invite_used", "This invite was already accepted.")
	}
	if err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type acceptRequest struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (h *Handler) acceptInvite(c *fiber.Ctx) error {
	var req acceptRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	out, err := h.svc.AcceptInvite(c.UserContext(), req.Token, req.Name, req.Password, clientOf(c))
	if err != nil {
		return problem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (h *Handler) members(c *fiber.Ctx) error {
	list, err := h.svc.Members(c.UserContext(), PrincipalOf(c))
	if err != nil {
		return problem(err)
	}
	return c.JSON(fiber.Map{"members": emptyIfNil(list)})
}

type memberPatch struct {
	Role     *Role `json:"role"`
	Disabled *bool `json:"disabled"`
}

func (h *Handler) updateMember(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req memberPatch
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.Role == nil && req.Disabled == nil {
		return httpx.Invalid(httpx.FieldError{Field: "role", Code: "required", Message: "Give role or disabled."})
	}
	u, err := h.svc.UpdateMember(c.UserContext(), PrincipalOf(c), id, MemberChange(req))
	if err != nil {
		return problem(err)
	}
	return c.JSON(u)
}

func (h *Handler) deleteMember(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteMember(c.UserContext(), PrincipalOf(c), id); err != nil {
		return problem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) totpStatus(c *fiber.Ctx) error {
	st, err := h.svc.TOTPStatus(c.UserContext(), PrincipalOf(c))
	if err != nil {
		return problem(err)
	}
	return c.JSON(st)
}

type totpRequest struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

func (h *Handler) totpStart(c *fiber.Ctx) error {
	var req totpRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	out, err := h.svc.StartTOTP(c.UserContext(), PrincipalOf(c), req.Password)
	if err != nil {
		return totpProblem(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (h *Handler) totpConfirm(c *fiber.Ctx) error {
	var req totpRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.ConfirmTOTP(c.UserContext(), PrincipalOf(c), req.Code); err != nil {
		return totpProblem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) totpDisable(c *fiber.Ctx) error {
	var req totpRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.DisableTOTP(c.UserContext(), PrincipalOf(c), req.Password, req.Code); err != nil {
		return totpProblem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// totpProblem names the field a wrong password or code came in; at login
// a wrong code is a 401.
func totpProblem(err error) error {
	if errors.Is(err, ErrWrongPassword) {
		return httpx.Invalid(httpx.FieldError{Field: "password", Code: "incorrect", Message: "The password is wrong."})
	}
	if errors.Is(err, ErrTOTPInvalid) {
		return httpx.Invalid(httpx.FieldError{Field: "code", Code: "invalid_totp",
			Message: "The code is wrong or was already used; enter the current code from your authenticator app."})
	}
	return problem(err)
}
