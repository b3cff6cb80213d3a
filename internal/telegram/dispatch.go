package telegram

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Handler handles an update a route matched.
type Handler func(ctx context.Context, in *Inbound) error

// ErrPass, returned by a dialog step, hands the update on to normal
// routing (a button of another feature pressed mid-dialog, say).
var ErrPass = errors.New("telegram: pass to normal routing")

type groupRoute struct {
	purpose string
	h       Handler
}

type routes struct {
	commands  map[string]Handler
	payloads  map[string]Handler // /start payload prefix -> handler
	callbacks map[string]Handler // callback_data prefix -> handler
	groups    []groupRoute
	kinds     map[string][]Handler // chat_member, chat_join_request, my_chat_member
}

func newRoutes() routes {
	return routes{commands: map[string]Handler{}, payloads: map[string]Handler{}, callbacks: map[string]Handler{},
		kinds: map[string][]Handler{}}
}

// RegisterCommand routes /name in private chats to h (name without "/",
// lower case). "start" and "stop" replace the built-in behaviour.
func (p *Processor) RegisterCommand(name string, h Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes.commands[strings.ToLower(strings.TrimPrefix(name, "/"))] = h
}

// RegisterStartPayload routes "/start <payload>" deep links whose payload
// starts with prefix (e.g. "term_") to h; the longest prefix wins.
func (p *Processor) RegisterStartPayload(prefix string, h Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes.payloads[prefix] = h
}

// RegisterCallbackPrefix routes button presses whose callback_data starts
// with prefix (e.g. "disp:") to h, in private chats and groups; the longest
// prefix wins.
func (p *Processor) RegisterCallbackPrefix(prefix string, h Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes.callbacks[prefix] = h
}

// RegisterGroupHandler receives messages (and edits) in groups whose
// binding has the purpose ("" for every group, bound or not). Every
// matching handler runs, in registration order.
func (p *Processor) RegisterGroupHandler(purpose string, h Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes.groups = append(p.routes.groups, groupRoute{purpose: purpose, h: h})
}

// RegisterUpdateHandler receives every update of a kind that is not a
// conversation: KindChatMember, KindChatJoinRequest, KindMyChatMember
// (after the platform recorded it).
func (p *Processor) RegisterUpdateHandler(kind string, h Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes.kinds[kind] = append(p.routes.kinds[kind], h)
}

// PhoneHandler is told that a person shared their own phone number in a
// private chat (already saved on the contact). It runs before routing, on
// every delivery of the update (at least once): keep it idempotent.
type PhoneHandler func(ctx context.Context, in *Inbound, phone string) error

// OnPhoneShared adds a PhoneHandler (the CRM links the contact by phone).
func (p *Processor) OnPhoneShared(h PhoneHandler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phones = append(p.phones, h)
}

func (p *Processor) phoneShared(ctx context.Context, in *Inbound) error {
	msg := in.Message
	if !in.Private() || msg == nil || in.Edited || msg.Contact == nil || in.From == nil ||
		msg.Contact.UserID != in.From.ID || in.ContactID == uuid.Nil {
		return nil
	}
	p.mu.RLock()
	hs := p.phones
	p.mu.RUnlock()
	for _, h := range hs {
		if err := h(ctx, in, msg.Contact.PhoneNumber); err != nil {
			return err
		}
	}
	return nil
}

// SetFallback sets who gets private messages nothing else took (the
// support relay). Until one is set, the bot answers the greeting.
func (p *Processor) SetFallback(h Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fallback = h
}

func longestPrefix(m map[string]Handler, s string) Handler {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if strings.HasPrefix(s, k) {
			return m[k]
		}
	}
	return nil
}

// dispatch applies DESIGN.md 4a's precedence.
func (p *Processor) dispatch(ctx context.Context, in *Inbound) error {
	p.mu.RLock()
	r, fallback := p.routes, p.fallback
	p.mu.RUnlock()

	switch in.Kind {
	case KindChatMember, KindChatJoinRequest, KindMyChatMember:
		for _, h := range r.kinds[in.Kind] {
			if err := h(ctx, in); err != nil {
				return err
			}
		}
		return nil
	}
	if in.From != nil && in.From.IsBot {
		return nil // our own or another bot's messages are not conversations
	}
	if !in.Private() {
		return p.dispatchGroup(ctx, in, r)
	}

	// 1. An active dialog.
	handled, err := p.runDialog(ctx, in)
	if handled || err != nil {
		return err
	}
	// 2. A command.
	if in.Command != "" {
		if h := r.commands[in.Command]; h != nil {
			return h(ctx, in)
		}
		switch in.Command {
		case "start":
			if in.Payload != "" {
				if h := longestPrefix(r.payloads, in.Payload); h != nil {
					return h(ctx, in)
				}
			}
			return in.ReplyText(ctx, TextGreeting, nil)
		case "stop":
			if err := p.setUnsubscribed(ctx, in, true); err != nil {
				return err
			}
			return in.ReplyText(ctx, TextStopped, nil)
		case "cancel":
			return in.ReplyText(ctx, TextNothingToCancel, nil)
		}
	}
	// 3. A feature's button.
	if in.Callback != nil {
		if h := longestPrefix(r.callbacks, in.Callback.Data); h != nil {
			return h(ctx, in)
		}
		return in.AnswerCallback(ctx, "")
	}
	// 4. The support relay (or the greeting until there is one).
	if fallback != nil {
		return fallback(ctx, in)
	}
	if in.Edited || in.Message == nil {
		return nil
	}
	return in.ReplyText(ctx, TextGreeting, nil)
}

func (p *Processor) dispatchGroup(ctx context.Context, in *Inbound, r routes) error {
	if in.Callback != nil {
		if h := longestPrefix(r.callbacks, in.Callback.Data); h != nil {
			return h(ctx, in)
		}
		return in.AnswerCallback(ctx, "")
	}
	if in.Message == nil {
		return nil
	}
	purpose := ""
	if in.Binding != nil {
		purpose = in.Binding.Purpose
	}
	for _, g := range r.groups {
		if g.purpose == "" || g.purpose == purpose {
			if err := g.h(ctx, in); err != nil {
				return err
			}
		}
	}
	return nil
}
