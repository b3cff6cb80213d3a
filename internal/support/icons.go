package support

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Topic status icons (seed 001): ❗ the person wrote, 📝 an agent answered,
// 🏁 resolved.
const (
	iconNew      = "new"
	iconInWork   = "in_work"
	iconResolved = "resolved"
)

var iconEmoji = map[string]string{iconNew: "❗", iconInWork: "📝", iconResolved: "🏁"}

// TaskIcon applies a topic's latest status icon (debounced).
const TaskIcon = "support:icon"

type iconPayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	TopicID  uuid.UUID `json:"topic_id"`
}

// NewIconTask returns the task that applies a topic's icon.
func NewIconTask(tenantID, topicID uuid.UUID) *asynq.Task {
	raw, _ := json.Marshal(iconPayload{TenantID: tenantID, TopicID: topicID})
	return asynq.NewTask(TaskIcon, raw, asynq.Queue(queue.Default), asynq.MaxRetry(10))
}

// Register installs the desk's task handlers on a worker server.
func (s *Service) Register(srv *queue.Server) {
	srv.Handle(TaskIcon, s.HandleIcon)
	srv.Handle(TaskCSAT, s.HandleCSAT)
}

// setIcon records the wanted icon and schedules one edit: now if the last
// edit is older than IconDebounce, else when it will be. An edit already
// scheduled picks up the latest icon, so bursts of changes cost one edit.
func (s *Service) setIcon(ctx context.Context, tenantID uuid.UUID, tx pgx.Tx, topicID uuid.UUID, icon string, now time.Time) error {
	var applied string
	var editedAt, dueAt *time.Time
	err := tx.QueryRow(ctx, `UPDATE support_topics SET icon = $2 WHERE id = $1
		RETURNING icon_applied, icon_edited_at, icon_due_at`, topicID, icon).Scan(&applied, &editedAt, &dueAt)
	if err != nil {
		return fmt.Errorf("store: set icon: %w", err)
	}
	if dueAt != nil || applied == icon {
		return nil
	}
	due := now
	if editedAt != nil && editedAt.Add(s.opts.IconDebounce).After(now) {
		due = editedAt.Add(s.opts.IconDebounce)
	}
	if _, err := tx.Exec(ctx, `UPDATE support_topics SET icon_due_at = $2 WHERE id = $1`, topicID, due); err != nil {
		return fmt.Errorf("store: icon due: %w", err)
	}
	return s.q.Enqueue(ctx, NewIconTask(tenantID, topicID), asynq.ProcessIn(s.realDur(max(due.Sub(now), 0))),
		asynq.TaskID(fmt.Sprintf("support:icon:%s:%d", topicID, due.UnixNano())))
}

