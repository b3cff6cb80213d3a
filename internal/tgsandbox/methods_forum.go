package tgsandbox

import (
	"context"
	"fmt"
	"slices"
)

func (s *Server) addForumMethods(add func(string, methodFunc)) {
	add("createForumTopic", s.createForumTopic)
	add("editForumTopic", s.editForumTopic)
	add("closeForumTopic", s.setTopicClosed(true))
	add("reopenForumTopic", s.setTopicClosed(false))
	add("deleteForumTopic", s.deleteForumTopic)
	add("unpinAllForumTopicMessages", s.unpinAllForumTopicMessages)
}

// topicIconColors are the only icon colors createForumTopic accepts.
func topicIconColors() []int {
	return []int{0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F}
}

// forumLocked resolves chat_id to a forum the bot is in.
func (s *Server) forumLocked(b *bot, p *params) (*chat, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	if !c.IsForum {
		return nil, badRequest("the chat is not a forum")
	}
	return c, nil
}

// topicLocked resolves message_thread_id to a live topic the bot may manage:
// with can_manage_topics, or the bot that created it (except for deletion).
func (s *Server) topicLocked(b *bot, c *chat, p *params, creatorMay bool) (*topic, error) {
	id, err := p.IntOr("message_thread_id", 0)
	if err != nil {
		return nil, err
	}
	t := c.topics[id]
	if t == nil || t.deleted {
		return nil, errThreadNotFound()
	}
	r := botRightsLocked(c, b.ID)
	if (r == nil || !r.CanManageTopics) && !(creatorMay && t.creator == b.ID) {
		return nil, badRequest("not enough rights to manage topics")
	}
	return t, nil
}

func (s *Server) createForumTopic(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.forumLocked(b, p)
	if err != nil {
		return nil, err
	}
	if r := botRightsLocked(c, b.ID); r == nil || !r.CanManageTopics {
		return nil, badRequest("not enough rights to create a topic")
	}
	name := p.String("name")
	if n := textLen(name); n < 1 || n > 128 {
		return nil, badRequest("TOPIC_TITLE_EMPTY")
	}
	color, err := p.IntOr("icon_color", int64(topicIconColors()[0]))
	if err != nil {
		return nil, err
	}
	if !slices.Contains(topicIconColors(), int(color)) {
		return nil, badRequest("TOPIC_ICON_COLOR_INVALID")
	}
	emoji := p.String("icon_custom_emoji_id")
	// The forum_topic_created service message counts against the group's budget.
	if err := s.admitLocked(b, c, 1); err != nil {
		return nil, err
	}
	created := &tgForumTopicCreated{Name: name, IconColor: int(color), IconCustomEmojiID: emoji}
	m := s.addMessageLocked(c, &message{tg: tgMessage{ForumTopicCreated: created}, senderBot: b.ID})
	m.tg.MessageThreadID, m.tg.IsTopicMessage = m.tg.MessageID, true
	t := &topic{id: m.tg.MessageID, name: name, iconColor: int(color), iconEmoji: emoji, creator: b.ID}
	c.topics[t.id] = t
	s.shareServiceLocked(m, b.ID)
	return tgForumTopic{MessageThreadID: t.id, Name: name, IconColor: t.iconColor, IconCustomEmojiID: emoji}, nil
}

// shareServiceLocked shows a bot-caused service message to the chat's other bots.
func (s *Server) shareServiceLocked(m *message, actor int64) {
	payload := s.renderLocked(m)
	for _, id := range m.chat.activeBots() {
		if id != actor {
			s.emitLocked(s.st.bots[id], "message", payload)
		}
	}
}

func (s *Server) editForumTopic(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.forumLocked(b, p)
	if err != nil {
		return nil, err
	}
	t, err := s.topicLocked(b, c, p, true)
	if err != nil {
		return nil, err
	}
	edited := &tgForumTopicEdited{}
	changed := false
	if name := p.String("name"); p.has("name") && name != "" {
		if textLen(name) > 128 {
			return nil, badRequest("TOPIC_TITLE_EMPTY")
		}
		if name != t.name {
			edited.Name, changed = name, true
		}
	}
	if p.has("icon_custom_emoji_id") {
		emoji := p.String("icon_custom_emoji_id")
		if emoji != t.iconEmoji {
			edited.IconCustomEmojiID, changed = &emoji, true
		}
	}
	if !changed {
		return nil, badRequest("TOPIC_NOT_MODIFIED")
	}
	if err := s.admitLocked(b, c, 1); err != nil {
		return nil, err
	}
	if edited.Name != "" {
		t.name = edited.Name
	}
	if edited.IconCustomEmojiID != nil {
		t.iconEmoji = *edited.IconCustomEmojiID
	}
	m := s.addMessageLocked(c, &message{tg: tgMessage{MessageThreadID: t.id, ForumTopicEdited: edited}, senderBot: b.ID})
	s.shareServiceLocked(m, b.ID)
	return true, nil
}

