package support

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Text keys the desk sends to people (tenants/defaults/catalog.yaml).
const (
	TextReceived = "support.received"
	TextResolved = "support.resolved"
)

// contentKinds are the message fields copyMessage can copy, in the order
// they are looked for; a message with none of them (a service message) is
// not relayed.
var contentKinds = []string{"text", "photo", "video", "animation", "document", "audio", "voice", "video_note",
	"sticker", "contact", "location", "venue", "poll", "dice",
	// copyMessage refuses these (Bot API: paid media, giveaways and
	// invoices cannot be copied): they are stored with the raw update and
	// the topic gets a note instead of a copy.
	"paid_media", "giveaway", "giveaway_winners", "invoice"}

var uncopyable = map[string]bool{"paid_media": true, "giveaway": true, "giveaway_winners": true, "invoice": true}

// uncopyableNote is the topic note for a message that cannot be copied.
func uncopyableNote(kind, why string) string {
	return "⚠️ The person sent a message that cannot be copied here (" + kind + why +
		"). It is kept with the ticket (raw update in the console)."
}

// contentKind names the message's content ("" for service messages).
func contentKind(in *telegram.Inbound) string {
	var u struct {
		Message       json.RawMessage `json:"message"`
		EditedMessage json.RawMessage `json:"edited_message"`
	}
	if json.Unmarshal(in.Raw, &u) != nil {
		return ""
	}
	msg := u.Message
	if len(msg) == 0 {
		msg = u.EditedMessage
	}
	var fields map[string]json.RawMessage
	if len(msg) == 0 || json.Unmarshal(msg, &fields) != nil {
		return ""
	}
	for _, k := range contentKinds {
		if _, ok := fields[k]; ok {
			return k
		}
	}
	return ""
}

func params(v map[string]any) json.RawMessage {
	raw, _ := json.Marshal(v)
	return raw
}

