package tgsandbox

import "encoding/json"

// The tg* types are the wire shapes of Telegram Bot API objects. Field names
// and omitempty choices follow core.telegram.org/bots/api so that clients
// (telego in particular) decode exactly what the real API would send.

type tgUser struct {
	ID                      int64  `json:"id"`
	IsBot                   bool   `json:"is_bot"`
	FirstName               string `json:"first_name"`
	LastName                string `json:"last_name,omitempty"`
	Username                string `json:"username,omitempty"`
	LanguageCode            string `json:"language_code,omitempty"`
	CanJoinGroups           *bool  `json:"can_join_groups,omitempty"`
	CanReadAllGroupMessages *bool  `json:"can_read_all_group_messages,omitempty"`
	SupportsInlineQueries   *bool  `json:"supports_inline_queries,omitempty"`
}

type tgChat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	IsForum   bool   `json:"is_forum,omitempty"`
}

type tgPhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int64  `json:"file_size,omitempty"`
}

type tgDocument struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
}

type tgVideo struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	Duration     int    `json:"duration"`
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
}

type tgVoice struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Duration     int    `json:"duration"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
}

type tgSticker struct {
	FileID        string `json:"file_id"`
	FileUniqueID  string `json:"file_unique_id"`
	Type          string `json:"type"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	IsAnimated    bool   `json:"is_animated"`
	IsVideo       bool   `json:"is_video"`
	Emoji         string `json:"emoji,omitempty"`
	SetName       string `json:"set_name,omitempty"`
	CustomEmojiID string `json:"custom_emoji_id,omitempty"`
	FileSize      int64  `json:"file_size,omitempty"`
}

type tgContact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name,omitempty"`
	UserID      int64  `json:"user_id,omitempty"`
}

type tgLocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

type tgForumTopicCreated struct {
	Name              string `json:"name"`
	IconColor         int    `json:"icon_color"`
	IconCustomEmojiID string `json:"icon_custom_emoji_id,omitempty"`
}

type tgForumTopicEdited struct {
	Name              string  `json:"name,omitempty"`
	IconCustomEmojiID *string `json:"icon_custom_emoji_id,omitempty"`
}

type tgForwardOrigin struct {
	Type           string  `json:"type"`
	Date           int64   `json:"date"`
	SenderUser     *tgUser `json:"sender_user,omitempty"`
	SenderUserName string  `json:"sender_user_name,omitempty"`
	SenderChat     *tgChat `json:"sender_chat,omitempty"`
	Chat           *tgChat `json:"chat,omitempty"`
	MessageID      int64   `json:"message_id,omitempty"`
}

// tgMessage is a Telegram Message. Only inline keyboards are echoed in
// reply_markup, as Telegram does; reply keyboards live on the chat.
type tgMessage struct {
	MessageID             int64                `json:"message_id"`
	MessageThreadID       int64                `json:"message_thread_id,omitempty"`
	From                  *tgUser              `json:"from,omitempty"`
	Date                  int64                `json:"date"`
	Chat                  tgChat               `json:"chat"`
	ForwardOrigin         *tgForwardOrigin     `json:"forward_origin,omitempty"`
	IsTopicMessage        bool                 `json:"is_topic_message,omitempty"`
	ReplyToMessage        *tgMessage           `json:"reply_to_message,omitempty"`
	EditDate              int64                `json:"edit_date,omitempty"`
	MediaGroupID          string               `json:"media_group_id,omitempty"`
	Text                  string               `json:"text,omitempty"`
	Entities              json.RawMessage      `json:"entities,omitempty"`
	Document              *tgDocument          `json:"document,omitempty"`
	Photo                 []tgPhotoSize        `json:"photo,omitempty"`
	Sticker               *tgSticker           `json:"sticker,omitempty"`
	Video                 *tgVideo             `json:"video,omitempty"`
	Voice                 *tgVoice             `json:"voice,omitempty"`
	Caption               string               `json:"caption,omitempty"`
	CaptionEntities       json.RawMessage      `json:"caption_entities,omitempty"`
	Contact               *tgContact           `json:"contact,omitempty"`
	Location              *tgLocation          `json:"location,omitempty"`
	NewChatMembers        []tgUser             `json:"new_chat_members,omitempty"`
	LeftChatMember        *tgUser              `json:"left_chat_member,omitempty"`
	GroupChatCreated      bool                 `json:"group_chat_created,omitempty"`
	SupergroupChatCreated bool                 `json:"supergroup_chat_created,omitempty"`
	MigrateToChatID       int64                `json:"migrate_to_chat_id,omitempty"`
	MigrateFromChatID     int64                `json:"migrate_from_chat_id,omitempty"`
	ForumTopicCreated     *tgForumTopicCreated `json:"forum_topic_created,omitempty"`
	ForumTopicEdited      *tgForumTopicEdited  `json:"forum_topic_edited,omitempty"`
	ForumTopicClosed      *struct{}            `json:"forum_topic_closed,omitempty"`
	ForumTopicReopened    *struct{}            `json:"forum_topic_reopened,omitempty"`
	ReplyMarkup           json.RawMessage      `json:"reply_markup,omitempty"`
}

