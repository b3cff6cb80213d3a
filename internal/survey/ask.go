package survey

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/telegram"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Text keys the engine sends (tenants/defaults/catalog.yaml).
const (
	TextThanks       = "survey.thanks"
	TextClosed       = "survey.closed"
	TextAnswerButton = "survey.answer_button"
	textSkip         = "button.skip"
	textDone         = "button.done"
)

// CallbackPrefix starts the callback_data of every survey button.
const CallbackPrefix = "sv:"

// DialogName is the processor dialog that takes free-text answers.
const DialogName = "survey"

// Routes is what the engine needs from the update processor.
type Routes interface {
	RegisterDialog(d *telegram.Dialog)
	RegisterCallbackPrefix(prefix string, h telegram.Handler)
}

// Attach registers the survey buttons and the free-text dialog.
func (s *Service) Attach(p Routes) {
	p.RegisterCallbackPrefix(CallbackPrefix, s.HandleCallback)
	p.RegisterDialog(&telegram.Dialog{Name: DialogName, Timeout: s.opts.TextTimeout, First: "answer",
		Steps: map[string]telegram.Step{"answer": {Handle: s.handleText}}})
}

// callbackData is "sv:<run as 32 hex>:<position>:<action><n>", at most 46
// bytes. Actions: c choose (option index or scale value), m toggle a
// multiple-choice option, d done (multiple choice), s skip, w write a text
// answer.
func callbackData(runID uuid.UUID, pos int, action byte, n int) string {
	d := CallbackPrefix + strings.ReplaceAll(runID.String(), "-", "") + ":" + strconv.Itoa(pos) + ":" + string(action)
	if action == 'c' || action == 'm' {
		d += strconv.Itoa(n)
	}
	return d
}

func parseData(data string) (runID uuid.UUID, pos int, action byte, n int, ok bool) {
	parts := strings.Split(strings.TrimPrefix(data, CallbackPrefix), ":")
	if len(parts) != 3 || len(parts[2]) == 0 {
		return
	}
	var err error
	if runID, err = uuid.Parse(parts[0]); err != nil {
		return
	}
	if pos, err = strconv.Atoi(parts[1]); err != nil || pos < 1 {
		return
	}
	action = parts[2][0]
	switch action {
	case 'c', 'm':
		if n, err = strconv.Atoi(parts[2][1:]); err != nil || n < 0 {
			return
		}
	case 'd', 's', 'w':
		if len(parts[2]) != 1 {
			return
		}
	default:
		return
	}
	return runID, pos, action, n, true
}

// Recipient is who a run asks.
type Recipient struct {
	BotID     int64
	ChatID    int64
	ContactID uuid.UUID
	Lang      string
}

// Ask sends a run's first question to a contact's chat with the bot, at
// live priority (a CSAT question belongs to a conversation). A contact is
// asked once per run; asking again does nothing.
func (s *Service) Ask(ctx context.Context, tenantID, runID uuid.UUID, r Recipient) error {
	_, err := s.ask(ctx, tenantID, runID, []Recipient{r}, outbox.Live)
	return err
}

// AskMany asks several contacts in one transaction at bulk priority
// (campaign and scheduled surveys: at most once per contact and run, behind
// live conversation traffic). It returns how many were asked for the first
// time.
func (s *Service) AskMany(ctx context.Context, tenantID, runID uuid.UUID, rs []Recipient) (int, error) {
	return s.ask(ctx, tenantID, runID, rs, outbox.Bulk)
}

func (s *Service) ask(ctx context.Context, tenantID, runID uuid.UUID, rs []Recipient, prio outbox.Priority) (int, error) {
	now := s.clock.Now()
	var queued []uuid.UUID
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		queued = nil
		run, err := loadRun(ctx, tx, runID)
		if err != nil {
			return err
		}
		if run == nil {
			return ErrNotFound
		}
		if run.closed(now) {
			return ErrClosed
		}
		queued, err = s.askTx(ctx, tx, tenantID, run.SurveyID, runID, rs, prio, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("survey: ask: %w", err)
	}
	s.afterCommit(ctx, tenantID, queued)
	return len(queued), nil
}

func (s *Service) afterCommit(ctx context.Context, tenantID uuid.UUID, queued []uuid.UUID) {
	if err := s.ob.AfterCommit(ctx, queued...); err != nil {
		// Not fatal: the outbox's sweeper queues committed rows later.
		s.log.Warn("survey: outbox after commit", "tenant_id", tenantID, "error", err)
	}
}