// HandleUserMessage is the processor's fallback for private messages: the
// support relay. It stores the message on the person's open ticket (opening
// one if needed) and relays it into the person's topic, creating the topic
// on the first real message.
func (s *Service) HandleUserMessage(ctx context.Context, in *telegram.Inbound) error {
	if in.Message == nil || in.ContactID == uuid.Nil {
		return nil
	}
	now := s.clock.Now()
	if in.Edited {
		return s.userEdit(ctx, in, now)
	}
	kind := contentKind(in)
	if kind == "" {
		return nil
	}
	types := s.settings(ctx, in.TenantID).Support.RequestTypes
	var newTicket *ticketRow
	var ask *topicRow
	var askCard contactCard
	var lang string
	var menu, banned, tell bool
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		newTicket, ask, menu = nil, nil, false
		// One round trip for everything the message is handled against. A
		// banned person's message is not stored or relayed; they are told
		// once.
		st, err := readMessageState(ctx, tx, in.BotID, in.ContactID, s.clock.Now())
		if banned, tell = st.banned, st.tell; err != nil || banned {
			return err
		}
		anyStaff, card, ticket := st.anyStaff, st.card, st.ticket
		lang = card.Language
		var topic *topicRow
		if anyStaff != 0 {
			topic = st.topic
		}
		// First contact with a routing menu: the topic waits for the
		// person's choice (or RouteWait, after which it goes untyped).
		waiting := false
		if topic == nil && len(types) > 0 {
			switch {
			case ticket == nil:
				waiting, menu = true, true
			case ticket.RoutePending && now.Sub(ticket.OpenedAt) < s.opts.RouteWait:
				waiting = true
			case ticket.RoutePending:
				if _, err := tx.Exec(ctx, `UPDATE support_tickets SET route_pending = false WHERE id = $1`, ticket.ID); err != nil {
					return fmt.Errorf("store: route timeout: %w", err)
				}
			}
		}
		if anyStaff != 0 && topic == nil && !waiting {
			reqType := ""
			if ticket != nil {
				reqType = ticket.RequestType
			}
			staffChat, err := pickGroup(ctx, tx, in.BotID, reqType)
			if err != nil {
				return err
			}
			var started bool
			if topic, started, err = s.startTopic(ctx, tx, in, staffChat, now); err != nil {
				return err
			}
			if started {
				ask, askCard = topic, card
			}
			if ticket != nil && ticket.TopicID == nil {
				// A ticket that waited for the routing menu gets its topic.
				if _, err := tx.Exec(ctx, `UPDATE support_tickets SET topic_id = $2 WHERE id = $1`, ticket.ID, topic.ID); err != nil {
					return fmt.Errorf("store: link ticket: %w", err)
				}
			}
		}
		if ticket == nil {
			var topicID *uuid.UUID
			if topic != nil {
				topicID = &topic.ID
			}
			if ticket, err = insertTicket(ctx, tx, in.TenantID, in.BotID, in.ContactID, topicID, now); err != nil {
				return err
			}
			if waiting {
				if _, err := tx.Exec(ctx, `UPDATE support_tickets SET route_pending = true WHERE id = $1`, ticket.ID); err != nil {
					return fmt.Errorf("store: route pending: %w", err)
				}
			}
			newTicket = ticket
		}
		source := fmt.Sprintf("tg:%d:%d:%d", in.BotID, in.ChatID, in.Message.MessageID)
		msgID := in.Message.MessageID
		m := &message{TicketID: ticket.ID, Direction: "in", UserChatID: in.ChatID, UserMessageID: &msgID,
			AuthorContactID: &in.ContactID, AuthorName: displayName(card), Kind: kind, Text: in.Text,
			Relay: "none", Source: &source, Raw: in.Raw}
		if waiting && anyStaff != 0 {
			m.Relay = "pending" // relayed once the routed topic exists
		}
		if topic != nil {
			m.Relay = "pending"
			// The person writes again: a later failed relay may note a block again.
			if topic.BlockedNoted {
				if _, err := tx.Exec(ctx, `UPDATE support_topics SET blocked_noted_at = NULL WHERE id = $1`, topic.ID); err != nil {
					return fmt.Errorf("store: clear blocked note: %w", err)
				}
			}
		}
		fresh, err := insertMessage(ctx, tx, in.TenantID, m, now)
		if err != nil || !fresh {
			newTicket, menu = nil, false
			return err // stored (and relayed) by an earlier attempt
		}
		if topic == nil {
			return nil // no staff group: the ticket is worked from the console
		}
		return s.relayIntoTopic(ctx, in.TenantID, tx, topic, newTicket != nil, now)
	})
	if err != nil {
		return fmt.Errorf("support: user message: %w", err)
	}
	if banned {
		if tell {
			text := s.texts.Text(ctx, in.TenantID, TextBanned, in.Lang, nil)
			return s.notify(ctx, in.TenantID, in.BotID, in.ChatID, text, fmt.Sprintf("support:banned:%d:%d", in.BotID, in.UpdateID))
		}
		return nil
	}
	if ask != nil {
		// After the commit, so the topic-created hook finds the row. If this
		// fails, the person's next message after CreateRetryAfter asks again.
		if err := s.askTopic(ctx, in.TenantID, nil, ask, askCard); err != nil {
			return fmt.Errorf("support: user message: %w", err)
		}
	}
	if newTicket != nil {
		s.log.Info("support: ticket opened", "tenant_id", in.TenantID, "bot_id", in.BotID, "ticket_id", newTicket.ID)
		text := s.texts.Text(ctx, in.TenantID, TextReceived, lang, map[string]string{"ticket_no": strconv.FormatInt(newTicket.No, 10)})
		if err := s.notify(ctx, in.TenantID, in.BotID, in.ChatID, text, "support:received:"+newTicket.ID.String()); err != nil {
			return err
		}
		if menu {
			return s.sendRouteMenu(ctx, in, newTicket.ID, types, lang)
		}
	}
	return nil
}