// serviceKind names the service payload of a message, or "" for content.
func (m *tgMessage) serviceKind() string {
	switch {
	case m.ForumTopicCreated != nil:
		return "forum_topic_created"
	case m.ForumTopicEdited != nil:
		return "forum_topic_edited"
	case m.ForumTopicClosed != nil:
		return "forum_topic_closed"
	case m.ForumTopicReopened != nil:
		return "forum_topic_reopened"
	case len(m.NewChatMembers) > 0:
		return "new_chat_members"
	case m.LeftChatMember != nil:
		return "left_chat_member"
	case m.GroupChatCreated:
		return "group_chat_created"
	case m.SupergroupChatCreated:
		return "supergroup_chat_created"
	case m.MigrateToChatID != 0:
		return "migrate_to_chat_id"
	case m.MigrateFromChatID != 0:
		return "migrate_from_chat_id"
	}
	return ""
}

type tgForumTopic struct {
	MessageThreadID   int64  `json:"message_thread_id"`
	Name              string `json:"name"`
	IconColor         int    `json:"icon_color"`
	IconCustomEmojiID string `json:"icon_custom_emoji_id,omitempty"`
}

type tgCallbackQuery struct {
	ID           string     `json:"id"`
	From         tgUser     `json:"from"`
	Message      *tgMessage `json:"message,omitempty"`
	ChatInstance string     `json:"chat_instance"`
	Data         string     `json:"data,omitempty"`
}

type tgChatMember struct {
	Status string `json:"status"`
	User   tgUser `json:"user"`
	// Administrator and creator fields.
	CanBeEdited *bool `json:"can_be_edited,omitempty"`
	IsAnonymous *bool `json:"is_anonymous,omitempty"`
	*Rights
	// Kicked members.
	UntilDate *int64 `json:"until_date,omitempty"`
}

type tgChatMemberUpdated struct {
	Chat           tgChat            `json:"chat"`
	From           tgUser            `json:"from"`
	Date           int64             `json:"date"`
	OldChatMember  tgChatMember      `json:"old_chat_member"`
	NewChatMember  tgChatMember      `json:"new_chat_member"`
	InviteLink     *tgChatInviteLink `json:"invite_link,omitempty"`
	ViaJoinRequest bool              `json:"via_join_request,omitempty"`
}

type tgChatInviteLink struct {
	InviteLink         string `json:"invite_link"`
	Creator            tgUser `json:"creator"`
	CreatesJoinRequest bool   `json:"creates_join_request"`
	IsPrimary          bool   `json:"is_primary"`
	IsRevoked          bool   `json:"is_revoked"`
	Name               string `json:"name,omitempty"`
	ExpireDate         int64  `json:"expire_date,omitempty"`
	MemberLimit        int    `json:"member_limit,omitempty"`
}

type tgChatJoinRequest struct {
	Chat       tgChat            `json:"chat"`
	From       tgUser            `json:"from"`
	UserChatID int64             `json:"user_chat_id"`
	Date       int64             `json:"date"`
	InviteLink *tgChatInviteLink `json:"invite_link,omitempty"`
}

type tgFile struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size,omitempty"`
	FilePath     string `json:"file_path,omitempty"`
}

type tgMessageID struct {
	MessageID int64 `json:"message_id"`
}
