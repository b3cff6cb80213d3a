package tgsandbox

import (
	"context"
)

func (s *Server) addChatMethods(add func(string, methodFunc)) {
	add("getChat", s.getChat)
	add("getChatMember", s.getChatMember)
	add("getChatAdministrators", s.getChatAdministrators)
	add("getChatMemberCount", s.getChatMemberCount)
	add("banChatMember", s.banChatMember)
	add("unbanChatMember", s.unbanChatMember)
	add("leaveChat", s.leaveChat)
	add("createChatInviteLink", s.createChatInviteLink)
	add("exportChatInviteLink", s.exportChatInviteLink)
	add("revokeChatInviteLink", s.revokeChatInviteLink)
	add("approveChatJoinRequest", s.answerJoinRequest(true))
	add("declineChatJoinRequest", s.answerJoinRequest(false))
}

type tgChatFullInfo struct {
	tgChat
	AccentColorID    int `json:"accent_color_id"`
	MaxReactionCount int `json:"max_reaction_count"`
}

func (s *Server) getChat(_ context.Context, b *bot, p *params) (any, error) {
	ref, err := p.Chat("chat_id")
	if err != nil {
		return nil, err
	}
	// getChat works for a user who has not started the bot only if known; keep it strict.
	c, err := s.chatForBotLocked(b, ref)
	if err != nil {
		return nil, err
	}
	info := tgChatFullInfo{tgChat: c.tg(), MaxReactionCount: 11}
	if c.Type == "private" {
		if u := s.st.users[c.ID]; u != nil {
			info.FirstName, info.LastName, info.Username = u.FirstName, u.LastName, u.Username
		}
	}
	return info, nil
}

// memberOfLocked returns the ChatMember of any user or bot id in a chat.
func (s *Server) memberOfLocked(c *chat, id int64) (tgChatMember, error) {
	if b := s.st.bots[id]; b != nil {
		if c.Type == "private" {
			return renderMember(b.tg(), &member{status: "member"}), nil
		}
		return renderMember(b.tg(), c.bots[id]), nil
	}
	u := s.st.users[id]
	if u == nil {
		return tgChatMember{}, badRequest("user not found")
	}
	if c.Type == "private" {
		if c.ID != id {
			return tgChatMember{}, badRequest("user not found")
		}
		return renderMember(u.tg(), &member{status: "member"}), nil
	}
	return renderMember(u.tg(), c.users[id]), nil
}

func (s *Server) getChatMember(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	id, _, err := p.Int("user_id")
	if err != nil {
		return nil, err
	}
	return s.memberOfLocked(c, id)
}