// relayIntoTopic sends the topic's pending messages in order once the topic
// exists; it reopens a closed topic and shows ❗. The topic row is locked.
func (s *Service) relayIntoTopic(ctx context.Context, tenantID uuid.UUID, tx pgx.Tx, topic *topicRow, newTicket bool, now time.Time) error {
	switch topic.State {
	case "creating":
		if now.Sub(topic.UpdatedAt) > s.opts.CreateRetryAfter {
			// The creation failed, was never asked for (the person's topic
			// budget) or its result was lost: ask again. One that is only
			// waiting for the group's budget (a flood) is not asked twice.
			waiting, err := outbox.InFlightTx(ctx, tx, topic.BotID, topicKey(topic))
			if err != nil || waiting {
				return err
			}
			return s.recreateTopic(ctx, tenantID, tx, topic, now)
		}
		return nil // the topic-created hook relays the pending messages
	case "closed":
		if _, err := tx.Exec(ctx, `UPDATE support_topics SET state = 'open', updated_at = $2 WHERE id = $1`, topic.ID, now); err != nil {
			return fmt.Errorf("store: reopen topic: %w", err)
		}
		if _, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: topic.BotID, ChatID: topic.StaffChatID,
			ThreadID: *topic.ThreadID, Method: "reopenForumTopic", Priority: outbox.Topic, Kind: kindState,
			Ref: topic.ID.String(), IdempotencyKey: fmt.Sprintf("support:reopen:%s:%d", topic.ID, now.UnixNano())}); err != nil {
			return err
		}
	}
	if newTicket {
		// A new ticket in an existing topic: point the topic's tickets at it.
		if _, err := tx.Exec(ctx, `UPDATE support_tickets SET topic_id = $1 WHERE topic_id IS NULL AND bot_id = $2
			AND contact_id = $3 AND status <> 'resolved'`, topic.ID, topic.BotID, topic.ContactID); err != nil {
			return fmt.Errorf("store: link ticket: %w", err)
		}
	}
	if err := s.flushPending(ctx, tenantID, tx, topic); err != nil {
		return err
	}
	if topic.Icon == iconNew && (topic.IconApplied == iconNew || topic.IconDue) {
		return nil // ❗ already wanted and shown or on its way: setIcon would change nothing
	}
	return s.setIcon(ctx, tenantID, tx, topic.ID, iconNew, now)
}

