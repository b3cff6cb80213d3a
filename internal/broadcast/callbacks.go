package broadcast

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// CallbackPrefix starts the callback data of campaign buttons:
// "bc:<campaign id as 32 hex>:m" (37 bytes) for "read more".
const CallbackPrefix = "bc:"

func readMoreData(id uuid.UUID) string {
	return CallbackPrefix + strings.ReplaceAll(id.String(), "-", "") + ":m"
}

// Routes is where the service attaches its button handler (*telegram.Processor).
type Routes interface {
	RegisterCallbackPrefix(prefix string, h telegram.Handler)
}

// Attach registers the "read more" button. (The thank-you sticker after a
// completed campaign survey is the survey's own: surveys.thanks_sticker,
// sent by the survey engine.)
func (s *Service) Attach(p Routes) {
	p.RegisterCallbackPrefix(CallbackPrefix, s.handleReadMore)
}

// handleReadMore reveals the full text: a text message is edited in place
// (the read-more button goes, URL buttons stay); a media message, whose
// caption cannot hold a long text, gets the full text as a reply. The press
// counts as a view of the campaign by this recipient.
func (s *Service) handleReadMore(ctx context.Context, in *telegram.Inbound) error {
	data := strings.TrimPrefix(in.Callback.Data, CallbackPrefix)
	hexID, action, ok := strings.Cut(data, ":")
	id, err := uuid.Parse(hexID)
	if !ok || action != "m" || err != nil {
		return in.AnswerCallback(ctx, "")
	}
	var c struct {
		content Content
		found   bool
	}
	var botChat uuid.UUID
	err = s.db.InTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT content FROM campaigns WHERE tenant_id = $1 AND id = $2 AND bot_id = $3`,
			in.TenantID, id, in.BotID).Scan(&c.content)
		if db.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		c.found = true
		// A test send has no delivery row: nothing to count.
		err = tx.QueryRow(ctx, `UPDATE campaign_deliveries SET viewed_at = COALESCE(viewed_at, now())
			WHERE tenant_id = $1 AND campaign_id = $2 AND chat_id = $3 RETURNING bot_chat_id`, in.TenantID, id, in.ChatID).Scan(&botChat)
		if db.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("broadcast: read more: %w", err)
	}
	if !c.found || c.content.FullText == "" {
		return in.AnswerCallback(ctx, in.T(ctx, "broadcast.expired", nil))
	}
	if err := in.AnswerCallback(ctx, ""); err != nil {
		return err
	}
	r := Recipient{BotChatID: botChat, ContactID: in.ContactID, ChatID: in.ChatID, Lang: in.Lang}
	if in.From != nil {
		r.FirstName, r.LastName, r.Username = in.From.FirstName, in.From.LastName, in.From.Username
	}
	full := fill(c.content.FullText, r)
	var rows [][]map[string]string
	for i, b := range c.content.Buttons {
		rows = append(rows, []map[string]string{{"text": b.Text, "url": s.link(id, botChat, i, b.URL, c.content.TrackClicks && botChat != uuid.Nil)}})
	}
	params := map[string]any{"text": full, "parse_mode": "HTML"}
	if len(rows) > 0 {
		params["reply_markup"] = map[string]any{"inline_keyboard": rows}
	}
	msg := in.Callback.Message
	if c.content.Media == nil && msg != nil {
		params["message_id"] = msg.MessageID
		return in.Send(ctx, "editMessageText", params)
	}
	if msg != nil {
		params["reply_parameters"] = map[string]any{"message_id": msg.MessageID, "allow_sending_without_reply": true}
	}
	return in.Send(ctx, "sendMessage", params)
}

// MaxTestChats bounds one test send.
const MaxTestChats = 20

// TestSend sends the campaign's message now to chosen chats of its bot
// (an admin's own chat with the bot, say), at Live priority, without
// delivery rows: stats and the audience are untouched. Every chat must be
// a bot chat of the campaign's bot.
func (s *Service) TestSend(ctx context.Context, tenantID, id uuid.UUID, chatIDs []int64) (int, error) {
	c, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return 0, err
	}
	if len(chatIDs) == 0 || len(chatIDs) > MaxTestChats {
		return 0, invalid("chat_ids", "invalid", fmt.Sprintf("1 to %d chat ids of people who started the bot", MaxTestChats))
	}
	var rs []Recipient
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT b.id, b.contact_id, b.chat_id, c.language, c.first_name, c.last_name, c.username
			FROM bot_chats b JOIN contacts c ON c.id = b.contact_id
			WHERE b.tenant_id = $1 AND b.bot_id = $2 AND b.chat_id = ANY($3) AND b.reachable ORDER BY b.chat_id`, tenantID, c.BotID, chatIDs)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Recipient
			if err := rows.Scan(&r.BotChatID, &r.ContactID, &r.ChatID, &r.Lang, &r.FirstName, &r.LastName, &r.Username); err != nil {
				return err
			}
			rs = append(rs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("broadcast: test send: %w", err)
	}
	if len(rs) != len(uniq(chatIDs)) {
		return 0, invalid("chat_ids", "not_found", "every chat must be a reachable chat of the campaign's bot")
	}
	for _, r := range rs {
		label := s.texts.Text(ctx, tenantID, "broadcast.read_more", r.Lang, nil)
		method, params := c.Content.render(r, label, readMoreData(id), func(_ int, u string) string { return u })
		raw, err := json.Marshal(params)
		if err != nil {
			return 0, err
		}
		if _, err := s.ob.Enqueue(ctx, outbox.Message{TenantID: tenantID, BotID: c.BotID, ChatID: r.ChatID, Method: method,
			Params: raw, Priority: outbox.Live, Kind: "broadcast.test", Ref: id.String()}); err != nil {
			return 0, fmt.Errorf("broadcast: test send: %w", err)
		}
	}
	return len(rs), nil
}

func uniq(xs []int64) map[int64]bool {
	m := make(map[int64]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