func (s *Server) getChatAdministrators(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	if !c.isGroup() {
		return nil, badRequest("there are no administrators in the private chat")
	}
	out := []tgChatMember{}
	for _, id := range sortedKeys(c.users) {
		if m := c.users[id]; m.status == "creator" || m.status == "administrator" {
			out = append(out, renderMember(s.st.users[id].tg(), m))
		}
	}
	for _, id := range sortedKeys(c.bots) {
		if m := c.bots[id]; m.status == "administrator" {
			out = append(out, renderMember(s.st.bots[id].tg(), m))
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortBy(out, func(v int64) int64 { return v })
	return out
}

func (s *Server) getChatMemberCount(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	if c.Type == "private" {
		return 2, nil
	}
	n := len(c.activeBots())
	for id := range c.users {
		if c.isUserMember(id) {
			n++
		}
	}
	return n, nil
}

// restrictableLocked checks a group and the bot's right to restrict members.
func (s *Server) restrictableLocked(b *bot, p *params) (*chat, *user, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, nil, err
	}
	if !c.isGroup() {
		return nil, nil, badRequest("chat member status can't be changed in private chats")
	}
	if r := botRightsLocked(c, b.ID); r == nil || !r.CanRestrictMembers {
		return nil, nil, badRequest("not enough rights to restrict/unrestrict chat member")
	}
	id, _, err := p.Int("user_id")
	if err != nil {
		return nil, nil, err
	}
	u := s.st.users[id]
	if u == nil {
		return nil, nil, badRequest("user not found")
	}
	return c, u, nil
}

func (s *Server) banChatMember(_ context.Context, b *bot, p *params) (any, error) {
	c, u, err := s.restrictableLocked(b, p)
	if err != nil {
		return nil, err
	}
	if m := c.users[u.ID]; m != nil && m.status == "creator" {
		return nil, badRequest("can't remove chat owner")
	}
	until, err := p.IntOr("until_date", 0)
	if err != nil {
		return nil, err
	}
	s.changeUserStatusLocked(c, u, b.tg(), &member{status: "kicked", untilDate: until}, nil, b.ID)
	return true, nil
}

func (s *Server) unbanChatMember(_ context.Context, b *bot, p *params) (any, error) {
	c, u, err := s.restrictableLocked(b, p)
	if err != nil {
		return nil, err
	}
	m := c.users[u.ID]
	if m == nil || m.status == "left" {
		return true, nil
	}
	if m.status != "kicked" && p.Bool("only_if_banned") {
		return true, nil
	}
	if m.status == "creator" {
		return nil, badRequest("can't remove chat owner")
	}
	// Without only_if_banned, unbanning a member removes them, as documented.
	s.changeUserStatusLocked(c, u, b.tg(), &member{status: "left"}, nil, b.ID)
	return true, nil
}

func (s *Server) leaveChat(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	if !c.isGroup() {
		return nil, badRequest("chat member status can't be changed in private chats")
	}
	old := c.bots[b.ID]
	cur := &member{status: "left"}
	c.bots[b.ID] = cur
	bt := b.tg()
	s.emitLocked(b, "my_chat_member", s.memberUpdate(c.tg(), bt, bt, old, cur))
	bt.CanJoinGroups, bt.CanReadAllGroupMessages, bt.SupportsInlineQueries = nil, nil, nil
	m := s.addMessageLocked(c, &message{tg: tgMessage{LeftChatMember: &bt}, senderBot: b.ID})
	s.shareServiceLocked(m, b.ID)
	return true, nil
}

func (s *Server) inviteRightsLocked(b *bot, p *params) (*chat, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	if !c.isGroup() {
		return nil, badRequest("can't invite members to a private chat")
	}
	if r := botRightsLocked(c, b.ID); r == nil || !r.CanInviteUsers {
		return nil, badRequest("not enough rights to manage chat invite link")
	}
	return c, nil
}

func (s *Server) createChatInviteLink(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.inviteRightsLocked(b, p)
	if err != nil {
		return nil, err
	}
	limit, err := p.IntOr("member_limit", 0)
	if err != nil {
		return nil, err
	}
	expire, err := p.IntOr("expire_date", 0)
	if err != nil {
		return nil, err
	}
	joinReq := p.Bool("creates_join_request")
	switch {
	case limit != 0 && joinReq:
		return nil, badRequest("member limit can't be specified for links requiring administrator approval")
	case limit < 0 || limit > 99999:
		return nil, badRequest("USAGE_LIMIT_INVALID")
	case expire != 0 && expire <= s.clock.Now().Unix():
		return nil, badRequest("EXPIRE_DATE_INVALID")
	case textLen(p.String("name")) > 32:
		return nil, badRequest("invite link name is too long")
	}
	link := &inviteLink{chatID: c.ID, pending: map[int64]bool{}, link: tgChatInviteLink{
		InviteLink: "https://t.me/+" + randomString(16), Creator: b.tg(), CreatesJoinRequest: joinReq,
		Name: p.String("name"), ExpireDate: expire, MemberLimit: int(limit),
	}}
	link.link.Creator.CanJoinGroups, link.link.Creator.CanReadAllGroupMessages, link.link.Creator.SupportsInlineQueries = nil, nil, nil
	s.st.inviteLinks[link.link.InviteLink] = link
	return link.link, nil
}

func (s *Server) exportChatInviteLink(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.inviteRightsLocked(b, p)
	if err != nil {
		return nil, err
	}
	link := &inviteLink{chatID: c.ID, pending: map[int64]bool{}, link: tgChatInviteLink{
		InviteLink: "https://t.me/+" + randomString(16), Creator: b.tg(), IsPrimary: true}}
	s.st.inviteLinks[link.link.InviteLink] = link
	return link.link.InviteLink, nil
}

func (s *Server) revokeChatInviteLink(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.inviteRightsLocked(b, p)
	if err != nil {
		return nil, err
	}
	l := s.st.inviteLinks[p.String("invite_link")]
	if l == nil || l.chatID != c.ID {
		return nil, badRequest("INVITE_HASH_EXPIRED")
	}
	l.link.IsRevoked = true
	return l.link, nil
}

func (s *Server) answerJoinRequest(approve bool) methodFunc {
	return func(_ context.Context, b *bot, p *params) (any, error) {
		c, err := s.inviteRightsLocked(b, p)
		if err != nil {
			return nil, err
		}
		id, _, err := p.Int("user_id")
		if err != nil {
			return nil, err
		}
		var link *inviteLink
		for _, l := range s.st.inviteLinks {
			if l.chatID == c.ID && l.pending[id] {
				link = l
			}
		}
		u := s.st.users[id]
		if link == nil || u == nil {
			return nil, badRequest("HIDE_REQUESTER_MISSING")
		}
		delete(link.pending, id)
		if approve {
			link.joined++
			s.joinLocked(c, u, link, true)
		}
		return true, nil
	}
}