// flushPending enqueues the topic's pending messages in arrival order.
func (s *Service) flushPending(ctx context.Context, tenantID uuid.UUID, tx pgx.Tx, topic *topicRow) error {
	pend, err := takePending(ctx, tx, topic.ID)
	if err != nil {
		return err
	}
	for _, p := range pend {
		m := outbox.Message{TenantID: tenantID, BotID: topic.BotID, ChatID: topic.StaffChatID,
			ThreadID: *topic.ThreadID, Method: "copyMessage",
			Params:   params(map[string]any{"from_chat_id": p.UserChatID, "message_id": p.UserMessageID}),
			Priority: outbox.Live, Kind: kindRelayIn, Ref: p.ID.String(),
			IdempotencyKey: fmt.Sprintf("support:in:%s:%d", p.ID, topic.Generation)}
		if uncopyable[p.Kind] {
			m.Method, m.Kind = "sendMessage", kindNote
			m.Params = params(map[string]any{"text": uncopyableNote(p.Kind, "")})
		}
		if _, err := s.enqueueTx(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
}

// startTopic creates the topic row and answers whether the caller must ask
// for the forum topic. The caller asks only after its transaction commits:
// the topic-created hook may run as soon as the call is enqueued, and it
// cannot see (so would drop the result for) a row not yet committed.
func (s *Service) startTopic(ctx context.Context, tx pgx.Tx, in *telegram.Inbound, staffChat int64, now time.Time) (*topicRow, bool, error) {
	topic, err := insertTopic(ctx, tx, in.TenantID, in.BotID, in.ContactID, in.ChatID, staffChat, now)
	if err != nil {
		return nil, false, err
	}
	return topic, topic.State == "creating" && topic.Generation == 1, nil
}

// recreateTopic starts a new generation of the topic (deleted, or its
// creation lost) and asks for it.
func (s *Service) recreateTopic(ctx context.Context, tenantID uuid.UUID, tx pgx.Tx, topic *topicRow, now time.Time) error {
	err := tx.QueryRow(ctx, `UPDATE support_topics SET state = 'creating', thread_id = NULL, generation = generation + 1,
		icon_applied = 'new', icon_due_at = NULL, updated_at = $2 WHERE id = $1 RETURNING generation`, topic.ID, now).Scan(&topic.Generation)
	if err != nil {
		return fmt.Errorf("store: recreate topic: %w", err)
	}
	topic.State, topic.ThreadID = "creating", nil
	card, err := contactOf(ctx, tx, topic.ContactID)
	if err != nil {
		return err
	}
	// Messages already queued into the old thread fail and come back as
	// pending; mark the queued ones pending now so the new topic gets them.
	if _, err := tx.Exec(ctx, `UPDATE support_messages m SET relay = 'pending' FROM support_tickets t
		WHERE t.id = m.ticket_id AND t.topic_id = $1 AND m.relay = 'queued' AND m.direction = 'in'`, topic.ID); err != nil {
		return fmt.Errorf("store: requeue messages: %w", err)
	}
	return s.askTopic(ctx, tenantID, tx, topic, card)
}

// askTopic enqueues createForumTopic, within the person's creation budget;
// over it, the messages stay pending until the next message after the window.
// With tx (a collecting transaction) the call is queued after its commit;
// without, the topic row must already be committed.
func (s *Service) askTopic(ctx context.Context, tenantID uuid.UUID, tx pgx.Tx, topic *topicRow, card contactCard) error {
	key := fmt.Sprintf("support:topics:%d:%s", topic.BotID, topic.ContactID)
	n, err := s.rdb.Incr(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("support: topic budget: %w", err)
	}
	if n == 1 {
		s.rdb.Expire(ctx, key, time.Hour)
	}
	if n > s.opts.TopicCreatesPerHour {
		s.log.Warn("support: topic creation rate-limited", "tenant_id", tenantID, "bot_id", topic.BotID,
			"contact_id", topic.ContactID)
		return nil
	}
	p := map[string]any{"name": topicName(card)}
	if id := s.iconID(ctx, topic.BotID, iconNew); id != "" {
		p["icon_custom_emoji_id"] = id
	}
	m := outbox.Message{TenantID: tenantID, BotID: topic.BotID, ChatID: topic.StaffChatID,
		Method: "createForumTopic", Params: params(p), Priority: outbox.Topic, Kind: kindTopic,
		Ref: fmt.Sprintf("%s:%d", topic.ID, topic.Generation), IdempotencyKey: topicKey(topic)}
	if tx != nil {
		_, err = s.enqueueTx(ctx, tx, m)
	} else {
		_, err = s.ob.Enqueue(ctx, m)
	}
	return err
}

// topicKey is the idempotency key of a topic generation's creation.
func topicKey(topic *topicRow) string {
	return fmt.Sprintf("support:topic:%s:%d", topic.ID, topic.Generation)
}

// onTopicCreated records the new thread, posts the header and relays the
// pending messages in order, under the topic's lock.
func (s *Service) onTopicCreated(ctx context.Context, r outbox.Result) error {
	idStr, genStr, _ := strings.Cut(r.Ref, ":")
	topicID, err := uuid.Parse(idStr)
	gen, gerr := strconv.Atoi(genStr)
	if err != nil || gerr != nil {
		return fmt.Errorf("support: topic result ref %q", r.Ref)
	}
	if r.Status != "sent" || r.TopicID == 0 {
		s.log.Warn("support: topic not created", "tenant_id", r.TenantID, "bot_id", r.BotID, "code", r.ErrorCode,
			"description", r.Description)
		return nil // retried on the person's next message after CreateRetryAfter
	}
	now := s.clock.Now()
	return s.inTenant(ctx, r.TenantID, func(tx pgx.Tx) error {
		topic, err := lockTopicByID(ctx, tx, topicID)
		if err != nil || topic == nil || topic.State != "creating" || topic.Generation != gen {
			return err // a repeat or a stale generation
		}
		if _, err := tx.Exec(ctx, `UPDATE support_topics SET thread_id = $2, state = 'open', icon_applied = 'new',
			icon_edited_at = $3, updated_at = $3 WHERE id = $1`, topic.ID, r.TopicID, now); err != nil {
			return fmt.Errorf("store: topic created: %w", err)
		}
		thread := r.TopicID
		topic.ThreadID, topic.State = &thread, "open"
		card, err := contactOf(ctx, tx, topic.ContactID)
		if err != nil {
			return err
		}
		header := headerText(card, topic.Generation > 1)
		if _, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: r.TenantID, BotID: topic.BotID, ChatID: topic.StaffChatID,
			ThreadID: thread, Method: "sendMessage", Params: params(map[string]any{"text": header}), Priority: outbox.Live,
			Kind: kindHeader, Ref: topic.ID.String(), IdempotencyKey: fmt.Sprintf("support:header:%s:%d", topic.ID, gen)}); err != nil {
			return err
		}
		if err := s.flushPending(ctx, r.TenantID, tx, topic); err != nil {
			return err
		}
		// The topic was created with ❗; if the status moved on meanwhile,
		// the debounced edit catches up.
		var icon string
		if err := tx.QueryRow(ctx, `SELECT icon FROM support_topics WHERE id = $1`, topic.ID).Scan(&icon); err != nil {
			return fmt.Errorf("store: topic icon: %w", err)
		}
		return s.setIcon(ctx, r.TenantID, tx, topic.ID, icon, now)
	})
}

