package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Dialog is a named flow of steps (a wizard, a survey question) that owns
// a private chat until it ends, times out or the person sends /cancel.
// Its state lives in Redis per (bot, chat); it is only read and written by
// the chat's drain, which holds the chat's lock, so steps never race.
type Dialog struct {
	Name    string
	Timeout time.Duration // how long the person has to answer a step (default 30 min)
	First   string        // the first step
	Steps   map[string]Step
}

// Step is one question of a dialog.
type Step struct {
	// Prompt asks the question when the dialog enters the step (optional).
	Prompt func(ctx context.Context, in *Inbound, st *DialogState) error
	// Handle takes the answer: it calls st.Goto(next) or st.Done(), or
	// neither to stay on the step (and should then ask again). Returning
	// ErrPass hands the update to normal routing instead.
	Handle func(ctx context.Context, in *Inbound, st *DialogState) error
}

// DialogState is a running dialog.
type DialogState struct {
	Name      string            `json:"name"`
	Step      string            `json:"step"`
	Data      map[string]string `json:"data"`
	ExpiresAt time.Time         `json:"expires_at"`

	next string
	done bool
}

// Goto moves to step once the current handler returns.
func (s *DialogState) Goto(step string) { s.next = step }

// Done ends the dialog once the current handler returns.
func (s *DialogState) Done() { s.done = true }

// Set keeps a value for later steps.
func (s *DialogState) Set(k, v string) {
	if s.Data == nil {
		s.Data = map[string]string{}
	}
	s.Data[k] = v
}

// Get reads a kept value.
func (s *DialogState) Get(k string) string { return s.Data[k] }

// ErrUnknownDialog means StartDialog named a dialog nobody registered.
var ErrUnknownDialog = errors.New("telegram: unknown dialog")

// RegisterDialog makes a dialog startable by name.
func (p *Processor) RegisterDialog(d *Dialog) {
	if d.Timeout <= 0 {
		d.Timeout = 30 * time.Minute
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialogs[d.Name] = d
}

func dialogKey(bot, chat int64) string { return fmt.Sprintf("%sdlg:%d:%d", keyPrefix, bot, chat) }

// StartDialog starts a dialog in this chat (replacing any running one)
// and asks its first question.
func (in *Inbound) StartDialog(ctx context.Context, name string, data map[string]string) error {
	p := in.p
	p.mu.RLock()
	d := p.dialogs[name]
	p.mu.RUnlock()
	if d == nil {
		return fmt.Errorf("%w: %s", ErrUnknownDialog, name)
	}
	st := &DialogState{Name: name, Step: d.First, Data: data}
	return p.enterStep(ctx, in, d, st)
}

// EndDialog ends the chat's dialog, if any.
func (in *Inbound) EndDialog(ctx context.Context) error {
	return in.p.deleteDialog(ctx, in)
}

func (p *Processor) enterStep(ctx context.Context, in *Inbound, d *Dialog, st *DialogState) error {
	if err := p.saveDialog(ctx, in, d, st); err != nil {
		return err
	}
	step, ok := d.Steps[st.Step]
	if !ok {
		_ = p.deleteDialog(ctx, in)
		return fmt.Errorf("telegram: dialog %s has no step %q", d.Name, st.Step)
	}
	if step.Prompt != nil {
		return step.Prompt(ctx, in, st)
	}
	return nil
}

func (p *Processor) saveDialog(ctx context.Context, in *Inbound, d *Dialog, st *DialogState) error {
	st.ExpiresAt = p.clock.Now().Add(d.Timeout)
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("telegram: save dialog: %w", err)
	}
	if err := p.rdb.Set(ctx, dialogKey(in.BotID, in.ChatID), raw, d.Timeout+p.opts.DialogGrace).Err(); err != nil {
		return fmt.Errorf("telegram: save dialog: %w", err)
	}
	return nil
}

func (p *Processor) deleteDialog(ctx context.Context, in *Inbound) error {
	if err := p.rdb.Del(ctx, dialogKey(in.BotID, in.ChatID)).Err(); err != nil {
		return fmt.Errorf("telegram: end dialog: %w", err)
	}
	return nil
}

// runDialog gives the update to the chat's dialog; handled=false means
// normal routing goes on (no dialog, it expired, or the step passed).
func (p *Processor) runDialog(ctx context.Context, in *Inbound) (bool, error) {
	raw, err := p.rdb.Get(ctx, dialogKey(in.BotID, in.ChatID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("telegram: load dialog: %w", err)
	}
	var st DialogState
	if err := json.Unmarshal(raw, &st); err != nil {
		return false, p.deleteDialog(ctx, in)
	}
	if p.clock.Now().After(st.ExpiresAt) {
		if err := p.deleteDialog(ctx, in); err != nil {
			return false, err
		}
		return false, in.ReplyText(ctx, TextDialogTimeout, nil)
	}
	if in.Command == "cancel" {
		if err := p.deleteDialog(ctx, in); err != nil {
			return true, err
		}
		return true, in.ReplyText(ctx, TextDialogCancelled, nil)
	}
	p.mu.RLock()
	d := p.dialogs[st.Name]
	p.mu.RUnlock()
	step, ok := Step{}, false
	if d != nil {
		step, ok = d.Steps[st.Step]
	}
	if !ok || step.Handle == nil {
		// The dialog changed shape under a running state: drop it.
		return false, p.deleteDialog(ctx, in)
	}
	if err := step.Handle(ctx, in, &st); errors.Is(err, ErrPass) {
		return false, nil
	} else if err != nil {
		return true, err
	}
	switch {
	case st.done:
		return true, p.deleteDialog(ctx, in)
	case st.next != "":
		st.Step, st.next = st.next, ""
		return true, p.enterStep(ctx, in, d, &st)
	default:
		return true, p.saveDialog(ctx, in, d, &st)
	}
}
