package tgsandbox

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"
)

// isOptIn reports the update kinds Telegram only sends when asked for in allowed_updates.
func isOptIn(kind string) bool {
	return kind == "chat_member" || kind == "message_reaction" || kind == "message_reaction_count"
}

func (b *bot) wants(kind string) bool {
	if len(b.allowed) == 0 {
		return !isOptIn(kind)
	}
	return slices.Contains(b.allowed, kind)
}

// emitLocked queues an update for a bot and wakes its consumer.
func (s *Server) emitLocked(b *bot, kind string, payload any) {
	if b == nil || !b.wants(kind) {
		return
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		s.log.Error("tgsandbox: marshal update", slog.Any("error", err))
		return
	}
	u := &update{id: b.nextUpd, kind: kind, payload: raw, created: s.clock.Now()}
	b.nextUpd++
	b.updates = append(b.updates, u)
	s.wakePollersLocked(b)
	s.wakeWebhookLocked(b)
}

func (s *Server) wakePollersLocked(b *bot) {
	close(b.notify)
	b.notify = make(chan struct{})
}

// expireLocked drops updates older than UpdateTTL, as Telegram keeps them 24 h.
func (s *Server) expireLocked(b *bot) {
	cutoff := s.clock.Now().Add(-s.opts.UpdateTTL)
	i := 0
	for i < len(b.updates) && !b.updates[i].inFlight && b.updates[i].created.Before(cutoff) {
		i++
	}
	if i > 0 {
		b.updates = slices.Clone(b.updates[i:])
	}
}

// getUpdates implements long polling. It manages s.mu itself so a waiting
// poll does not block the rest of the server.
func (s *Server) getUpdates(ctx context.Context, b *bot, p *params) (any, error) {
	offset, err := p.IntOr("offset", 0)
	if err != nil {
		return nil, err
	}
	limit, err := p.IntOr("limit", 100)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > 100 {
		limit = 100
	}
	timeout, err := p.IntOr("timeout", 0)
	if err != nil {
		return nil, err
	}
	var allowed []string
	hasAllowed, err := p.Decode("allowed_updates", &allowed)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)

	s.mu.Lock()
	if b.webhook != nil {
		s.mu.Unlock()
		return nil, errWebhookConflict()
	}
	if hasAllowed {
		b.allowed = allowed
	}
	// A newer poll makes an older one give up, like two bot instances do.
	b.pollGen++
	gen := b.pollGen
	s.wakePollersLocked(b)
	for {
		if b.pollGen != gen {
			s.mu.Unlock()
			return nil, errPollConflict()
		}
		if b.webhook != nil {
			s.mu.Unlock()
			return nil, errWebhookConflict()
		}
		s.expireLocked(b)
		s.confirmLocked(b, offset)
		if out := s.collectLocked(b, int(limit)); len(out) > 0 || time.Now().After(deadline) || timeout <= 0 {
			s.mu.Unlock()
			return out, nil
		}
		ch := b.notify
		s.mu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-s.ctx.Done():
			t.Stop()
			return []json.RawMessage{}, nil
		}
		t.Stop()
		s.mu.Lock()
		if s.st.bots[b.ID] != b {
			s.mu.Unlock()
			return []json.RawMessage{}, nil
		}
	}
}

// confirmLocked forgets updates below offset; a negative offset keeps only
// the last -offset updates, as the Bot API documents.
func (s *Server) confirmLocked(b *bot, offset int64) {
	switch {
	case offset > 0:
		i := 0
		for i < len(b.updates) && b.updates[i].id < offset {
			i++
		}
		b.updates = slices.Clone(b.updates[i:])
	case offset < 0:
		if keep := int(-offset); keep < len(b.updates) {
			b.updates = slices.Clone(b.updates[len(b.updates)-keep:])
		}
	}
}

func (s *Server) collectLocked(b *bot, limit int) []json.RawMessage {
	out := []json.RawMessage{}
	for _, u := range b.updates {
		if len(out) >= limit {
			break
		}
		out = append(out, u.marshal())
	}
	return out
}
