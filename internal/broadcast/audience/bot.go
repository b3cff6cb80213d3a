package audience

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram"
)

// In the bot: /notifications (and /settings, the name the shipped
// templates give the menu) shows a switch per topic; /stop unsubscribes
// from everything. Buttons carry the state they ask for, not "toggle", so
// an update handled twice (the processor is at-least-once) or an old menu
// pressed again cannot flip a switch back.
const (
	CallbackPrefix = "sub:"
	cbOn           = "sub:on:"
	cbOff          = "sub:off:"
	cbStop         = "sub:stop"
	cbResume       = "sub:resume"
	// CallbackMenu opens the menu; other features' settings menus may link it.
	CallbackMenu = "sub:menu"
)

// Menu commands.
var MenuCommands = []string{"notifications", "settings"}

// Text keys (tenants/defaults/catalog.yaml).
const (
	TextMenu        = "subscription.menu"
	TextMenuStopped = "subscription.menu_stopped"
	TextOn          = "subscription.on"
	TextOff         = "subscription.off"
	TextStopped     = "subscription.stopped"
	TextResumed     = "subscription.resumed"
	TextToggleOn    = "subscription.toggle_on"
	TextToggleOff   = "subscription.toggle_off"
	TextButtonStop  = "subscription.button_stop"
	TextButtonAgain = "subscription.button_resume"
	textTopicPrefix = "subscription.topic."
	textError       = "error.generic"
)

// Registrar is the part of the update processor the bot side uses
// (*telegram.Processor).
type Registrar interface {
	RegisterCommand(name string, h telegram.Handler)
	RegisterCallbackPrefix(prefix string, h telegram.Handler)
}

// Attach installs the notifications menu, /stop and the menu's buttons.
// /stop replaces the processor's built-in one (same effect, plus a button
// that undoes it). /start is left alone: it does not re-subscribe
// (docs/audience.md, "Stop and start").
func (s *Service) Attach(p Registrar) {
	for _, c := range MenuCommands {
		p.RegisterCommand(c, s.handleMenu)
	}
	p.RegisterCommand("stop", s.handleStop)
	p.RegisterCallbackPrefix(CallbackPrefix, s.handleButton)
}

// chatState is a bot chat's subscription state.
type chatState struct {
	subs         map[string]bool
	unsubscribed bool
}

func (st chatState) on(t Topic) bool {
	if st.unsubscribed {
		return false
	}
	if v, ok := st.subs[t.Key]; ok {
		return v
	}
	return t.Default
}

func loadState(ctx context.Context, tx pgx.Tx, botID, chatID int64, lock bool) (chatState, error) {
	sql := "SELECT subscriptions, unsubscribed FROM bot_chats WHERE bot_id = $1 AND chat_id = $2"
	if lock {
		sql += " FOR UPDATE"
	}
	var raw []byte
	var st chatState
	if err := tx.QueryRow(ctx, sql, botID, chatID).Scan(&raw, &st.unsubscribed); err != nil {
		return chatState{}, err
	}
	st.subs = map[string]bool{}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	for k, v := range m {
		if b, ok := v.(bool); ok {
			st.subs[k] = b
		}
	}
	return st, nil
}

func (s *Service) handleMenu(ctx context.Context, in *telegram.Inbound) error {
	topics, defLang, err := s.tenantConfig(ctx, in.TenantID)
	if err != nil {
		return err
	}
	var st chatState
	err = s.db.InTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		st, err = loadState(ctx, tx, in.BotID, in.ChatID, false)
		return err
	})
	if db.IsNotFound(err) {
		return in.ReplyText(ctx, textError, nil)
	}
	if err != nil {
		return fmt.Errorf("audience: menu: %w", err)
	}
	text, kb := s.menu(ctx, in, topics, defLang, st)
	return in.Reply(ctx, text, kb)
}

func (s *Service) handleStop(ctx context.Context, in *telegram.Inbound) error {
	if _, err := s.setStopped(ctx, in, true); err != nil {
		return err
	}
	kb := keyboard([][]button{{{Text: in.T(ctx, TextButtonAgain, nil), Data: cbResume}}})
	return in.Reply(ctx, in.T(ctx, TextStopped, nil), kb)
}

func (s *Service) handleButton(ctx context.Context, in *telegram.Inbound) error {
	data := in.Callback.Data
	if !in.Private() {
		return in.AnswerCallback(ctx, "")
	}
	topics, defLang, err := s.tenantConfig(ctx, in.TenantID)
	if err != nil {
		return err
	}
	var toast string
	switch {
	case data == CallbackMenu:
	case data == cbStop:
		if _, err := s.setStopped(ctx, in, true); err != nil {
			return err
		}
		toast = in.T(ctx, TextStopped, nil)
	case data == cbResume:
		if _, err := s.setStopped(ctx, in, false); err != nil {
			return err
		}
		toast = in.T(ctx, TextResumed, nil)
	case strings.HasPrefix(data, cbOn), strings.HasPrefix(data, cbOff):
		on := strings.HasPrefix(data, cbOn)
		key := strings.TrimPrefix(strings.TrimPrefix(data, cbOn), cbOff)
		i := slices.IndexFunc(topics, func(t Topic) bool { return t.Key == key })
		if i < 0 {
			// A topic the tenant has since removed: show the current menu.
			break
		}
		if err := s.setTopic(ctx, in, topics, key, on); err != nil {
			return err
		}
		vars := map[string]string{"topic": topicTitle(ctx, in, topics[i], defLang)}
		if on {
			toast = in.T(ctx, TextOn, vars)
		} else {
			toast = in.T(ctx, TextOff, vars)
		}
	default:
		return in.AnswerCallback(ctx, "")
	}
	if err := in.AnswerCallback(ctx, toast); err != nil {
		return err
	}
	var st chatState
	err = s.db.InTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		st, err = loadState(ctx, tx, in.BotID, in.ChatID, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("audience: menu state: %w", err)
	}
	text, kb := s.menu(ctx, in, topics, defLang, st)
	if in.Callback.Message == nil || data == CallbackMenu {
		return in.Reply(ctx, text, kb)
	}
	// Redraw the menu in place (the answer under /stop becomes the menu).
	return in.Send(ctx, "editMessageText", map[string]any{"message_id": in.Callback.Message.MessageID, "text": text,
		"reply_markup": kb})
}

