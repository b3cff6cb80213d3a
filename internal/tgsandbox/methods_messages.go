package tgsandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

func (s *Server) addMessageMethods(add func(string, methodFunc)) {
	add("sendMessage", s.sendMessage)
	add("forwardMessage", s.forwardMessage)
	add("forwardMessages", s.forwardMessages)
	add("copyMessage", s.copyMessage)
	add("copyMessages", s.copyMessages)
	add("editMessageText", s.editMessageText)
	add("editMessageCaption", s.editMessageCaption)
	add("editMessageReplyMarkup", s.editMessageReplyMarkup)
	add("deleteMessage", s.deleteMessage)
	add("deleteMessages", s.deleteMessages)
	add("answerCallbackQuery", s.answerCallbackQuery)
	add("setMessageReaction", s.setMessageReaction)
	add("sendChatAction", s.sendChatAction)
}

func (s *Server) sendMessage(_ context.Context, b *bot, p *params) (any, error) {
	o, err := s.prepareSendLocked(b, p)
	if err != nil {
		return nil, err
	}
	text, entities, err := textParams(p, "text", "entities")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, errTextEmpty()
	}
	if textLen(text) > maxTextLen {
		return nil, errTextTooLong()
	}
	if err := s.admitLocked(b, o.c, 1); err != nil {
		return nil, err
	}
	m := s.commitLocked(b, o, tgMessage{Text: text, Entities: entities})
	return s.renderLocked(m), nil
}

func (s *Server) sendChatAction(_ context.Context, b *bot, p *params) (any, error) {
	if _, err := s.chatParamLocked(b, p, "chat_id"); err != nil {
		return nil, err
	}
	return true, nil
}

// sourceLocked finds a message in from_chat_id that the bot can copy or forward.
func (s *Server) sourceLocked(b *bot, p *params, id int64, notFound string) (*message, error) {
	from, err := s.chatParamLocked(b, p, "from_chat_id")
	if err != nil {
		return nil, err
	}
	m := from.byID[id]
	if m == nil || m.deleted {
		return nil, badRequest(notFound)
	}
	return m, nil
}

// messageIDs reads message_ids: 1..100 ids in strictly increasing order.
func messageIDs(p *params) ([]int64, error) {
	var ids []int64
	if _, err := p.Decode("message_ids", &ids); err != nil {
		return nil, err
	}
	if len(ids) == 0 || len(ids) > 100 {
		return nil, badRequest("message identifiers are not specified")
	}
	if !slices.IsSorted(ids) {
		return nil, badRequest("message identifiers must be in a strictly increasing order")
	}
	return ids, nil
}

// copyContent strips what a copy does not keep: author, date, forwarding and markup.
func copyContent(src tgMessage) tgMessage {
	return tgMessage{
		Text: src.Text, Entities: src.Entities, Caption: src.Caption, CaptionEntities: src.CaptionEntities,
		Photo: src.Photo, Document: src.Document, Video: src.Video, Voice: src.Voice, Sticker: src.Sticker,
		Contact: src.Contact, Location: src.Location,
	}
}

func (s *Server) forwardOriginLocked(src *message) *tgForwardOrigin {
	if src.tg.ForwardOrigin != nil {
		return src.tg.ForwardOrigin
	}
	o := &tgForwardOrigin{Type: "user", Date: src.tg.Date, SenderUser: src.tg.From}
	if src.chat.Type == "channel" {
		c := src.chat.tg()
		o = &tgForwardOrigin{Type: "channel", Date: src.tg.Date, Chat: &c, MessageID: src.tg.MessageID}
	}
	return o
}

func (s *Server) forwardMessage(_ context.Context, b *bot, p *params) (any, error) {
	o, err := s.prepareSendLocked(b, p)
	if err != nil {
		return nil, err
	}
	id, err := p.IntOr("message_id", 0)
	if err != nil {
		return nil, err
	}
	src, err := s.sourceLocked(b, p, id, "message to forward not found")
	if err != nil {
		return nil, err
	}
	if src.tg.serviceKind() != "" {
		return nil, badRequest("message can't be forwarded")
	}
	if err := s.admitLocked(b, o.c, 1); err != nil {
		return nil, err
	}
	content := copyContent(src.tg)
	content.ForwardOrigin = s.forwardOriginLocked(src)
	return s.renderLocked(s.commitLocked(b, o, content)), nil
}

func (s *Server) forwardMessages(_ context.Context, b *bot, p *params) (any, error) {
	return s.copyMany(b, p, true)
}

func (s *Server) copyMessages(_ context.Context, b *bot, p *params) (any, error) {
	return s.copyMany(b, p, false)
}

