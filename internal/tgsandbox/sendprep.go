package tgsandbox

import (
	"encoding/json"
	"strings"
)

// outgoing is the validated common part of every send* call.
type outgoing struct {
	c        *chat
	thread   int64
	replyTo  int64
	markup   json.RawMessage // inline keyboard, echoed in the message
	keyboard json.RawMessage // reply keyboard / remove / force reply
	hasKB    bool
}

// prepareSendLocked validates chat_id, message_thread_id, reply parameters
// and reply_markup, in the order Telegram reports them.
func (s *Server) prepareSendLocked(b *bot, p *params) (*outgoing, error) {
	c, err := s.chatParamLocked(b, p, "chat_id")
	if err != nil {
		return nil, err
	}
	o := &outgoing{c: c}
	if o.thread, err = s.threadLocked(b, c, p); err != nil {
		return nil, err
	}
	if err := s.replyLocked(c, p, o); err != nil {
		return nil, err
	}
	if o.markup, o.keyboard, o.hasKB, err = parseMarkup(p); err != nil {
		return nil, err
	}
	return o, nil
}

// threadLocked validates message_thread_id against the chat's forum topics.
func (s *Server) threadLocked(b *bot, c *chat, p *params) (int64, error) {
	id, err := p.IntOr("message_thread_id", 0)
	if err != nil {
		return 0, err
	}
	if !c.IsForum || id == 0 || id == 1 {
		// Thread ids only mean topics in forums; id 1 is the General topic.
		return 0, nil
	}
	t := c.topics[id]
	if t == nil || t.deleted {
		return 0, errThreadNotFound()
	}
	if t.closed {
		if r := botRightsLocked(c, b.ID); r == nil || !r.CanManageTopics {
			return 0, badRequest("TOPIC_CLOSED")
		}
	}
	return id, nil
}

type replyParameters struct {
	MessageID                int64 `json:"message_id"`
	ChatID                   any   `json:"chat_id"`
	AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
}

func (s *Server) replyLocked(c *chat, p *params, o *outgoing) error {
	var rp replyParameters
	found, err := p.Decode("reply_parameters", &rp)
	if err != nil {
		return err
	}
	if !found {
		if rp.MessageID, err = p.IntOr("reply_to_message_id", 0); err != nil {
			return err
		}
		rp.AllowSendingWithoutReply = p.Bool("allow_sending_without_reply")
	}
	if rp.MessageID == 0 {
		return nil
	}
	m := c.byID[rp.MessageID]
	if m == nil || m.deleted {
		if rp.AllowSendingWithoutReply {
			return nil
		}
		return errReplyNotFound()
	}
	o.replyTo = rp.MessageID
	if o.thread == 0 && c.IsForum {
		// A reply lands in the topic of the message it answers.
		o.thread = m.tg.MessageThreadID
	}
	return nil
}

type inlineButton struct {
	Text                         string          `json:"text"`
	CallbackData                 *string         `json:"callback_data"`
	URL                          string          `json:"url"`
	WebApp                       json.RawMessage `json:"web_app"`
	LoginURL                     json.RawMessage `json:"login_url"`
	SwitchInlineQuery            *string         `json:"switch_inline_query"`
	SwitchInlineQueryCurrentChat *string         `json:"switch_inline_query_current_chat"`
	SwitchInlineQueryChosenChat  json.RawMessage `json:"switch_inline_query_chosen_chat"`
	CopyText                     json.RawMessage `json:"copy_text"`
	CallbackGame                 json.RawMessage `json:"callback_game"`
	Pay                          bool            `json:"pay"`
}

func (bt inlineButton) hasAction() bool {
	return bt.CallbackData != nil || bt.URL != "" || bt.WebApp != nil || bt.LoginURL != nil ||
		bt.SwitchInlineQuery != nil || bt.SwitchInlineQueryCurrentChat != nil ||
		bt.SwitchInlineQueryChosenChat != nil || bt.CopyText != nil || bt.CallbackGame != nil || bt.Pay
}

type replyMarkup struct {
	InlineKeyboard [][]inlineButton    `json:"inline_keyboard"`
	Keyboard       [][]json.RawMessage `json:"keyboard"`
	RemoveKeyboard bool                `json:"remove_keyboard"`
	ForceReply     bool                `json:"force_reply"`
}

// parseMarkup splits reply_markup into the inline keyboard echoed in the
// message and the reply keyboard that changes the user's input field.
func parseMarkup(p *params) (inline, keyboard json.RawMessage, hasKB bool, err error) {
	raw, ok := p.raw("reply_markup")
	if !ok {
		return nil, nil, false, nil
	}
	var inner string
	if json.Unmarshal(raw, &inner) == nil {
		if strings.TrimSpace(inner) == "" {
			return nil, nil, false, nil
		}
		raw = json.RawMessage(inner)
	}
	var m replyMarkup
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, false, badRequest("can't parse reply keyboard markup JSON object")
	}
	switch {
	case m.InlineKeyboard != nil:
		for _, row := range m.InlineKeyboard {
			for _, bt := range row {
				if !bt.hasAction() {
					return nil, nil, false, badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
				}
				if bt.CallbackData != nil && (len(*bt.CallbackData) < 1 || len(*bt.CallbackData) > 64) {
					return nil, nil, false, badRequest("BUTTON_DATA_INVALID")
				}
			}
		}
		return compactJSON(raw), nil, false, nil
	case m.Keyboard != nil, m.RemoveKeyboard, m.ForceReply:
		return nil, compactJSON(raw), true, nil
	}
	return nil, nil, false, badRequest("can't parse reply keyboard markup JSON object")
}

// commitLocked stores a bot's message built from content and the validated
// outgoing parameters.
func (s *Server) commitLocked(b *bot, o *outgoing, content tgMessage) *message {
	content.MessageThreadID = o.thread
	content.ReplyMarkup = o.markup
	m := s.addMessageLocked(o.c, &message{tg: content, senderBot: b.ID, replyTo: o.replyTo, keyboard: o.keyboard})
	if o.hasKB {
		var rm replyMarkup
		_ = json.Unmarshal(o.keyboard, &rm)
		if rm.RemoveKeyboard {
			o.c.keyboard = nil
		} else if rm.Keyboard != nil {
			o.c.keyboard = o.keyboard
		}
	}
	return m
}

// admitLocked charges n messages against the flood limits.
func (s *Server) admitLocked(b *bot, c *chat, n int) error {
	if e := s.limiter.admit(s.clock.Now(), b.ID, c, n); e != nil {
		return e
	}
	return nil
}

// textParams reads text/caption with parse_mode and entities.
func textParams(p *params, textKey, entitiesKey string) (string, json.RawMessage, error) {
	text := p.String(textKey)
	var entities json.RawMessage
	if raw, ok := p.raw(entitiesKey); ok {
		var arr []json.RawMessage
		var inner string
		if json.Unmarshal(raw, &inner) == nil {
			raw = json.RawMessage(inner)
		}
		if json.Unmarshal(raw, &arr) != nil {
			return "", nil, badRequest("can't parse entities JSON object")
		}
		if len(arr) > 0 {
			entities = compactJSON(raw)
		}
	}
	if entities == nil {
		parsed, ents, err := parseMode(p.String("parse_mode"), text)
		if err != nil {
			return "", nil, err
		}
		text, entities = parsed, ents
	}
	return text, entities, nil
}
