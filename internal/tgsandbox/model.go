package tgsandbox

import (
	"encoding/json"
	"time"
)

// Bot is a bot account known to the sandbox. ID is the numeric prefix of Token,
// as in Telegram.
type Bot struct {
	ID        int64  `json:"id"`
	Token     string `json:"token"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
}

// User is a human account driven through the control API.
type User struct {
	ID           int64  `json:"id"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

// Chat describes a group, supergroup or private chat.
type Chat struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Title    string `json:"title,omitempty"`
	Username string `json:"username,omitempty"`
	IsForum  bool   `json:"is_forum,omitempty"`
}

// Rights are the administrator rights of a bot in a chat, with Telegram's
// ChatAdministratorRights field names.
type Rights struct {
	CanManageChat       bool `json:"can_manage_chat"`
	CanDeleteMessages   bool `json:"can_delete_messages"`
	CanManageVideoChats bool `json:"can_manage_video_chats"`
	CanRestrictMembers  bool `json:"can_restrict_members"`
	CanPromoteMembers   bool `json:"can_promote_members"`
	CanChangeInfo       bool `json:"can_change_info"`
	CanInviteUsers      bool `json:"can_invite_users"`
	CanPostStories      bool `json:"can_post_stories"`
	CanEditStories      bool `json:"can_edit_stories"`
	CanDeleteStories    bool `json:"can_delete_stories"`
	CanPinMessages      bool `json:"can_pin_messages"`
	CanManageTopics     bool `json:"can_manage_topics"`
}

// AllRights returns every administrator right, what a helpdesk bot is usually given.
func AllRights() *Rights {
	return &Rights{
		CanManageChat: true, CanDeleteMessages: true, CanManageVideoChats: true,
		CanRestrictMembers: true, CanPromoteMembers: false, CanChangeInfo: true,
		CanInviteUsers: true, CanPostStories: true, CanEditStories: true,
		CanDeleteStories: true, CanPinMessages: true, CanManageTopics: true,
	}
}

// Sent identifies a message created through the control API.
type Sent struct {
	ChatID    int64 `json:"chat_id"`
	MessageID int64 `json:"message_id"`
	ThreadID  int64 `json:"message_thread_id,omitempty"`
}

// Entry is one message of a transcript, with its edit history.
type Entry struct {
	ChatID    int64     `json:"chat_id"`
	BotID     int64     `json:"bot_id,omitempty"` // private chats: the bot on the other side
	MessageID int64     `json:"message_id"`
	ThreadID  int64     `json:"message_thread_id,omitempty"`
	Date      time.Time `json:"date"`
	// SenderKind is "bot" or "user".
	SenderKind string `json:"sender_kind"`
	SenderID   int64  `json:"sender_id"`
	Text       string `json:"text,omitempty"`
	Caption    string `json:"caption,omitempty"`
	// Service names the service payload ("forum_topic_created", ...), empty for content.
	Service string  `json:"service,omitempty"`
	Deleted bool    `json:"deleted,omitempty"`
	Edits   []Entry `json:"edits,omitempty"` // earlier versions, oldest first
	// ReplyKeyboard is the reply keyboard sent with the message, if any.
	ReplyKeyboard json.RawMessage `json:"reply_keyboard,omitempty"`
	// Message is the current Telegram Message object.
	Message json.RawMessage `json:"message"`
}

// CallbackAnswer is what the bot answered to a button press.
type CallbackAnswer struct {
	Answered  bool   `json:"answered"`
	Text      string `json:"text,omitempty"`
	ShowAlert bool   `json:"show_alert,omitempty"`
	URL       string `json:"url,omitempty"`
	CacheTime int    `json:"cache_time,omitempty"`
}

type privKey struct{ bot, user int64 }

type user struct {
	User
	blocked map[int64]bool // bot id -> blocked by this user
}

func (u *user) tg() tgUser {
	return tgUser{ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, LanguageCode: u.LanguageCode}
}

type bot struct {
	Bot
	commands map[string]json.RawMessage // scope+language -> commands
	updates  []*update
	nextUpd  int64
	allowed  []string
	webhook  *webhookState
	notify   chan struct{} // closed and replaced when updates arrive or a poller must yield
	pollGen  int64
	calls    map[string]int
	// webhook faults survive setWebhook so tests can arm them in any order.
	dropDeliveries int
	refuseWebhook  bool
}

func (b *bot) tg() tgUser {
	t, f := true, false
	return tgUser{ID: b.ID, IsBot: true, FirstName: b.FirstName, Username: b.Username,
		CanJoinGroups: &t, CanReadAllGroupMessages: &t, SupportsInlineQueries: &f}
}

type update struct {
	id        int64
	kind      string
	payload   json.RawMessage
	created   time.Time
	inFlight  bool
	attempts  int
	notBefore time.Time // real time; webhook back-off
}

func (u *update) marshal() []byte {
	b, _ := json.Marshal(map[string]any{"update_id": u.id, u.kind: u.payload})
	return b
}

// member is a participant of a group chat.
type member struct {
	status    string // creator, administrator, member, left, kicked
	rights    *Rights
	untilDate int64
}

type chat struct {
	Chat
	bot       int64 // private chats: the bot; 0 for groups
	users     map[int64]*member
	bots      map[int64]*member
	messages  []*message
	byID      map[int64]*message
	nextMsg   int64
	topics    map[int64]*topic
	migrateTo int64
	// keyboard is the reply keyboard last sent to this chat (private chats), for the web UI.
	keyboard json.RawMessage
	creator  int64
}

func (c *chat) tg() tgChat {
	return tgChat{ID: c.ID, Type: c.Type, Title: c.Title, Username: c.Username, IsForum: c.IsForum}
}

func (c *chat) isGroup() bool { return c.Type == "group" || c.Type == "supergroup" }

type topic struct {
	id        int64
	name      string
	iconColor int
	iconEmoji string
	closed    bool
	deleted   bool
	creator   int64 // bot id that created it, 0 for users
}

type message struct {
	tg         tgMessage
	chat       *chat
	senderBot  int64
	senderUser int64
	replyTo    int64
	deleted    bool
	keyboard   json.RawMessage
	history    []tgMessage
	reactions  json.RawMessage
}

type file struct {
	id       string
	uniqueID string
	path     string
	kind     string
	data     []byte
	size     int64
	name     string
	mime     string
	width    int
	height   int
	duration int
	emoji    string
	// thumb is the photo-size ladder for photos, the largest last.
	photo []tgPhotoSize
}

type callbackQuery struct {
	id       string
	botID    int64
	created  time.Time
	answer   CallbackAnswer
	chatID   int64
	msgID    int64
	fromUser int64
}

type inviteLink struct {
	link    tgChatInviteLink
	chatID  int64
	joined  int
	pending map[int64]bool
}