// copyMany copies or forwards several messages; missing ones are skipped
// and albums stay albums, as Telegram does.
func (s *Server) copyMany(b *bot, p *params, forward bool) (any, error) {
	o, err := s.prepareSendLocked(b, p)
	if err != nil {
		return nil, err
	}
	ids, err := messageIDs(p)
	if err != nil {
		return nil, err
	}
	from, err := s.chatParamLocked(b, p, "from_chat_id")
	if err != nil {
		return nil, err
	}
	var srcs []*message
	for _, id := range ids {
		if m := from.byID[id]; m != nil && !m.deleted && m.tg.serviceKind() == "" {
			srcs = append(srcs, m)
		}
	}
	if len(srcs) == 0 {
		return nil, badRequest("there are no messages to " + map[bool]string{true: "forward", false: "copy"}[forward])
	}
	if err := s.admitLocked(b, o.c, len(srcs)); err != nil {
		return nil, err
	}
	groups := map[string]string{}
	out := []tgMessageID{}
	for _, src := range srcs {
		content := copyContent(src.tg)
		if forward {
			content.ForwardOrigin = s.forwardOriginLocked(src)
		} else if p.Bool("remove_caption") {
			content.Caption, content.CaptionEntities = "", nil
		}
		if g := src.tg.MediaGroupID; g != "" {
			if groups[g] == "" {
				groups[g] = s.newMediaGroupIDLocked()
			}
			content.MediaGroupID = groups[g]
		}
		m := s.commitLocked(b, &outgoing{c: o.c, thread: o.thread}, content)
		out = append(out, tgMessageID{m.tg.MessageID})
	}
	return out, nil
}

func (s *Server) newMediaGroupIDLocked() string {
	return fmt.Sprintf("13%015d", s.st.next())
}

func (s *Server) copyMessage(_ context.Context, b *bot, p *params) (any, error) {
	o, err := s.prepareSendLocked(b, p)
	if err != nil {
		return nil, err
	}
	id, err := p.IntOr("message_id", 0)
	if err != nil {
		return nil, err
	}
	src, err := s.sourceLocked(b, p, id, "message to copy not found")
	if err != nil {
		return nil, err
	}
	if src.tg.serviceKind() != "" {
		return nil, badRequest("message can't be copied")
	}
	content := copyContent(src.tg)
	if p.has("caption") || p.Bool("remove_caption") {
		if content.Text != "" {
			// Text messages have no caption to replace; Telegram ignores it.
		} else {
			cap, ents, err := textParams(p, "caption", "caption_entities")
			if err != nil {
				return nil, err
			}
			if textLen(cap) > maxCaptionLen {
				return nil, errCaptionTooLong()
			}
			content.Caption, content.CaptionEntities = cap, ents
		}
	}
	if err := s.admitLocked(b, o.c, 1); err != nil {
		return nil, err
	}
	m := s.commitLocked(b, o, content)
	return tgMessageID{m.tg.MessageID}, nil
}

// editableLocked finds a message the bot may edit.
func (s *Server) editableLocked(b *bot, p *params) (*message, error) {
	if p.String("inline_message_id") != "" {
		return nil, badRequest("MESSAGE_ID_INVALID")
	}
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	id, err := p.IntOr("message_id", 0)
	if err != nil {
		return nil, err
	}
	m := c.byID[id]
	if m == nil || m.deleted {
		return nil, errMessageToEdit()
	}
	if m.senderBot != b.ID || m.tg.serviceKind() != "" {
		return nil, errMessageCantEdit()
	}
	return m, nil
}

// applyEditLocked stores the new version if anything changed.
func (s *Server) applyEditLocked(m *message, next tgMessage) (any, error) {
	if next.Text == m.tg.Text && bytes.Equal(next.Entities, m.tg.Entities) && next.Caption == m.tg.Caption &&
		bytes.Equal(next.CaptionEntities, m.tg.CaptionEntities) && bytes.Equal(next.ReplyMarkup, m.tg.ReplyMarkup) {
		return nil, errNotModified()
	}
	m.history = append(m.history, m.tg)
	next.EditDate = s.clock.Now().Unix()
	m.tg = next
	return s.renderLocked(m), nil
}

func (s *Server) editMessageText(_ context.Context, b *bot, p *params) (any, error) {
	m, err := s.editableLocked(b, p)
	if err != nil {
		return nil, err
	}
	if m.tg.Text == "" {
		return nil, badRequest("there is no text in the message to edit")
	}
	text, entities, err := textParams(p, "text", "entities")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, errTextEmpty()
	}
	if textLen(text) > maxTextLen {
		return nil, errTextTooLong()
	}
	inline, _, _, err := parseMarkup(p)
	if err != nil {
		return nil, err
	}
	next := m.tg
	next.Text, next.Entities, next.ReplyMarkup = text, entities, inline
	return s.applyEditLocked(m, next)
}

