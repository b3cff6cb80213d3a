package tgsandbox

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// PressButton presses an inline button carrying callbackData on a bot's
// message; chatID is the bot id for private chats or the group id. It
// returns the callback query id; CallbackAnswer later tells what the bot said.
func (s *Server) PressButton(userID, chatID, messageID int64, callbackData string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[userID]
	if u == nil {
		return "", fmt.Errorf("tgsandbox: press: user %d not found", userID)
	}
	c, err := s.userChatLocked(u, chatID)
	if err != nil {
		return "", err
	}
	m := c.byID[messageID]
	if m == nil || m.deleted || m.senderBot == 0 {
		return "", fmt.Errorf("tgsandbox: press: bot message %d not found in chat %d", messageID, chatID)
	}
	if !hasCallbackButton(m.tg.ReplyMarkup, callbackData) {
		return "", fmt.Errorf("tgsandbox: press: message %d has no button with callback_data %q", messageID, callbackData)
	}
	b := s.st.bots[m.senderBot]
	id := strconv.FormatInt(s.st.next()*1000003+u.ID%1000, 10) + randomDigits(6)
	s.st.callbacks[id] = &callbackQuery{id: id, botID: b.ID, created: s.clock.Now(), chatID: c.ID, msgID: messageID, fromUser: u.ID}
	msg := s.renderLocked(m)
	s.emitLocked(b, "callback_query", tgCallbackQuery{
		ID: id, From: u.tg(), Message: &msg, Data: callbackData,
		ChatInstance: strconv.FormatInt(-(c.ID*7919+b.ID)%1_000_000_000_000_000, 10),
	})
	return id, nil
}

func randomDigits(n int) string {
	r := []byte(randomString(n))
	for i := range r {
		r[i] = '0' + r[i]%10
	}
	return string(r)
}

func hasCallbackButton(markup json.RawMessage, data string) bool {
	var m replyMarkup
	if json.Unmarshal(markup, &m) != nil {
		return false
	}
	for _, row := range m.InlineKeyboard {
		for _, bt := range row {
			if bt.CallbackData != nil && *bt.CallbackData == data {
				return true
			}
		}
	}
	return false
}

// CallbackAnswer returns what the bot answered to a callback query;
// found is false for unknown ids.
func (s *Server) CallbackAnswer(queryID string) (answer CallbackAnswer, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.st.callbacks[queryID]
	if q == nil {
		return CallbackAnswer{}, false
	}
	return q.answer, true
}

// ReplyKeyboard returns the reply keyboard currently shown to a user in the
// private chat with a bot (nil when none or removed).
func (s *Server) ReplyKeyboard(botID, userID int64) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.st.privates[privKey{botID, userID}]; c != nil {
		return c.keyboard
	}
	return nil
}