// askTx records the asks of rs in tx and the first question of each new
// one in the outbox; it returns the outbox ids to queue after the commit.
func (s *Service) askTx(ctx context.Context, tx pgx.Tx, tenantID, surveyID, runID uuid.UUID, rs []Recipient,
	prio outbox.Priority, now time.Time) ([]uuid.UUID, error) {
	var q *Question
	var queued []uuid.UUID
	for _, r := range rs {
		tag, err := tx.Exec(ctx, `INSERT INTO survey_asks (tenant_id, run_id, contact_id, bot_id, chat_id, lang, asked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, tenantID, runID, r.ContactID, r.BotID, r.ChatID, r.Lang, now)
		if err != nil {
			return nil, fmt.Errorf("store: ask: %w", err)
		}
		if tag.RowsAffected() == 0 {
			continue // asked before
		}
		if q == nil {
			if q, err = questionAt(ctx, tx, surveyID, 1); err != nil || q == nil {
				return nil, err
			}
		}
		text, markup := s.render(ctx, tenantID, r.Lang, runID, *q, nil, true)
		// Recorded in the transaction under a stable key and queued after
		// the commit: a rolled-back ask sends nothing, a repeated one
		// nothing twice.
		raw, _ := json.Marshal(map[string]any{"text": text, "reply_markup": markup})
		id, err := s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: r.BotID, ChatID: r.ChatID, Method: "sendMessage",
			Params: raw, Priority: prio, Kind: "survey.question", Ref: runID.String(),
			IdempotencyKey: "survey:ask:" + runID.String() + ":" + r.ContactID.String()})
		if err != nil {
			return nil, err
		}
		queued = append(queued, id)
	}
	return queued, nil
}

// render is a question's text and inline keyboard; cur marks the
// contact's current answer. proactive adds an "answer" button to text
// questions (a message sent outside a conversation cannot open the dialog).
func (s *Service) render(ctx context.Context, tenantID uuid.UUID, lang string, runID uuid.UUID, q Question, cur *Value, proactive bool) (string, map[string]any) {
	text := q.Prompt
	if q.PromptKey != "" {
		text = s.texts.Text(ctx, tenantID, q.PromptKey, lang, map[string]string{
			"min": strconv.Itoa(q.ScaleMin), "max": strconv.Itoa(q.ScaleMax)})
	}
	type button struct {
		Text string `json:"text"`
		Data string `json:"callback_data"`
	}
	var rows [][]button
	mark := func(on bool, label string) string {
		if on {
			return "✅ " + label
		}
		return label
	}
	switch q.Kind {
	case KindSingle:
		for i, o := range q.Options {
			on := cur != nil && slices.Contains(cur.Choices, i)
			rows = append(rows, []button{{mark(on, o), callbackData(runID, q.Position, 'c', i)}})
		}
	case KindMulti:
		for i, o := range q.Options {
			label := "▫️ " + o
			if cur != nil && slices.Contains(cur.Choices, i) {
				label = "☑️ " + o
			}
			rows = append(rows, []button{{label, callbackData(runID, q.Position, 'm', i)}})
		}
		rows = append(rows, []button{{s.texts.Text(ctx, tenantID, textDone, lang, nil), callbackData(runID, q.Position, 'd', 0)}})
	case KindScale:
		var row []button
		for v := q.ScaleMin; v <= q.ScaleMax; v++ {
			on := cur != nil && cur.Value != nil && *cur.Value == v
			row = append(row, button{mark(on, strconv.Itoa(v)), callbackData(runID, q.Position, 'c', v)})
			if len(row) == 6 {
				rows, row = append(rows, row), nil
			}
		}
		if len(row) > 0 {
			rows = append(rows, row)
		}
	case KindText:
		if proactive {
			rows = append(rows, []button{{s.texts.Text(ctx, tenantID, TextAnswerButton, lang, nil), callbackData(runID, q.Position, 'w', 0)}})
		}
	}
	if q.Optional && q.Kind != KindMulti {
		rows = append(rows, []button{{s.texts.Text(ctx, tenantID, textSkip, lang, nil), callbackData(runID, q.Position, 's', 0)}})
	}
	if rows == nil {
		return text, nil
	}
	return text, map[string]any{"inline_keyboard": rows}
}

// outcome is what storing an answer did.
type outcome struct {
	run      *runRow
	ask      *askRow
	q        Question
	v        Value
	edited   bool
	advanced bool
	next     *Question
	all      map[int]Value
	refused  string // closed, unknown, invalid, stay
}

// apply stores the contact's answer to the question at pos, computed by f
// from the current one (ok=false refuses it; advance=false keeps the
// contact on the question, for multiple-choice toggles). Answering the
// current question moves the contact on; answering an earlier one edits it.
func (s *Service) apply(ctx context.Context, in *telegram.Inbound, runID uuid.UUID, pos int,
	f func(q Question, cur *Value) (v Value, ok, advance bool)) (outcome, error) {
	now := s.clock.Now()
	var o outcome
	err := s.db.InTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		o = outcome{}
		run, err := loadRun(ctx, tx, runID)
		if err != nil || run == nil {
			o.refused = "unknown"
			return err
		}
		o.run = run
		if run.closed(now) {
			o.refused = "closed"
			return nil
		}
		ask, err := s.ensureAsk(ctx, tx, in, runID, now)
		if err != nil || ask == nil {
			o.refused = "unknown"
			return err
		}
		o.ask = ask
		q, err := questionAt(ctx, tx, run.SurveyID, pos)
		if err != nil || q == nil {
			o.refused = "unknown"
			return err
		}
		o.q = *q
		cur, err := loadValue(ctx, tx, runID, q.ID, in.ContactID)
		if err != nil {
			return err
		}
		v, ok, advance := f(*q, cur)
		if !ok {
			o.refused = "invalid"
			return nil
		}
		o.v = v
		if o.edited, err = saveValue(ctx, tx, in.TenantID, runID, q.ID, in.ContactID, v, now); err != nil {
			return err
		}
		if advance && ask.Position == pos {
			o.advanced = true
			if o.next, err = questionAt(ctx, tx, run.SurveyID, pos+1); err != nil {
				return err
			}
			var completed *time.Time
			if o.next == nil {
				completed = &now
			}
			if _, err := tx.Exec(ctx, `UPDATE survey_asks SET position = $3, completed_at = COALESCE(completed_at, $4)
				WHERE run_id = $1 AND contact_id = $2`, runID, in.ContactID, pos+1, completed); err != nil {
				return fmt.Errorf("store: advance: %w", err)
			}
		}
		o.all, err = allValues(ctx, tx, runID, in.ContactID)
		return err
	})
	if err != nil {
		return o, fmt.Errorf("survey: answer: %w", err)
	}
	return o, nil
}

// ensureAsk returns the contact's ask row, creating it for a press in the
// contact's own private chat (the question reached them, so they were asked).
func (s *Service) ensureAsk(ctx context.Context, tx pgx.Tx, in *telegram.Inbound, runID uuid.UUID, now time.Time) (*askRow, error) {
	if in.ContactID == uuid.Nil || !in.Private() {
		return nil, nil
	}
	ask, err := loadAsk(ctx, tx, runID, in.ContactID)
	if err != nil || ask != nil {
		return ask, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO survey_asks (tenant_id, run_id, contact_id, bot_id, chat_id, lang, asked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, in.TenantID, runID, in.ContactID, in.BotID, in.ChatID, in.Lang, now); err != nil {
		return nil, fmt.Errorf("store: ask: %w", err)
	}
	return loadAsk(ctx, tx, runID, in.ContactID)
}

// after fires the hooks for a stored answer and asks the next question
// (or thanks). inDialog: called from the text dialog, which keeps itself
// running for a following text question instead of starting anew.
func (s *Service) after(ctx context.Context, in *telegram.Inbound, o outcome, inDialog bool) (nextText *Question, err error) {
	a := Answer{TenantID: in.TenantID, RunID: o.run.ID, Source: o.run.Source, Ref: o.run.Ref, ContactID: in.ContactID,
		BotID: in.BotID, ChatID: in.ChatID, Question: o.q, Value: o.v, Edited: o.edited,
		Completed: o.advanced && o.next == nil, All: o.all}
	if err := s.fire(ctx, a); err != nil {
		s.log.Warn("survey: answer hook", "tenant_id", in.TenantID, "bot_id", in.BotID, "error", err)
	}
	if !o.advanced {
		return nil, nil
	}
	if o.next == nil {
		if err := in.ReplyText(ctx, TextThanks, nil); err != nil {
			return nil, err
		}
		if o.run.Sticker != "" {
			// After the thanks text: one destination's messages leave in order.
			return nil, in.Send(ctx, "sendSticker", map[string]any{"sticker": o.run.Sticker})
		}
		return nil, nil
	}
	text, markup := s.render(ctx, in.TenantID, in.Lang, o.run.ID, *o.next, nil, false)
	if err := in.Reply(ctx, text, markup); err != nil {
		return nil, err
	}
	if o.next.Kind != KindText {
		return nil, nil
	}
	if inDialog {
		return o.next, nil
	}
	return nil, in.StartDialog(ctx, DialogName, map[string]string{"run": o.run.ID.String(), "pos": strconv.Itoa(o.next.Position)})
}