func (s *Server) setTopicClosed(closed bool) methodFunc {
	return func(_ context.Context, b *bot, p *params) (any, error) {
		c, err := s.forumLocked(b, p)
		if err != nil {
			return nil, err
		}
		t, err := s.topicLocked(b, c, p, true)
		if err != nil {
			return nil, err
		}
		if t.closed == closed {
			return nil, badRequest("TOPIC_NOT_MODIFIED")
		}
		if err := s.admitLocked(b, c, 1); err != nil {
			return nil, err
		}
		t.closed = closed
		tg := tgMessage{MessageThreadID: t.id, ForumTopicReopened: &struct{}{}}
		if closed {
			tg = tgMessage{MessageThreadID: t.id, ForumTopicClosed: &struct{}{}}
		}
		m := s.addMessageLocked(c, &message{tg: tg, senderBot: b.ID})
		s.shareServiceLocked(m, b.ID)
		return true, nil
	}
}

func (s *Server) deleteForumTopic(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.forumLocked(b, p)
	if err != nil {
		return nil, err
	}
	t, err := s.topicLocked(b, c, p, false)
	if err != nil {
		return nil, err
	}
	if r := botRightsLocked(c, b.ID); r == nil || !r.CanDeleteMessages {
		return nil, badRequest("not enough rights to delete a topic")
	}
	s.deleteTopicLocked(c, t)
	return true, nil
}

func (s *Server) deleteTopicLocked(c *chat, t *topic) {
	t.deleted = true
	for _, m := range c.messages {
		if m.tg.MessageThreadID == t.id {
			m.deleted = true
		}
	}
}

func (s *Server) unpinAllForumTopicMessages(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.forumLocked(b, p)
	if err != nil {
		return nil, err
	}
	if _, err := s.topicLocked(b, c, p, false); err != nil {
		return nil, err
	}
	return true, nil
}

// topicIconStickers is the fixed icon set; ids are stable so demos may hard-code them.
func topicIconStickers() []tgSticker {
	icons := []struct{ emoji, id string }{
		{"❗", "5377498341074542641"}, {"📝", "5373251851074415873"}, {"🏁", "5408906741125490282"},
		{"💬", "5417915203100613993"}, {"✅", "5237699328843200968"}, {"🔥", "5312241539987020022"},
		{"❓", "5377316857231450742"}, {"⚡", "5312016608254762256"}, {"📰", "5434144690511290129"},
	}
	out := make([]tgSticker, 0, len(icons))
	for i, ic := range icons {
		out = append(out, tgSticker{
			FileID: fmt.Sprintf("CAACAgIAAxUAAWTopicIcon%02d", i), FileUniqueID: fmt.Sprintf("AgADTopicIcon%02d", i),
			Type: "custom_emoji", Width: 512, Height: 512, IsAnimated: true, Emoji: ic.emoji,
			SetName: "Topics", CustomEmojiID: ic.id,
		})
	}
	return out
}

func (s *Server) getForumTopicIconStickers(context.Context, *bot, *params) (any, error) {
	return topicIconStickers(), nil
}

// TopicInfo describes a forum topic for the control API.
type TopicInfo struct {
	ID        int64  `json:"message_thread_id"`
	Name      string `json:"name"`
	IconColor int    `json:"icon_color"`
	IconEmoji string `json:"icon_custom_emoji_id,omitempty"`
	Closed    bool   `json:"closed"`
	Deleted   bool   `json:"deleted"`
}

// Topics lists a forum's topics, deleted ones included.
func (s *Server) Topics(chatID int64) []TopicInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.groups[chatID]
	if c == nil {
		return nil
	}
	out := []TopicInfo{}
	for _, t := range c.topics {
		out = append(out, TopicInfo{ID: t.id, Name: t.name, IconColor: t.iconColor, IconEmoji: t.iconEmoji, Closed: t.closed, Deleted: t.deleted})
	}
	sortBy(out, func(t TopicInfo) int64 { return t.ID })
	return out
}

// DeleteTopic deletes a topic as a human admin would; bots then get
// "message thread not found" when sending into it.
func (s *Server) DeleteTopic(chatID, threadID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.groups[chatID]
	if c == nil || c.topics[threadID] == nil {
		return fmt.Errorf("tgsandbox: delete topic: topic %d in chat %d not found", threadID, chatID)
	}
	s.deleteTopicLocked(c, c.topics[threadID])
	return nil
}

// CreateTopic creates a topic as a human admin (the chat's creator) would.
func (s *Server) CreateTopic(chatID int64, name string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.groups[chatID]
	if c == nil || !c.IsForum {
		return 0, fmt.Errorf("tgsandbox: create topic: chat %d is not a forum", chatID)
	}
	created := &tgForumTopicCreated{Name: name, IconColor: topicIconColors()[0]}
	m := s.addMessageLocked(c, &message{tg: tgMessage{ForumTopicCreated: created}, senderUser: c.creator})
	m.tg.MessageThreadID, m.tg.IsTopicMessage = m.tg.MessageID, true
	c.topics[m.tg.MessageID] = &topic{id: m.tg.MessageID, name: name, iconColor: created.IconColor}
	s.announceLocked(m, "message")
	return m.tg.MessageID, nil
}
