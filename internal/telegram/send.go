package telegram

import (
	"context"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Sender hands messages to the outbox, which keeps per-chat order and
// Telegram's limits. Every bot reply goes through it; *outbox.Outbox is one.
type Sender interface {
	Enqueue(ctx context.Context, m outbox.Message) (uuid.UUID, error)
}

// Texts gives a tenant's text for a key in a language, with {vars}
// filled in (the tenant package implements it).
type Texts interface {
	Text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string
}

// Text keys this package uses.
const (
	TextGreeting        = "start.greeting"
	TextDialogTimeout   = "dialog.timeout"
	TextDialogCancelled = "cancel.done"
	TextStopped         = "subscription.stopped"
	TextNothingToCancel = "cancel.nothing"
)
