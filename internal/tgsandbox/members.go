package tgsandbox

import (
	"fmt"
)

// changeUserStatusLocked moves a user to a new status in a group, posts the
// service message Telegram shows and emits chat_member to admin bots (who
// receive it only when allowed_updates asks for chat_member).
func (s *Server) changeUserStatusLocked(c *chat, u *user, actor tgUser, cur *member, link *inviteLink, actorBot int64) {
	old := c.users[u.ID]
	wasIn := c.isUserMember(u.ID)
	c.users[u.ID] = cur
	nowIn := c.isUserMember(u.ID)
	upd := s.memberUpdate(c.tg(), actor, u.tg(), old, cur)
	if link != nil {
		l := link.link
		upd.InviteLink, upd.ViaJoinRequest = &l, l.CreatesJoinRequest
	}
	for _, id := range c.activeBots() {
		if botRightsLocked(c, id) != nil {
			s.emitLocked(s.st.bots[id], "chat_member", upd)
		}
	}
	ut := u.tg()
	var tg tgMessage
	switch {
	case !wasIn && nowIn:
		tg = tgMessage{NewChatMembers: []tgUser{ut}}
	case wasIn && !nowIn:
		tg = tgMessage{LeftChatMember: &ut}
	default:
		return
	}
	if actorBot != 0 {
		m := s.addMessageLocked(c, &message{tg: tg, senderBot: actorBot})
		s.shareServiceLocked(m, actorBot)
		return
	}
	s.postServiceLocked(c, 0, actor.ID, 0, tg)
}

func (s *Server) joinLocked(c *chat, u *user, link *inviteLink, viaRequest bool) {
	actor := u.tg()
	if viaRequest {
		actor = link.link.Creator
	}
	s.changeUserStatusLocked(c, u, actor, &member{status: "member"}, link, 0)
}

// JoinChat makes a user follow an invite link. It returns requested=true when
// the link needs approval: the admin bots then receive chat_join_request.
func (s *Server) JoinChat(userID int64, inviteLink string) (requested bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[userID]
	l := s.st.inviteLinks[inviteLink]
	if u == nil || l == nil {
		return false, fmt.Errorf("tgsandbox: join: user %d or link %q not found", userID, inviteLink)
	}
	c := s.st.groups[l.chatID]
	now := s.clock.Now().Unix()
	switch {
	case c == nil || l.link.IsRevoked || (l.link.ExpireDate != 0 && l.link.ExpireDate <= now):
		return false, fmt.Errorf("tgsandbox: join: invite link expired")
	case l.link.MemberLimit != 0 && l.joined >= l.link.MemberLimit:
		return false, fmt.Errorf("tgsandbox: join: invite link member limit reached")
	case c.isUserMember(userID):
		return false, fmt.Errorf("tgsandbox: join: user %d is already a member", userID)
	case c.users[userID] != nil && c.users[userID].status == "kicked":
		return false, fmt.Errorf("tgsandbox: join: user %d is banned", userID)
	}
	if l.link.CreatesJoinRequest {
		l.pending[userID] = true
		ll := l.link
		req := tgChatJoinRequest{Chat: c.tg(), From: u.tg(), UserChatID: u.ID, Date: now, InviteLink: &ll}
		for _, id := range c.activeBots() {
			if r := botRightsLocked(c, id); r != nil && r.CanInviteUsers {
				s.emitLocked(s.st.bots[id], "chat_join_request", req)
			}
		}
		return true, nil
	}
	l.joined++
	s.joinLocked(c, u, l, false)
	return false, nil
}

// AddUserToChat adds a user to a group directly, as an admin would.
func (s *Server) AddUserToChat(userID, chatID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, c := s.st.users[userID], s.groupLocked(chatID)
	if u == nil || c == nil {
		return fmt.Errorf("tgsandbox: add user: user %d or chat %d not found", userID, chatID)
	}
	if c.isUserMember(userID) {
		return nil
	}
	s.changeUserStatusLocked(c, u, s.actorLocked(c), &member{status: "member"}, nil, 0)
	return nil
}

// LeaveChat makes a user leave a group.
func (s *Server) LeaveChat(userID, chatID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, c := s.st.users[userID], s.groupLocked(chatID)
	if u == nil || c == nil || !c.isUserMember(userID) {
		return fmt.Errorf("tgsandbox: leave: user %d is not in chat %d", userID, chatID)
	}
	s.changeUserStatusLocked(c, u, u.tg(), &member{status: "left"}, nil, 0)
	return nil
}