// setStopped records /stop (stopped) or its undo; it reports whether the
// state changed. The per-topic switches are kept, so resuming brings back
// what the person had chosen.
func (s *Service) setStopped(ctx context.Context, in *telegram.Inbound, stopped bool) (bool, error) {
	changed := false
	err := s.db.InTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE bot_chats SET unsubscribed = $4
			WHERE tenant_id = $1 AND bot_id = $2 AND chat_id = $3 AND unsubscribed <> $4`, in.TenantID, in.BotID, in.ChatID, stopped)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		changed = true
		typ := "unsubscribed"
		if !stopped {
			typ = "subscribed"
		}
		return s.event(ctx, tx, in, typ, map[string]any{})
	})
	if err != nil {
		return false, fmt.Errorf("audience: set stopped: %w", err)
	}
	return changed, nil
}

// setTopic switches one topic. Someone who had stopped everything and
// switches a topic on gets just that topic: the menu showed every switch
// off, and the rest stay as it showed them.
func (s *Service) setTopic(ctx context.Context, in *telegram.Inbound, topics []Topic, key string, on bool) error {
	err := s.db.InTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		st, err := loadState(ctx, tx, in.BotID, in.ChatID, true)
		if err != nil {
			return err
		}
		subs := st.subs
		if st.unsubscribed {
			if !on {
				return nil // already off, as the menu showed
			}
			for _, t := range topics {
				subs[t.Key] = false
			}
		} else if st.on(Topic{Key: key, Default: topicDefault(topics, key)}) == on {
			return nil
		}
		subs[key] = on
		raw, _ := json.Marshal(subs)
		if _, err := tx.Exec(ctx, `UPDATE bot_chats SET subscriptions = $4, unsubscribed = false
			WHERE tenant_id = $1 AND bot_id = $2 AND chat_id = $3`, in.TenantID, in.BotID, in.ChatID, raw); err != nil {
			return err
		}
		return s.event(ctx, tx, in, "subscription_changed", map[string]any{"topic": key, "on": on})
	})
	if err != nil {
		return fmt.Errorf("audience: set topic: %w", err)
	}
	return nil
}

func topicDefault(topics []Topic, key string) bool {
	for _, t := range topics {
		if t.Key == key {
			return t.Default
		}
	}
	return true
}

func (s *Service) event(ctx context.Context, tx pgx.Tx, in *telegram.Inbound, typ string, payload map[string]any) error {
	payload["update_id"] = in.UpdateID
	raw, _ := json.Marshal(payload)
	var contact any
	if in.ContactID != [16]byte{} {
		contact = in.ContactID
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (tenant_id, contact_id, bot_id, type, payload, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, in.TenantID, contact, in.BotID, typ, raw, s.clock.Now())
	return err
}

type button struct {
	Text string `json:"text"`
	Data string `json:"callback_data"`
}

func keyboard(rows [][]button) map[string]any { return map[string]any{"inline_keyboard": rows} }

// menu is the notifications menu: a switch per topic, then stop or resume.
func (s *Service) menu(ctx context.Context, in *telegram.Inbound, topics []Topic, defLang string, st chatState) (string, map[string]any) {
	rows := make([][]button, 0, len(topics)+1)
	for _, t := range topics {
		vars := map[string]string{"topic": topicTitle(ctx, in, t, defLang)}
		if st.on(t) {
			rows = append(rows, []button{{Text: in.T(ctx, TextToggleOn, vars), Data: cbOff + t.Key}})
		} else {
			rows = append(rows, []button{{Text: in.T(ctx, TextToggleOff, vars), Data: cbOn + t.Key}})
		}
	}
	title := in.T(ctx, TextMenu, nil)
	if st.unsubscribed {
		title = in.T(ctx, TextMenuStopped, nil)
		rows = append(rows, []button{{Text: in.T(ctx, TextButtonAgain, nil), Data: cbResume}})
	} else {
		rows = append(rows, []button{{Text: in.T(ctx, TextButtonStop, nil), Data: cbStop}})
	}
	return title, keyboard(rows)
}

// topicTitle is a topic's name in the person's language.
func topicTitle(ctx context.Context, in *telegram.Inbound, t Topic, defLang string) string {
	for _, l := range []string{in.Lang, defLang, "en", "ru"} {
		if v := t.Title[l]; v != "" {
			return v
		}
	}
	if slices.Contains(catalogTopics, t.Key) {
		return in.T(ctx, textTopicPrefix+t.Key, nil)
	}
	return t.Key
}
