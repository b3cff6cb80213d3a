package telegram

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
)

// Priority orders messages to one bot: a live reply pre-empts broadcasts.
type Priority int

// Priorities, highest first (mirroring the outbox's).
const (
	PriorityLive Priority = iota
	PriorityTopic
	PriorityIcon
	PriorityBulk
)

// OutMessage is one Bot API call to make on behalf of a bot. Params is the
// complete request body, chat_id (and message_thread_id) included.
type OutMessage struct {
	TenantID       uuid.UUID
	BotID          int64
	ChatID         int64
	ThreadID       int
	Method         string
	Params         json.RawMessage
	Priority       Priority
	Kind           string // what produced it, e.g. "reply", "dialog"
	Ref            string // what it is about, e.g. "update:<bot>:<update_id>"
	IdempotencyKey string // the same key twice is sent once
}

// Sender hands messages to the outbox, which keeps per-chat order and
// Telegram's limits. Every bot reply goes through it.
type Sender interface {
	Send(ctx context.Context, m OutMessage) error
}

// Texts gives a tenant's text for a key in a language, with {vars}
// filled in (the tenant package implements it).
type Texts interface {
	Text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string
}

// Text keys this package uses.
const (
	TextGreeting        = "greeting"
	TextDialogTimeout   = "dialog.timeout"
	TextDialogCancelled = "dialog.cancelled"
	TextStopped         = "stop.done"
)
