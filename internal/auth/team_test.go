package auth

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

func inviteToken(link string) string { return link[strings.LastIndex(link, "/")+1:] }

func TestInviteFlow(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	email := newEmail("agent")
	r := f.do(t, "POST", "/api/v1/invites", o.access, map[string]any{"email": email, "role": "agent"})
	want(t, r, 201, "")
	link := r.str("link")
	if !strings.HasPrefix(link, "https://desk.example/invite/") || r.body["emailed"] != true {
		t.Fatalf("invite = %s", r.raw)
	}
	mails := f.mail.to(email)
	if len(mails) != 1 || !strings.Contains(mails[0].Body, link) {
		t.Fatalf("mails = %+v", mails)
	}
	list := f.do(t, "GET", "/api/v1/invites", o.access, nil)
	want(t, list, 200, "")
	if inv := list.body["invites"].([]any); len(inv) != 1 || inv[0].(map[string]any)["status"] != "pending" {
		t.Fatalf("invites = %s", list.raw)
	}
	// A weak password is refused and the invite stays usable.
	want(t, f.do(t, "POST", "/api/v1/invites/accept", "", map[string]any{"token": inviteToken(link), "name": "A", "password": "short"}), 422, "validation_failed")
	a := f.do(t, "POST", "/api/v1/invites/accept", "", map[string]any{"token": inviteToken(link), "name": "Anna", "password": goodPassword})
	want(t, a, 201, "")
	if u := a.body["user"].(map[string]any); u["role"] != "agent" || u["tenant_id"] != o.tenantID || u["email"] != email {
		t.Fatalf("accepted = %s", a.raw)
	}
	want(t, f.do(t, "GET", "/api/v1/me", a.str("access_token"), nil), 200, "")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword}), 200, "")
	var n int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action IN ('invite.create', 'invite.accept')`, o.tenantID).Scan(&n); err != nil || n != 2 {
		t.Fatalf("audit rows %d, %v", n, err)
	}

	cases := []struct {
		name   string
		token  func(t *testing.T) string
		status int
		code   string
	}{
		{"reused", func(*testing.T) string { return inviteToken(link) }, 410, "invite_used"},
		{"unknown", func(*testing.T) string { return "no-such-token" }, 404, "not_found"},
		{"revoked", func(t *testing.T) string {
			r := f.do(t, "POST", "/api/v1/invites", o.access, map[string]any{"email": newEmail("x"), "role": "agent"})
			want(t, r, 201, "")
			want(t, f.do(t, "DELETE", "/api/v1/invites/"+r.body["invite"].(map[string]any)["id"].(string), o.access, nil), 204, "")
			return inviteToken(r.str("link"))
		}, 410, "invite_used"},
		{"superseded by a newer invite", func(t *testing.T) string {
			e := newEmail("y")
			r := f.do(t, "POST", "/api/v1/invites", o.access, map[string]any{"email": e, "role": "agent"})
			want(t, f.do(t, "POST", "/api/v1/invites", o.access, map[string]any{"email": e, "role": "agent"}), 201, "")
			return inviteToken(r.str("link"))
		}, 410, "invite_used"},
		{"expired", func(t *testing.T) string {
			r := f.do(t, "POST", "/api/v1/invites", o.access, map[string]any{"email": newEmail("z"), "role": "agent"})
			want(t, r, 201, "")
			f.clock.Advance(73 * time.Hour)
			return inviteToken(r.str("link"))
		}, 410, "invite_expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token(t)
			want(t, f.do(t, "POST", "/api/v1/invites/accept", "", map[string]any{"token": tok, "name": "B", "password": goodPassword}), tc.status, tc.code)
		})
	}
}

func TestInviteRefusals(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	other := f.signup(t)
	want(t, f.do(t, "POST", "/api/v1/invites", o.access, map[string]any{"email": other.email, "role": "agent"}), 409, "email_taken")
	want(t, f.do(t, "POST", "/api/v1/invites", o.access, map[string]any{"email": newEmail("r"), "role": "operator"}), 422, "validation_failed")
	want(t, f.do(t, "POST", "/api/v1/invites", o.access, map[string]any{"email": "nope", "role": "agent"}), 422, "validation_failed")
}

func TestConcurrentInviteAcceptCreatesOneMember(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	p, _ := f.svc.ParseAccess(o.access)
	inv, err := f.svc.CreateInvite(context.Background(), p, newEmail("race"), RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.svc.AcceptInvite(context.Background(), inviteToken(inv.Link), "R", goodPassword, Client{}); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d acceptances succeeded, want 1", ok)
	}
}

func TestRolesOnTeamRoutes(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	_, admin, adminID := f.member(t, o.access, RoleAdmin)
	_, agent, agentID := f.member(t, o.access, RoleAgent)
	_, _, agent2ID := f.member(t, admin, RoleAgent)
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"agent lists members", "GET", "/api/v1/members", agent, nil, 200, ""},
		{"agent invites", "POST", "/api/v1/invites", agent, map[string]any{"email": newEmail("q"), "role": "agent"}, 403, "forbidden"},
		{"agent lists invites", "GET", "/api/v1/invites", agent, nil, 403, "forbidden"},
		{"agent disables a member", "PATCH", "/api/v1/members/" + agent2ID, agent, map[string]any{"disabled": true}, 403, "forbidden"},
		{"agent removes a member", "DELETE", "/api/v1/members/" + agent2ID, agent, nil, 403, "forbidden"},
		{"admin invites an admin", "POST", "/api/v1/invites", admin, map[string]any{"email": newEmail("q"), "role": "admin"}, 403, "forbidden"},
		{"admin invites an owner", "POST", "/api/v1/invites", admin, map[string]any{"email": newEmail("q"), "role": "owner"}, 403, "forbidden"},
		{"admin promotes an agent", "PATCH", "/api/v1/members/" + agent2ID, admin, map[string]any{"role": "admin"}, 403, "forbidden"},
		{"admin disables the owner", "PATCH", "/api/v1/members/" + o.userID, admin, map[string]any{"disabled": true}, 403, "forbidden"},
		{"admin removes itself", "DELETE", "/api/v1/members/" + adminID, admin, nil, 403, "forbidden"},
		{"admin disables an agent", "PATCH", "/api/v1/members/" + agent2ID, admin, map[string]any{"disabled": true}, 200, ""},
		{"empty patch", "PATCH", "/api/v1/members/" + agent2ID, admin, map[string]any{}, 422, "validation_failed"},
		{"bad role", "PATCH", "/api/v1/members/" + agent2ID, o.access, map[string]any{"role": "root"}, 422, "validation_failed"},
		{"owner promotes an agent to admin", "PATCH", "/api/v1/members/" + agentID, o.access, map[string]any{"role": "admin"}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want(t, f.do(t, tc.method, tc.path, tc.token, tc.body), tc.status, tc.code)
		})
	}
	// The promoted agent's old token (role agent) no longer works: role
	// changes revoke sessions.
	want(t, f.do(t, "GET", "/api/v1/members", agent, nil), 401, "session_revoked")
}

func TestDisableAndRemoveMembers(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	email, agent, agentID := f.member(t, o.access, RoleAgent)
	want(t, f.do(t, "PATCH", "/api/v1/members/"+agentID, o.access, map[string]any{"disabled": true}), 200, "")
	want(t, f.do(t, "GET", "/api/v1/me", agent, nil), 401, "session_revoked")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword}), 403, "account_disabled")
	want(t, f.do(t, "PATCH", "/api/v1/members/"+agentID, o.access, map[string]any{"disabled": false}), 200, "")
	l := f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword})
	want(t, l, 200, "")
	want(t, f.do(t, "DELETE", "/api/v1/members/"+agentID, o.access, nil), 204, "")
	want(t, f.do(t, "GET", "/api/v1/me", l.str("access_token"), nil), 401, "session_revoked")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword}), 401, "invalid_credentials")
	var n int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action IN ('member.update', 'member.delete') AND actor = $2`, o.tenantID, o.userID).Scan(&n); err != nil || n != 3 {
		t.Fatalf("audit rows %d, %v", n, err)
	}
}

