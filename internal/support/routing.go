package support

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// Routing by request type (seed 001): on first contact the person picks a
// request type from the tenant's menu (support.route_prompt); the type
// becomes the ticket's tag and decides the staff group: a new topic goes
// to the least-loaded group that takes the type.

// TextRoutePrompt asks for the request type.
const TextRoutePrompt = "support.route_prompt"

// routePrefix starts the routing menu's callback_data ("sr:<key>").
const routePrefix = "sr:"

// pickGroup is the bot's staff group for a new topic of a request type:
// among the usable groups its routing allows (a group without a list takes
// every type; an untyped request goes to such groups), the one with the
// fewest open tickets, then the oldest binding. With no group allowed, any
// group does (the request must reach someone). 0 if the bot has none.
func pickGroup(ctx context.Context, tx pgx.Tx, botID int64, reqType string) (int64, error) {
	return pickGroupFor(ctx, tx, botID, reqType, 0)
}

// pickGroupFor is pickGroup with the request type's own target group
// (preferChat, 0 for none) first while it is usable.
func pickGroupFor(ctx context.Context, tx pgx.Tx, botID int64, reqType string, preferChat int64) (int64, error) {
	// The candidates in order of preference without the load, which is
	// counted only when it decides between equally preferred groups (most
	// bots have one staff group, and a topic is made per new person).
	rows, err := tx.Query(ctx, `SELECT b.chat_id,
			(b.chat_id <> $3)::int * 2 + CASE WHEN COALESCE(r.request_types, '{}') = '{}' OR $2 = ANY(r.request_types) THEN 0 ELSE 1 END
		FROM chat_bindings b
		LEFT JOIN support_group_routes r ON r.bot_id = b.bot_id AND r.chat_id = b.chat_id
		WHERE b.bot_id = $1 AND b.purpose = 'staff_support' AND b.is_forum AND b.bot_status = 'administrator'
		ORDER BY 2, b.created_at`, botID, reqType, preferChat)
	if err != nil {
		return 0, fmt.Errorf("store: pick staff group: %w", err)
	}
	var best []int64
	rank := -1
	for rows.Next() {
		var chatID int64
		var r int
		if err := rows.Scan(&chatID, &r); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: pick staff group: %w", err)
		}
		if rank == -1 || r == rank {
			rank = r
			best = append(best, chatID)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: pick staff group: %w", err)
	}
	switch len(best) {
	case 0:
		return 0, nil
	case 1:
		return best[0], nil
	}
	// Ties: the one with the fewest unresolved tickets, then the oldest
	// binding (best is in binding order).
	var chatID int64
	err = tx.QueryRow(ctx, `SELECT g.chat_id FROM unnest($2::bigint[]) WITH ORDINALITY AS g(chat_id, ord)
		ORDER BY (SELECT count(*) FROM support_topics tp JOIN support_tickets t ON t.topic_id = tp.id AND t.status <> 'resolved'
			WHERE tp.bot_id = $1 AND tp.staff_chat_id = g.chat_id), g.ord
		LIMIT 1`, botID, best).Scan(&chatID)
	if err != nil {
		return 0, fmt.Errorf("store: pick staff group load: %w", err)
	}
	return chatID, nil
}

// typeTitle is a request type's title in the person's language.
func typeTitle(rt tenant.RequestType, lang string, st tenant.Settings) string {
	l := tenant.NormalizeLanguage(lang, st.Languages, st.DefaultLanguage)
	if t := rt.Title[l]; t != "" {
		return t
	}
	if t := rt.Title[st.DefaultLanguage]; t != "" {
		return t
	}
	for _, t := range rt.Title {
		return t
	}
	return rt.Key
}

// sendRouteMenu asks the person for the request type with one button per type.
func (s *Service) sendRouteMenu(ctx context.Context, in *telegram.Inbound, ticketID uuid.UUID, types []tenant.RequestType, lang string) error {
	st := s.settings(ctx, in.TenantID)
	type button struct {
		Text string `json:"text"`
		Data string `json:"callback_data"`
	}
	var rows [][]button
	for _, rt := range types {
		data := routePrefix + rt.Key
		if len(data) > 64 {
			continue // a key too long for callback_data cannot be offered
		}
		rows = append(rows, []button{{typeTitle(rt, lang, st), data}})
	}
	text := s.texts.Text(ctx, in.TenantID, TextRoutePrompt, lang, nil)
	return s.notifyMarkup(ctx, in.TenantID, in.BotID, in.ChatID, text, map[string]any{"inline_keyboard": rows},
		"support:route:"+ticketID.String())
}