func (s *Server) editMessageCaption(_ context.Context, b *bot, p *params) (any, error) {
	m, err := s.editableLocked(b, p)
	if err != nil {
		return nil, err
	}
	if m.tg.Text != "" {
		return nil, badRequest("there is no caption in the message to edit")
	}
	cap, ents, err := textParams(p, "caption", "caption_entities")
	if err != nil {
		return nil, err
	}
	if textLen(cap) > maxCaptionLen {
		return nil, errCaptionTooLong()
	}
	inline, _, _, err := parseMarkup(p)
	if err != nil {
		return nil, err
	}
	next := m.tg
	next.Caption, next.CaptionEntities, next.ReplyMarkup = cap, ents, inline
	return s.applyEditLocked(m, next)
}

func (s *Server) editMessageReplyMarkup(_ context.Context, b *bot, p *params) (any, error) {
	m, err := s.editableLocked(b, p)
	if err != nil {
		return nil, err
	}
	inline, _, hasKB, err := parseMarkup(p)
	if err != nil {
		return nil, err
	}
	if hasKB {
		return nil, badRequest("inline keyboard expected")
	}
	next := m.tg
	next.ReplyMarkup = inline
	return s.applyEditLocked(m, next)
}

// deletableLocked checks Telegram's deletion rules: own messages and, in
// groups, others' with can_delete_messages; nothing older than 48 h.
func (s *Server) deletableLocked(b *bot, c *chat, id int64) (*message, error) {
	m := c.byID[id]
	if m == nil || m.deleted {
		return nil, errMessageToDelete()
	}
	if m.tg.ForumTopicCreated != nil {
		return nil, errMessageCantDelete()
	}
	if c.isGroup() && m.senderBot != b.ID {
		if r := botRightsLocked(c, b.ID); r == nil || !r.CanDeleteMessages {
			return nil, errMessageCantDelete()
		}
	}
	if s.clock.Now().Sub(time.Unix(m.tg.Date, 0)) > 48*time.Hour {
		return nil, badRequest("message can't be deleted for everyone")
	}
	return m, nil
}

func (s *Server) deleteMessage(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	id, err := p.IntOr("message_id", 0)
	if err != nil {
		return nil, err
	}
	m, err := s.deletableLocked(b, c, id)
	if err != nil {
		return nil, err
	}
	m.deleted = true
	return true, nil
}

func (s *Server) deleteMessages(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	var ids []int64
	if _, err := p.Decode("message_ids", &ids); err != nil {
		return nil, err
	}
	if len(ids) == 0 || len(ids) > 100 {
		return nil, badRequest("message identifiers are not specified")
	}
	// Telegram deletes what it can and skips the rest silently.
	for _, id := range ids {
		if m, err := s.deletableLocked(b, c, id); err == nil {
			m.deleted = true
		}
	}
	return true, nil
}

func (s *Server) answerCallbackQuery(_ context.Context, b *bot, p *params) (any, error) {
	id := p.String("callback_query_id")
	q := s.st.callbacks[id]
	if q == nil || q.botID != b.ID || q.answer.Answered || s.clock.Now().Sub(q.created) > s.opts.CallbackTTL {
		return nil, errQueryTooOld()
	}
	cacheTime, err := p.IntOr("cache_time", 0)
	if err != nil {
		return nil, err
	}
	text := p.String("text")
	if textLen(text) > 200 {
		return nil, badRequest("MESSAGE_TOO_LONG")
	}
	q.answer = CallbackAnswer{Answered: true, Text: text, ShowAlert: p.Bool("show_alert"), URL: p.String("url"), CacheTime: int(cacheTime)}
	return true, nil
}

func (s *Server) setMessageReaction(_ context.Context, b *bot, p *params) (any, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	id, err := p.IntOr("message_id", 0)
	if err != nil {
		return nil, err
	}
	m := c.byID[id]
	if m == nil || m.deleted {
		return nil, badRequest("message to react not found")
	}
	var reactions []json.RawMessage
	if _, err := p.Decode("reaction", &reactions); err != nil {
		return nil, err
	}
	if len(reactions) > 1 {
		return nil, badRequest("REACTIONS_TOO_MANY")
	}
	m.reactions = nil
	if len(reactions) > 0 {
		m.reactions, _ = json.Marshal(reactions)
	}
	return true, nil
}