// HandleIcon applies the topic's latest icon if it differs from the shown one.
func (s *Service) HandleIcon(ctx context.Context, t *asynq.Task) error {
	var p iconPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID == uuid.Nil {
		return fmt.Errorf("support: icon payload: %v: %w", err, asynq.SkipRetry)
	}
	now := s.clock.Now()
	return s.inTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		var icon, applied, state string
		var thread *int
		var botID, staffChat int64
		var dueAt *time.Time
		err := tx.QueryRow(ctx, `SELECT icon, icon_applied, state, thread_id, bot_id, staff_chat_id, icon_due_at
			FROM support_topics WHERE id = $1 FOR UPDATE`, p.TopicID).Scan(&icon, &applied, &state, &thread, &botID, &staffChat, &dueAt)
		if err != nil {
			return fmt.Errorf("store: icon topic: %w", err)
		}
		if icon != applied && thread != nil && state != "creating" && dueAt != nil && now.Sub(*dueAt) < s.opts.IconMaxDefer {
			// Every icon edit posts a service message that takes one of the
			// group's 20 a minute: while people's messages wait for the
			// group, the edit waits too (at most IconMaxDefer).
			busy, err := groupBacklog(ctx, tx, botID, staffChat)
			if err != nil {
				return err
			}
			if busy {
				return s.q.Enqueue(ctx, NewIconTask(p.TenantID, p.TopicID), asynq.ProcessIn(s.realDur(s.opts.IconDebounce)),
					asynq.TaskID(fmt.Sprintf("support:icon:%s:%d:%d", p.TopicID, dueAt.UnixNano(), now.UnixNano())))
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE support_topics SET icon_due_at = NULL WHERE id = $1`, p.TopicID); err != nil {
			return err
		}
		if icon == applied || thread == nil || state == "creating" {
			return nil
		}
		id := s.iconID(ctx, botID, icon)
		if id == "" {
			return nil
		}
		stamp := now.UnixNano()
		if dueAt != nil {
			stamp = dueAt.UnixNano()
		}
		if _, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: p.TenantID, BotID: botID, ChatID: staffChat, ThreadID: *thread,
			Method: "editForumTopic", Params: params(map[string]any{"icon_custom_emoji_id": id}), Priority: outbox.Icon,
			Kind: kindState, Ref: p.TopicID.String(), IdempotencyKey: fmt.Sprintf("support:icon:%s:%d", p.TopicID, stamp)}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE support_topics SET icon_applied = $2, icon_edited_at = $3 WHERE id = $1`, p.TopicID, icon, now)
		return err
	})
}

// groupBacklog reports whether people's messages still wait to be relayed
// into the staff group (pending on a topic being created, or queued).
func groupBacklog(ctx context.Context, tx pgx.Tx, botID, staffChat int64) (bool, error) {
	var busy bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM support_messages m
		JOIN support_tickets t ON t.id = m.ticket_id JOIN support_topics tp ON tp.id = t.topic_id
		WHERE tp.bot_id = $1 AND tp.staff_chat_id = $2 AND m.direction = 'in' AND m.relay IN ('pending', 'queued'))`,
		botID, staffChat).Scan(&busy)
	if err != nil {
		return false, fmt.Errorf("store: group backlog: %w", err)
	}
	return busy, nil
}

// iconID is the custom emoji id of a status icon for the bot, from
// getForumTopicIconStickers (cached per bot); "" if it cannot be had.
func (s *Service) iconID(ctx context.Context, botID int64, icon string) string {
	s.iconsMu.Lock()
	m := s.icons[botID]
	s.iconsMu.Unlock()
	if m == nil {
		var err error
		if m, err = s.fetchIcons(ctx, botID); err != nil {
			s.log.Warn("support: topic icons", "bot_id", botID, "error", err)
			return ""
		}
		s.iconsMu.Lock()
		s.icons[botID] = m
		s.iconsMu.Unlock()
	}
	return m[normEmoji(iconEmoji[icon])]
}

func normEmoji(e string) string { return strings.ReplaceAll(e, "\uFE0F", "") }

func (s *Service) fetchIcons(ctx context.Context, botID int64) (map[string]string, error) {
	tok, err := s.tokens.BotToken(ctx, botID)
	if err != nil {
		return nil, err
	}
	req, err := newAPIRequest(ctx, s.opts.APIURL, tok, "getForumTopicIconStickers")
	if err != nil {
		return nil, err
	}
	res, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("getForumTopicIconStickers: request failed") // the error text holds the URL (token)
	}
	defer res.Body.Close()
	var out struct {
		OK     bool `json:"ok"`
		Result []struct {
			Emoji         string `json:"emoji"`
			CustomEmojiID string `json:"custom_emoji_id"`
		} `json:"result"`
		Description string `json:"description"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || !out.OK {
		return nil, fmt.Errorf("getForumTopicIconStickers: %d %s", res.StatusCode, out.Description)
	}
	m := map[string]string{}
	for _, st := range out.Result {
		m[normEmoji(st.Emoji)] = st.CustomEmojiID
	}
	return m, nil
}