func TestLastOwnerStays(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	want(t, f.do(t, "PATCH", "/api/v1/members/"+o.userID, o.access, map[string]any{"role": "admin"}), 409, "last_owner")
	want(t, f.do(t, "PATCH", "/api/v1/members/"+o.userID, o.access, map[string]any{"disabled": true}), 409, "last_owner")
	want(t, f.do(t, "DELETE", "/api/v1/members/"+o.userID, o.access, nil), 409, "last_owner")
	// With a second owner, the first may step down.
	_, owner2, owner2ID := f.member(t, o.access, RoleOwner)
	want(t, f.do(t, "PATCH", "/api/v1/members/"+o.userID, o.access, map[string]any{"role": "admin"}), 200, "")
	want(t, f.do(t, "DELETE", "/api/v1/members/"+owner2ID, owner2, nil), 409, "last_owner")

	// Two owners demoting each other at once: exactly one wins.
	_, owner3, owner3ID := f.member(t, owner2, RoleOwner)
	var wg sync.WaitGroup
	results := make([]int, 2)
	for i, c := range []struct{ token, target string }{{owner2, owner3ID}, {owner3, owner2ID}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := f.svc.ParseAccess(c.token)
			if err != nil {
				return
			}
			role := RoleAgent
			if _, err := f.svc.UpdateMember(context.Background(), p, uuid.MustParse(c.target), MemberChange{Role: &role}); err == nil {
				results[i] = 1
			}
		}()
	}
	wg.Wait()
	if results[0]+results[1] != 1 {
		t.Fatalf("concurrent demotions: %v, want exactly one", results)
	}
}

