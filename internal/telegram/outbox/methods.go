package outbox

import (
	"encoding/json"
	"strconv"
)

// cost is what one call counts against the flood budgets: chat is messages
// that appear in the destination (a media group counts each item, a forum
// topic change posts a service message), bot is calls against the bot budget.
type cost struct{ chat, bot int }

type methodSpec struct {
	thread  bool   // takes message_thread_id
	noChat  bool   // takes no chat_id (answerCallbackQuery)
	chat    int    // fixed chat cost
	bot     int    // fixed bot cost
	listOf  string // parameter whose length is the cost (media, message_ids)
	paid    bool   // takes allow_paid_broadcast
	own     bool   // ordered against nothing: a destination of its own
	service bool   // posts a service message into the topic (see service.go)
}

func (s methodSpec) costOf(params json.RawMessage) cost {
	c := cost{chat: s.chat, bot: s.bot}
	if s.listOf != "" {
		var obj map[string]json.RawMessage
		var list []json.RawMessage
		if json.Unmarshal(params, &obj) == nil && json.Unmarshal(obj[s.listOf], &list) == nil && len(list) > 1 {
			c.chat = len(list)
		}
	}
	return c
}

var (
	sendSpec  = methodSpec{thread: true, chat: 1, bot: 1, paid: true}
	editSpec  = methodSpec{bot: 1}
	topicSpec = methodSpec{thread: true, chat: 1, bot: 1, service: true}
)

// methods is the supported set. Anything else is refused at Enqueue, so a
// caller's typo fails loudly instead of in a worker.
var methods = map[string]methodSpec{
	"sendMessage":            sendSpec,
	"sendPhoto":              sendSpec,
	"sendDocument":           sendSpec,
	"sendVideo":              sendSpec,
	"sendAnimation":          sendSpec,
	"sendAudio":              sendSpec,
	"sendVoice":              sendSpec,
	"sendVideoNote":          sendSpec,
	"sendSticker":            sendSpec,
	"sendContact":            sendSpec,
	"sendLocation":           sendSpec,
	"sendVenue":              sendSpec,
	"sendPoll":               sendSpec,
	"sendDice":               sendSpec,
	"copyMessage":            sendSpec,
	"forwardMessage":         {thread: true, chat: 1, bot: 1},
	"sendMediaGroup":         {thread: true, chat: 1, bot: 1, listOf: "media", paid: true},
	"copyMessages":           {thread: true, chat: 1, bot: 1, listOf: "message_ids"},
	"forwardMessages":        {thread: true, chat: 1, bot: 1, listOf: "message_ids"},
	"editMessageText":        editSpec,
	"editMessageCaption":     editSpec,
	"editMessageReplyMarkup": editSpec,
	"editMessageMedia":       editSpec,
	"deleteMessage":          editSpec,
	"deleteMessages":         editSpec,
	"setMessageReaction":     editSpec,
	"unpinChatMessage":       editSpec,
	"pinChatMessage":         {chat: 1, bot: 1},            // posts a service message
	"createForumTopic":       {chat: 1, bot: 1, own: true}, // a new conversation
	"editForumTopic":         topicSpec,
	"closeForumTopic":        topicSpec,
	"reopenForumTopic":       topicSpec,
	"deleteForumTopic":       {thread: true, bot: 1},
	"sendChatAction":         {thread: true},
	"answerCallbackQuery":    {noChat: true},
}

// body builds the request: the caller's params plus chat_id and
// message_thread_id, and allow_paid_broadcast for bulk sends of bots that
// enabled paid broadcasts.
func body(method string, chatID int64, threadID int, params json.RawMessage, paidBulk bool) ([]byte, error) {
	spec := methods[method]
	obj := map[string]json.RawMessage{}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &obj); err != nil {
			return nil, err
		}
	}
	if !spec.noChat {
		obj["chat_id"] = json.RawMessage(strconv.FormatInt(chatID, 10))
	}
	if spec.thread && threadID != 0 {
		obj["message_thread_id"] = json.RawMessage(strconv.Itoa(threadID))
	}
	if paidBulk && spec.paid {
		if _, set := obj["allow_paid_broadcast"]; !set {
			obj["allow_paid_broadcast"] = json.RawMessage("true")
		}
	}
	return json.Marshal(obj)
}

// resultIDs extracts what features map results by: the message ids a call
// produced (one for a send, several for albums and copyMessages) and the
// thread id of a created topic.
func resultIDs(result json.RawMessage) (msgIDs []int64, topicID int) {
	type item struct {
		MessageID       int64 `json:"message_id"`
		MessageThreadID int   `json:"message_thread_id"`
		Name            string
	}
	var one item
	if json.Unmarshal(result, &one) == nil {
		if one.MessageID != 0 {
			return []int64{one.MessageID}, 0
		}
		if one.MessageThreadID != 0 && one.Name != "" {
			return nil, one.MessageThreadID
		}
		return nil, 0
	}
	var many []item
	if json.Unmarshal(result, &many) == nil {
		for _, it := range many {
			if it.MessageID != 0 {
				msgIDs = append(msgIDs, it.MessageID)
			}
		}
	}
	return msgIDs, 0
}