// onRelayIn records the staff-side copy's id; a deleted topic is recreated
// and the message waits for it.
func (s *Service) onRelayIn(ctx context.Context, r outbox.Result) error {
	msgID, err := uuid.Parse(r.Ref)
	if err != nil {
		return fmt.Errorf("support: relay result ref %q", r.Ref)
	}
	now := s.clock.Now()
	if r.Status == "sent" && len(r.MessageIDs) > 0 {
		// The common case in one round trip: the copy's id recorded on a
		// message nobody edited meanwhile. Otherwise the transaction below.
		recorded := false
		b := &pgx.Batch{}
		b.Queue(`UPDATE support_messages SET relay = 'sent', staff_chat_id = $2, staff_message_id = $3
			WHERE id = $1 AND edited_at IS NULL`, msgID, r.ChatID, r.MessageIDs[0])
		err := s.db.InTenantPipeline(ctx, r.TenantID, b, func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			recorded = err == nil && tag.RowsAffected() == 1
			return err
		})
		if err != nil {
			return fmt.Errorf("support: record copy: %w", err)
		}
		if recorded {
			return nil
		}
	}
	return s.inTenant(ctx, r.TenantID, func(tx pgx.Tx) error {
		switch {
		case r.Status == "sent" && len(r.MessageIDs) > 0:
			var edited bool
			var kind, text string
			err := tx.QueryRow(ctx, `UPDATE support_messages SET relay = 'sent', staff_chat_id = $2, staff_message_id = $3
				WHERE id = $1 RETURNING edited_at IS NOT NULL, kind, coalesce(text, '')`, msgID, r.ChatID, r.MessageIDs[0]).Scan(&edited, &kind, &text)
			if err != nil || !edited {
				return ignoreNotFound(err)
			}
			return s.editAfterCopy(ctx, tx, r, msgID, r.MessageIDs[0], kind, text, false)
		case r.ThreadNotFound():
			var topicID uuid.UUID
			if err := tx.QueryRow(ctx, `SELECT t.topic_id FROM support_messages m JOIN support_tickets t ON t.id = m.ticket_id
				WHERE m.id = $1 AND t.topic_id IS NOT NULL`, msgID).Scan(&topicID); err != nil {
				return fmt.Errorf("store: topic of message: %w", err)
			}
			topic, err := lockTopicByID(ctx, tx, topicID)
			if err != nil || topic == nil {
				return err
			}
			if err := setRelay(ctx, tx, msgID, "pending"); err != nil {
				return err
			}
			if topic.ThreadID == nil || *topic.ThreadID != r.ThreadID {
				return nil // already being recreated
			}
			s.log.Info("support: topic deleted, recreating", "tenant_id", r.TenantID, "bot_id", r.BotID, "topic_id", topic.ID)
			return s.recreateTopic(ctx, r.TenantID, tx, topic, now)
		case r.Status == "failed" && r.ErrorCode == 400 && r.ThreadID != 0:
			// The sandbox or Telegram refused the copy ("message can't be
			// copied"): nothing is lost (the message and its raw update are
			// stored); the agents are told in the topic.
			if err := setRelay(ctx, tx, msgID, "failed"); err != nil {
				return err
			}
			var kind string
			if err := tx.QueryRow(ctx, `SELECT kind FROM support_messages WHERE id = $1`, msgID).Scan(&kind); err != nil {
				return fmt.Errorf("store: message kind: %w", err)
			}
			_, err := s.enqueueTx(ctx, tx, outbox.Message{TenantID: r.TenantID, BotID: r.BotID, ChatID: r.ChatID, ThreadID: r.ThreadID,
				Method: "sendMessage", Params: params(map[string]any{"text": uncopyableNote(kind, ": "+r.Description)}),
				Priority: outbox.Live, Kind: kindNote, Ref: msgID.String(), IdempotencyKey: "support:uncopyable:" + msgID.String()})
			return err
		default:
			return setRelay(ctx, tx, msgID, "failed")
		}
	})
}