// Another tenant's member, invite and session ids answer 404, and the same
// look-ups made directly under the app role with this tenant set find nothing.
func TestCrossTenantIDsAre404(t *testing.T) {
	f := newFixture(t)
	a := f.signup(t)
	b := f.signup(t)
	_, _, bAgent := f.member(t, b.access, RoleAgent)
	inv := f.do(t, "POST", "/api/v1/invites", b.access, map[string]any{"email": newEmail("bi"), "role": "agent"})
	want(t, inv, 201, "")
	bInvite := inv.body["invite"].(map[string]any)["id"].(string)
	bSession, err := f.svc.ParseAccess(b.access)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []struct{ method, path string }{
		{"PATCH", "/api/v1/members/" + bAgent},
		{"DELETE", "/api/v1/members/" + bAgent},
		{"DELETE", "/api/v1/members/" + b.userID},
		{"DELETE", "/api/v1/invites/" + bInvite},
		{"DELETE", "/api/v1/auth/sessions/" + bSession.SessionID.String()},
	}
	for _, r := range reqs {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			var body any
			if r.method == "PATCH" {
				body = map[string]any{"disabled": true}
			}
			want(t, f.do(t, r.method, r.path, a.access, body), 404, "not_found")
		})
	}
	// Nothing changed in b.
	want(t, f.do(t, "GET", "/api/v1/me", b.access, nil), 200, "")
	ctx := context.Background()
	err = env.DB.InTenant(ctx, uuid.MustParse(a.tenantID), func(tx pgx.Tx) error {
		for _, q := range []struct{ sql, id string }{
			{`SELECT count(*) FROM users WHERE id = $1`, bAgent},
			{`SELECT count(*) FROM invites WHERE id = $1`, bInvite},
			{`SELECT count(*) FROM sessions WHERE id = $1`, bSession.SessionID.String()},
			{`SELECT count(*) FROM refresh_tokens WHERE session_id = $1`, bSession.SessionID.String()},
		} {
			var n int
			if err := tx.QueryRow(ctx, q.sql, q.id).Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				t.Errorf("%s as tenant a: %d rows", q.sql, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// And b's member list does not leak into a's.
	list := f.do(t, "GET", "/api/v1/members", a.access, nil)
	if strings.Contains(list.raw, bAgent) || len(list.body["members"].([]any)) != 1 {
		t.Fatalf("a's members = %s", list.raw)
	}
}

func TestPasswordReset(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	want(t, f.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]any{"email": newEmail("ghost")}), 202, "")
	want(t, f.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]any{"email": "garbage"}), 202, "")
	want(t, f.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]any{"email": strings.ToUpper(o.email)}), 202, "")
	mails := f.mail.to(o.email)
	if len(mails) != 1 {
		t.Fatalf("mails = %+v", f.mail.sent)
	}
	i := strings.Index(mails[0].Body, "https://desk.example/reset/")
	token := strings.Fields(mails[0].Body[i+len("https://desk.example/reset/"):])[0]

	want(t, f.do(t, "POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": token, "password": "tooshort"}), 422, "validation_failed")
	newPassword := "a different long passphrase"
	want(t, f.do(t, "POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": token, "password": newPassword}), 204, "")
	want(t, f.do(t, "GET", "/api/v1/me", o.access, nil), 401, "session_revoked")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword}), 401, "invalid_credentials")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": newPassword}), 200, "")
	want(t, f.do(t, "POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": token, "password": "yet another passphrase"}), 410, "reset_used")
	want(t, f.do(t, "POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": "nope", "password": "yet another passphrase"}), 404, "not_found")

	want(t, f.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]any{"email": o.email}), 202, "")
	mails = f.mail.to(o.email)
	i = strings.Index(mails[1].Body, "https://desk.example/reset/")
	token = strings.Fields(mails[1].Body[i+len("https://desk.example/reset/"):])[0]
	f.clock.Advance(73 * time.Hour)
	want(t, f.do(t, "POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": token, "password": "yet another passphrase"}), 410, "reset_expired")
}

func TestChangePassword(t *testing.T) {
	f := newFixture(t)
	o := f.signup(t)
	other := f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": goodPassword})
	want(t, other, 200, "")
	want(t, f.do(t, "POST", "/api/v1/me/password", o.access, map[string]any{"current_password": "wrong one entirely", "new_password": "a brand new passphrase"}), 422, "validation_failed")
	want(t, f.do(t, "POST", "/api/v1/me/password", o.access, map[string]any{"current_password": goodPassword, "new_password": "1234567890"}), 422, "validation_failed")
	want(t, f.do(t, "POST", "/api/v1/me/password", o.access, map[string]any{"current_password": goodPassword, "new_password": "a brand new passphrase"}), 204, "")
	want(t, f.do(t, "GET", "/api/v1/me", o.access, nil), 200, "")
	want(t, f.do(t, "GET", "/api/v1/me", other.str("access_token"), nil), 401, "session_revoked")
	want(t, f.do(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": o.email, "password": "a brand new passphrase"}), 200, "")
}