// HandleRoute takes the routing menu's choice: the ticket gets the type
// (and its tag), the topic is created in the least-loaded group that
// takes the type, and the messages held meanwhile follow in order.
func (s *Service) HandleRoute(ctx context.Context, in *telegram.Inbound) error {
	key := strings.TrimPrefix(in.Callback.Data, routePrefix)
	st := s.settings(ctx, in.TenantID)
	var rt *tenant.RequestType
	for i := range st.Support.RequestTypes {
		if st.Support.RequestTypes[i].Key == key {
			rt = &st.Support.RequestTypes[i]
		}
	}
	if rt == nil || in.ContactID == uuid.Nil || !in.Private() {
		return in.AnswerCallback(ctx, "")
	}
	now := s.clock.Now()
	var ask *topicRow
	var card contactCard
	routed := false
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		ask, routed = nil, false
		ticket, err := openTicket(ctx, tx, in.BotID, in.ContactID)
		if err != nil || ticket == nil || !ticket.RoutePending {
			return err // already routed (a second tap) or nothing waiting
		}
		if _, err := tx.Exec(ctx, `UPDATE support_tickets SET request_type = $2, route_pending = false, updated_at = $4,
			tags = CASE WHEN $3 = '' OR $3 = ANY(tags) THEN tags ELSE array_append(tags, $3) END
			WHERE id = $1`, ticket.ID, rt.Key, rt.Tag, now); err != nil {
			return fmt.Errorf("store: route ticket: %w", err)
		}
		routed = true
		if err := assignRouted(ctx, tx, ticket.ID, rt.Assignee, now); err != nil {
			return err
		}
		var prefer int64
		if g := rt.StaffGroup; g != nil && g.BotID == in.BotID {
			prefer = g.ChatID
		}
		staffChat, err := pickGroupFor(ctx, tx, in.BotID, rt.Key, prefer)
		if err != nil {
			return err
		}
		if staffChat == 0 {
			_, err := tx.Exec(ctx, `UPDATE support_messages SET relay = 'none' WHERE ticket_id = $1 AND relay = 'pending'`, ticket.ID)
			return err // no staff group: the ticket is worked from the console
		}
		topic, err := lockTopic(ctx, tx, in.BotID, in.ContactID)
		if err != nil {
			return err
		}
		if topic == nil {
			var started bool
			if topic, started, err = s.startTopic(ctx, tx, in, staffChat, now); err != nil {
				return err
			}
			if started {
				if card, err = contactOf(ctx, tx, in.ContactID); err != nil {
					return err
				}
				ask = topic
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE support_tickets SET topic_id = $2 WHERE id = $1`, ticket.ID, topic.ID); err != nil {
			return fmt.Errorf("store: link ticket: %w", err)
		}
		if topic.State == "creating" {
			return nil // the topic-created hook relays the held messages
		}
		return s.relayIntoTopic(ctx, in.TenantID, tx, topic, false, now)
	})
	if err != nil {
		return fmt.Errorf("support: route: %w", err)
	}
	if err := in.AnswerCallback(ctx, ""); err != nil {
		return err
	}
	if !routed {
		return nil
	}
	title := typeTitle(*rt, in.Lang, st)
	if m := in.Callback.Message; m != nil {
		if err := in.Send(ctx, "editMessageReplyMarkup", map[string]any{"message_id": m.MessageID,
			"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "✅ " + title, "callback_data": in.Callback.Data}}}}}); err != nil {
			return err
		}
	}
	if ask != nil {
		if err := s.askTopic(ctx, in.TenantID, nil, ask, card); err != nil {
			return err
		}
	}
	if reply := rt.AutoReply[tenant.NormalizeLanguage(in.Lang, st.Languages, st.DefaultLanguage)]; reply != "" {
		return in.Reply(ctx, reply, nil)
	}
	return nil
}

// notifyMarkup sends a text with a reply markup to the person (Live, once per key).
func (s *Service) notifyMarkup(ctx context.Context, tenantID uuid.UUID, botID, chatID int64, text string, markup any, key string) error {
	_, err := s.ob.Enqueue(ctx, outboxText(tenantID, botID, chatID, text, markup, key))
	return err
}

// assignRouted makes the request type's agent the assignee of a ticket
// nobody has yet, if they are still an active member (RLS keeps the look-up
// in the tenant). No note or topic post: the topic header follows.
func assignRouted(ctx context.Context, tx pgx.Tx, ticketID uuid.UUID, userID *uuid.UUID, now time.Time) error {
	if userID == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE support_tickets t SET assignee_user_id = u.id,
		assignee_name = CASE WHEN u.name = '' THEN u.email ELSE u.name END, updated_at = $3
		FROM users u WHERE t.id = $1 AND u.id = $2 AND NOT u.disabled
		AND t.assignee_user_id IS NULL AND t.assignee_tg_user_id IS NULL`, ticketID, *userID, now)
	if err != nil {
		return fmt.Errorf("store: assign routed ticket: %w", err)
	}
	return nil
}