// onRelayOut records the person-side copy's id of an agent's message.
func (s *Service) onRelayOut(ctx context.Context, r outbox.Result) error {
	msgID, err := uuid.Parse(r.Ref)
	if err != nil {
		return fmt.Errorf("support: relay result ref %q", r.Ref)
	}
	return s.inTenant(ctx, r.TenantID, func(tx pgx.Tx) error {
		if r.Status == "sent" && len(r.MessageIDs) > 0 {
			var edited bool
			var kind, text string
			err := tx.QueryRow(ctx, `UPDATE support_messages SET relay = 'sent', user_message_id = $2 WHERE id = $1
				RETURNING edited_at IS NOT NULL, kind, coalesce(text, '')`, msgID, r.MessageIDs[0]).Scan(&edited, &kind, &text)
			if err != nil || !edited {
				return ignoreNotFound(err)
			}
			return s.editAfterCopy(ctx, tx, r, msgID, r.MessageIDs[0], kind, text, true)
		}
		if err := setRelay(ctx, tx, msgID, "failed"); err != nil {
			return err
		}
		if r.Status != "blocked" {
			return nil
		}
		return s.noteBlocked(ctx, r, tx, msgID)
	})
}

// noteBlocked posts "the person blocked the bot" in the topic, once until
// the person writes again.
func (s *Service) noteBlocked(ctx context.Context, r outbox.Result, tx pgx.Tx, msgID uuid.UUID) error {
	var staffChat int64
	var thread *int
	err := tx.QueryRow(ctx, `UPDATE support_topics tp SET blocked_noted_at = $2 FROM support_messages m
		JOIN support_tickets t ON t.id = m.ticket_id
		WHERE m.id = $1 AND tp.id = t.topic_id AND tp.blocked_noted_at IS NULL
		RETURNING tp.staff_chat_id, tp.thread_id`, msgID, s.clock.Now()).Scan(&staffChat, &thread)
	if db.IsNotFound(err) || (err == nil && thread == nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: blocked note: %w", err)
	}
	_, err = s.enqueueTx(ctx, tx, outbox.Message{TenantID: r.TenantID, BotID: r.BotID, ChatID: staffChat, ThreadID: *thread,
		Method: "sendMessage", Params: params(map[string]any{"text": "⛔ The person blocked the bot: replies do not reach them until they write again."}),
		Priority: outbox.Live, Kind: kindNote, Ref: msgID.String(), IdempotencyKey: "support:blocked:" + msgID.String()})
	return err
}

// notify sends a tenant text to the person (Live, once per key).
func (s *Service) notify(ctx context.Context, tenantID uuid.UUID, botID, chatID int64, text, key string) error {
	_, err := s.ob.Enqueue(ctx, outboxText(tenantID, botID, chatID, text, nil, key))
	return err
}

// outboxText is a text (with an optional reply markup) to the person.
func outboxText(tenantID uuid.UUID, botID, chatID int64, text string, markup any, key string) outbox.Message {
	p := map[string]any{"text": text}
	if markup != nil {
		p["reply_markup"] = markup
	}
	return outbox.Message{TenantID: tenantID, BotID: botID, ChatID: chatID, Method: "sendMessage",
		Params: params(p), Priority: outbox.Live, Kind: kindNotice, IdempotencyKey: key}
}

func displayName(c contactCard) string {
	return strings.TrimSpace(c.FirstName + " " + c.LastName)
}

// topicName is "Name @username 12345", at most 128 characters.
func topicName(c contactCard) string {
	parts := []string{}
	if n := displayName(c); n != "" {
		parts = append(parts, n)
	}
	if c.Username != "" {
		parts = append(parts, "@"+c.Username)
	}
	parts = append(parts, strconv.FormatInt(c.TgUserID, 10))
	name := strings.Join(parts, " ")
	for utf8.RuneCountInString(name) > 128 {
		r := []rune(name)
		name = string(r[:128])
	}
	return name
}

// headerText is the user card at the top of a topic.
func headerText(c contactCard, recreated bool) string {
	var b strings.Builder
	if recreated {
		b.WriteString("♻️ The previous topic was deleted; this one continues the conversation.\n\n")
	}
	fmt.Fprintf(&b, "👤 %s\n", displayName(c))
	if c.Username != "" {
		fmt.Fprintf(&b, "@%s\n", c.Username)
	}
	fmt.Fprintf(&b, "id: %d\n", c.TgUserID)
	if c.Language != "" {
		fmt.Fprintf(&b, "language: %s\n", c.Language)
	}
	if c.Phone != "" {
		fmt.Fprintf(&b, "phone: %s\n", c.Phone)
	}
	b.WriteString("\nReply in this topic to answer; start a message with // for an internal note; /close resolves.\n" +
		"Commands: /reopen, /assign @username, /note text, /t name (saved reply), /history, /ban, /unban.")
	return b.String()
}

// ignoreNotFound treats a row that is gone as nothing to do.
func ignoreNotFound(err error) error {
	if db.IsNotFound(err) {
		return nil
	}
	return err
}
