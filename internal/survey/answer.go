package survey

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/telegram"
)

// maxText caps a free-text answer (runes).
const maxText = 4000

// HandleCallback takes a survey button press.
func (s *Service) HandleCallback(ctx context.Context, in *telegram.Inbound) error {
	runID, pos, action, n, ok := parseData(in.Callback.Data)
	if !ok {
		return in.AnswerCallback(ctx, "")
	}
	if action == 'w' {
		return s.startWriting(ctx, in, runID, pos)
	}
	o, err := s.apply(ctx, in, runID, pos, func(q Question, cur *Value) (Value, bool, bool) {
		switch {
		case action == 's':
			return Value{Skipped: true}, q.Optional, true
		case action == 'c' && q.Kind == KindSingle:
			return Value{Choices: []int{n}}, n < len(q.Options), true
		case action == 'c' && q.Kind == KindScale:
			v := n
			return Value{Value: &v}, n >= q.ScaleMin && n <= q.ScaleMax, true
		case action == 'm' && q.Kind == KindMulti:
			var choices []int
			if cur != nil {
				choices = slices.Clone(cur.Choices)
			}
			if i := slices.Index(choices, n); i >= 0 {
				choices = slices.Delete(choices, i, i+1)
			} else {
				choices = append(choices, n)
				slices.Sort(choices)
			}
			return Value{Choices: choices}, n < len(q.Options), false
		case action == 'd' && q.Kind == KindMulti:
			if cur == nil || len(cur.Choices) == 0 {
				return Value{Skipped: true}, q.Optional, true
			}
			return *cur, true, true
		}
		return Value{}, false, false
	})
	if err != nil {
		return err
	}
	switch o.refused {
	case "closed":
		return in.AnswerCallback(ctx, in.T(ctx, TextClosed, nil))
	case "":
	default:
		return in.AnswerCallback(ctx, "")
	}
	if err := in.AnswerCallback(ctx, ""); err != nil {
		return err
	}
	// Show the choice on the question's buttons.
	if m := in.Callback.Message; m != nil {
		_, markup := s.render(ctx, in.TenantID, in.Lang, runID, o.q, &o.v, false)
		if markup != nil {
			if err := in.Send(ctx, "editMessageReplyMarkup", map[string]any{"message_id": m.MessageID, "reply_markup": markup}); err != nil {
				return err
			}
		}
	}
	_, err = s.after(ctx, in, o, false)
	return err
}

// startWriting opens the text dialog for a text question asked by a
// message sent outside a conversation.
func (s *Service) startWriting(ctx context.Context, in *telegram.Inbound, runID uuid.UUID, pos int) error {
	if err := in.AnswerCallback(ctx, ""); err != nil {
		return err
	}
	return in.StartDialog(ctx, DialogName, map[string]string{"run": runID.String(), "pos": strconv.Itoa(pos)})
}

// handleText is the dialog step that takes a free-text answer. Anything
// that is not text (a button of another feature, a command, a photo
// without caption) goes to normal routing.
func (s *Service) handleText(ctx context.Context, in *telegram.Inbound, st *telegram.DialogState) error {
	text := strings.TrimSpace(in.Text)
	if in.Message == nil || in.Edited || in.Command != "" || text == "" {
		return telegram.ErrPass
	}
	runID, err := uuid.Parse(st.Get("run"))
	pos, perr := strconv.Atoi(st.Get("pos"))
	if err != nil || perr != nil {
		st.Done()
		return nil
	}
	if utf8.RuneCountInString(text) > maxText {
		text = string([]rune(text)[:maxText])
	}
	o, err := s.apply(ctx, in, runID, pos, func(q Question, _ *Value) (Value, bool, bool) {
		return Value{Text: text}, q.Kind == KindText, true
	})
	if err != nil {
		return err
	}
	switch o.refused {
	case "closed":
		st.Done()
		return in.ReplyText(ctx, TextClosed, nil)
	case "":
	default:
		// A stale dialog: end it and let the message go its normal way.
		if err := in.EndDialog(ctx); err != nil {
			return err
		}
		return telegram.ErrPass
	}
	next, err := s.after(ctx, in, o, true)
	if err != nil {
		return err
	}
	if next != nil {
		st.Set("pos", strconv.Itoa(next.Position))
		return nil // the dialog stays for the next text question
	}
	st.Done()
	return nil
}
