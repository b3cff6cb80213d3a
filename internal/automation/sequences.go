package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
)

// Step is one message of a sequence: sent Delay after the enrollment, or
// at a date field of the deal moved by Anchor.Offset (a reminder 7 days
// before expiry: {"field": "expires", "offset": "-168h"}), to the contact
// and/or the deal's manager (the Telegram user linked to the deal's
// responsible CRM user). Text is a sendMessage; Method and Params send
// anything else the outbox can (sendVideo with a file id, copyMessage…).
type Step struct {
	Delay  string          `json:"delay,omitempty"`
	Anchor *Anchor         `json:"anchor,omitempty"`
	To     []string        `json:"to,omitempty"`
	Text   string          `json:"text,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Anchor places a step relative to a date field of the deal.
type Anchor struct {
	Field  string `json:"field"`
	Offset string `json:"offset"`
}

// Sequence is an ordered list of steps.
type Sequence struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Steps     []Step    `json:"steps"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SequenceDef creates or replaces a sequence.
type SequenceDef struct {
	Name  string `json:"name"`
	Steps []Step `json:"steps"`
}

var stepMethods = []string{"sendMessage", "sendPhoto", "sendVideo", "sendDocument", "sendAnimation", "sendAudio", "sendVoice",
	"sendVideoNote", "copyMessage", "sendMediaGroup"}

// stepRequired are the parameters a step's method cannot do without.
var stepRequired = map[string][]string{
	"sendPhoto": {"photo"}, "sendVideo": {"video"}, "sendDocument": {"document"}, "sendAnimation": {"animation"},
	"sendAudio": {"audio"}, "sendVoice": {"voice"}, "sendVideoNote": {"video_note"},
	"copyMessage": {"from_chat_id", "message_id"}, "sendMediaGroup": {"media"},
}

// stepReserved are parameters the sender sets: the outbox refuses a call
// whose params carry chat_id, so a step holding one could never be sent.
var stepReserved = []string{"chat_id", "message_thread_id"}

// validateStepParams checks what the outbox would refuse when the step is
// due, so a bad step is a 422 at save rather than a failure at send time.
func validateStepParams(st *Step, f func(string) string) error {
	obj := map[string]json.RawMessage{}
	if len(st.Params) > 0 && string(st.Params) != "null" {
		if err := json.Unmarshal(st.Params, &obj); err != nil || obj == nil {
			return invalid(f("params"), "invalid_type", "must be a JSON object")
		}
	}
	for _, k := range stepReserved {
		if _, ok := obj[k]; ok {
			return invalid(f("params."+k), "not_allowed", "is set by the sender (the contact's or the manager's chat)")
		}
	}
	for _, k := range stepRequired[st.Method] {
		if _, ok := obj[k]; !ok {
			return invalid(f("params."+k), "required", st.Method+" needs "+k)
		}
	}
	return nil
}

func (d *SequenceDef) validate() error {
	d.Name = strings.TrimSpace(d.Name)
	if n := len([]rune(d.Name)); n < 1 || n > 200 {
		return invalid("name", "invalid_length", "must be 1–200 characters")
	}
	if len(d.Steps) == 0 || len(d.Steps) > 50 {
		return invalid("steps", "invalid_length", "must hold 1–50 steps")
	}
	for i := range d.Steps {
		st := &d.Steps[i]
		f := func(name string) string { return fmt.Sprintf("steps[%d].%s", i, name) }
		if st.Anchor != nil {
			if st.Delay != "" {
				return invalid(f("delay"), "conflict", "a step has a delay or an anchor, not both")
			}
			if st.Anchor.Field == "" {
				return invalid(f("anchor.field"), "required", "must name the deal's date field")
			}
			if _, err := time.ParseDuration(st.Anchor.Offset); err != nil {
				return invalid(f("anchor.offset"), "invalid_duration", "must be a duration such as -168h")
			}
		} else {
			if st.Delay == "" {
				st.Delay = "0s"
			}
			if d, err := time.ParseDuration(st.Delay); err != nil || d < 0 {
				return invalid(f("delay"), "invalid_duration", "must be a non-negative duration such as 1h or 24h")
			}
		}
		if len(st.To) == 0 {
			st.To = []string{"contact"}
		}
		for _, to := range st.To {
			if to != "contact" && to != "manager" {
				return invalid(f("to"), "invalid_value", "must list contact and/or manager")
			}
		}
		if st.Method == "" {
			st.Method = "sendMessage"
		}
		if !slices.Contains(stepMethods, st.Method) {
			return invalid(f("method"), "invalid_value", "must be one of "+strings.Join(stepMethods, ", "))
		}
		if err := validateStepParams(st, f); err != nil {
			return err
		}
		if st.Method == "sendMessage" && strings.TrimSpace(st.Text) == "" {
			return invalid(f("text"), "required", "a text step needs text")
		}
		if len([]rune(st.Text)) > 4096 {
			return invalid(f("text"), "invalid_length", "must be at most 4096 characters")
		}
	}
	return nil
}

// Target is who a sequence is for and what started it.
type Target struct {
	ContactID   uuid.UUID
	ConnectorID uuid.UUID
	DealID      string
	PipelineID  string
	StageID     string
	// Fields are the deal's fields (anchors read their dates here).
	Fields map[string]any
	// ManagerTgUserID gets the steps addressed to the manager.
	ManagerTgUserID *int64
	// SourceRunID and SourceIdx name the rule action that starts the
	// sequence (uuid.Nil: started by hand). An action retried after its
	// start committed finds that enrollment, even one already finished.
	SourceRunID uuid.UUID
	SourceIdx   int
}

// targetOf builds a sequence target from an event: the deal's fields and
// manager come from the CRM when the event is about a deal.
func (s *Service) targetOf(ctx context.Context, tenantID, contactID uuid.UUID, ev Event) Target {
	t := Target{ContactID: contactID, ConnectorID: ev.ConnectorID, Fields: map[string]any{}}
	e := ev.CRM
	if e == nil {
		return t
	}
	t.DealID, t.PipelineID, t.StageID = e.DealID, e.PipelineID, e.StageID
	for k, v := range e.Fields {
		t.Fields[k] = v
	}
	if e.DealID == "" || s.crm == nil {
		return t
	}
	d, err := s.crm.GetDeal(ctx, tenantID, ev.ConnectorID, e.DealID)
	if err != nil {
		s.log.Warn("automation: deal for sequence", "tenant_id", tenantID, "deal_id", e.DealID, "error", err)
		return t
	}
	for k, v := range d.Fields {
		if _, ok := t.Fields[k]; !ok {
			t.Fields[k] = v
		}
	}
	if d.ResponsibleUserID != "" {
		_ = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
			var tg int64
			if err := tx.QueryRow(ctx, `SELECT tg_user_id FROM crm_user_links WHERE crm_user_id = $1`, d.ResponsibleUserID).Scan(&tg); err == nil {
				t.ManagerTgUserID = &tg
			}
			return nil
		})
	}
	return t
}

// parseDate reads a date field: RFC 3339, YYYY-MM-DD or Unix seconds.
func parseDate(v any, loc *time.Location) (time.Time, bool) {
	switch x := v.(type) {
	case float64:
		return time.Unix(int64(x), 0), x > 0
	case string:
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			return t, true
		}
		if t, err := time.ParseInLocation("2006-01-02", x, loc); err == nil {
			return t, true
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil && n > 0 {
			return time.Unix(n, 0), true
		}
	}
	return time.Time{}, false
}

// StartSequence enrolls a contact (once: an active enrollment of the same
// sequence is kept) and schedules a row per step and recipient. started is
// false when the contact was already enrolled. A target with a source (a
// rule run's action) enrolls once per source: a retry of the action finds
// its enrollment (started is true) even when it has ended since.
func (s *Service) StartSequence(ctx context.Context, tenantID, seqID uuid.UUID, t Target) (started bool, err error) {
	seq, err := s.GetSequence(ctx, tenantID, seqID)
	if err != nil {
		return false, err
	}
	loc := time.UTC
	if s.settings != nil {
		if st, err := s.settings.Settings(ctx, tenantID); err == nil {
			loc = st.Location()
		}
	}
	now := s.clock.Now()
	var connector, sourceRun *uuid.UUID
	var sourceIdx *int
	if t.ConnectorID != uuid.Nil {
		connector = &t.ConnectorID
	}
	if t.SourceRunID != uuid.Nil {
		sourceRun, sourceIdx = &t.SourceRunID, &t.SourceIdx
	}
	err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		started = false
		id := ids.New()
		// No conflict target: either the active-enrollment or the source
		// index keeps the row single.
		tag, err := tx.Exec(ctx, `INSERT INTO sequence_enrollments (id, tenant_id, sequence_id, contact_id, connector_id, deal_id,
			pipeline_id, stage_id, manager_tg_user_id, started_at, source_run_id, source_idx)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
			id, tenantID, seqID, t.ContactID, connector, t.DealID, t.PipelineID, t.StageID, t.ManagerTgUserID, now, sourceRun, sourceIdx)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if sourceRun != nil {
				// The retry of an action whose start committed.
				err := tx.QueryRow(ctx, `SELECT true FROM sequence_enrollments WHERE source_run_id = $1 AND source_idx = $2`,
					sourceRun, sourceIdx).Scan(&started)
				if db.IsNotFound(err) {
					err = nil
				}
				return err
			}
			return nil
		}
		started = true
		for i, st := range seq.Steps {
			due, state, reason := now, "scheduled", ""
			if st.Anchor != nil {
				off, _ := time.ParseDuration(st.Anchor.Offset)
				at, ok := parseDate(t.Fields[st.Anchor.Field], loc)
				switch {
				case !ok:
					state, reason = "skipped", "no_date"
				case at.Add(off).Before(now.Add(-time.Hour)):
					due, state, reason = at.Add(off), "skipped", "past"
				default:
					due = at.Add(off)
				}
			} else {
				d, _ := time.ParseDuration(st.Delay)
				due = now.Add(d)
			}
			for _, to := range st.To {
				stt, rsn := state, reason
				if to == "manager" && t.ManagerTgUserID == nil && stt == "scheduled" {
					stt, rsn = "skipped", "no_manager"
				}
				if _, err := tx.Exec(ctx, `INSERT INTO sequence_steps (tenant_id, enrollment_id, idx, recipient, due_at, state, reason)
					VALUES ($1, $2, $3, $4, $5, $6, $7)`, tenantID, id, i, to, due, stt, rsn); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("automation: start sequence: %w", err)
	}
	return started, nil
}

// StopSequences cancels a contact's active enrollments (of one sequence,
// or all with uuid.Nil).
func (s *Service) StopSequences(ctx context.Context, tenantID, contactID, seqID uuid.UUID, reason string) (int, error) {
	var n int
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) (err error) {
		n, err = cancelEnrollments(ctx, tx, `contact_id = $1 AND ($2 = '00000000-0000-0000-0000-000000000000'::uuid OR sequence_id = $2)`,
			[]any{contactID, seqID}, reason, s.clock.Now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("automation: stop sequences: %w", err)
	}
	return n, nil
}

// cancelEnrollments cancels the active enrollments matching where (its
// arguments start at $1) and their scheduled steps.
func cancelEnrollments(ctx context.Context, tx pgx.Tx, where string, args []any, reason string, now time.Time) (int, error) {
	n := len(args)
	rows, err := tx.Query(ctx, fmt.Sprintf(`UPDATE sequence_enrollments SET status = 'cancelled', cancel_reason = $%d, ended_at = $%d
		WHERE status = 'active' AND %s RETURNING id`, n+1, n+2, where), append(args, reason, now)...)
	if err != nil {
		return 0, err
	}
	var idList []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		idList = append(idList, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(idList) == 0 {
		return 0, nil
	}
	_, err = tx.Exec(ctx, `UPDATE sequence_steps SET state = 'cancelled', reason = $2, done_at = $3
		WHERE enrollment_id = ANY($1) AND state = 'scheduled'`, idList, reason, now)
	return len(idList), err
}

// cancelLeftStage cancels, in tx, sequences started by a deal's stage
// when the deal enters another stage or is deleted.
func (s *Service) cancelLeftStage(ctx context.Context, tx pgx.Tx, connectorID uuid.UUID, e crm.Event) error {
	if e.DealID == "" || (e.Type != crm.DealStageEntered && e.Type != crm.DealDeleted) {
		return nil
	}
	_, err := cancelEnrollments(ctx, tx, `connector_id = $1 AND deal_id = $2 AND stage_id <> '' AND (stage_id <> $3 OR $4)`,
		[]any{connectorID, e.DealID, e.StageID, e.Type == crm.DealDeleted}, "left_stage", s.clock.Now())
	if err != nil {
		return fmt.Errorf("cancel sequences: %w", err)
	}
	return nil
}

// RunDue sends every sequence step that is due, across tenants. Each step
// is marked sent in the transaction that records its outbox message (with
// an idempotency key per enrollment, step and recipient), so a crash or a
// second scheduler never sends a step twice; a contact who unsubscribed or
// blocked the bot gets nothing and the enrollment ends. A step the outbox
// refuses is marked failed with the reason; a tenant whose batch fails is
// skipped until the next tick while the others are served, and the errors
// are returned joined.
func (s *Service) RunDue(ctx context.Context) (int, error) {
	now := s.clock.Now()
	var tenants []uuid.UUID
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT sequence_due_tenants($1)`, now)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				return err
			}
			tenants = append(tenants, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("automation: due tenants: %w", err)
	}
	// A tenant whose batch fails is logged and left for the next tick; the
	// others are still served (one tenant's data never stops another's).
	total := 0
	var errs []error
	for _, t := range tenants {
		for {
			n, err := s.sendDue(ctx, t, now)
			if err != nil {
				s.log.Warn("automation: due steps", "tenant_id", t, "error", err)
				errs = append(errs, fmt.Errorf("tenant %s: %w", t, err))
				break
			}
			total += n
			if n < dueBatch {
				break
			}
		}
	}
	return total, errors.Join(errs...)
}

const dueBatch = 100

type dueStep struct {
	enrollment uuid.UUID
	idx        int
	recipient  string
	active     bool
	contactID  uuid.UUID
	firstName  string
	manager    *int64
	step       Step
}

func (s *Service) sendDue(ctx context.Context, tenantID uuid.UUID, now time.Time) (int, error) {
	var queued []uuid.UUID
	n := 0
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		queued, n = nil, 0
		rows, err := tx.Query(ctx, `SELECT st.enrollment_id, st.idx, st.recipient, e.status = 'active', e.contact_id, c.first_name,
			e.manager_tg_user_id, q.steps -> st.idx
			FROM sequence_steps st JOIN sequence_enrollments e ON e.id = st.enrollment_id
			JOIN sequences q ON q.id = e.sequence_id JOIN contacts c ON c.id = e.contact_id
			WHERE st.state = 'scheduled' AND st.due_at <= $1 ORDER BY st.due_at, st.idx LIMIT $2
			FOR UPDATE OF st SKIP LOCKED`, now, dueBatch)
		if err != nil {
			return err
		}
		var due []dueStep
		for rows.Next() {
			var d dueStep
			var raw []byte
			if err := rows.Scan(&d.enrollment, &d.idx, &d.recipient, &d.active, &d.contactID, &d.firstName, &d.manager, &raw); err != nil {
				rows.Close()
				return err
			}
			_ = json.Unmarshal(raw, &d.step)
			due = append(due, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		n = len(due)
		touched := map[uuid.UUID]bool{}
		for _, d := range due {
			touched[d.enrollment] = true
			id, state, reason, err := s.sendStep(ctx, tx, tenantID, d, now)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE sequence_steps SET state = $4, reason = $5, outbox_id = $6, done_at = $7
				WHERE enrollment_id = $1 AND idx = $2 AND recipient = $3`, d.enrollment, d.idx, d.recipient, state, reason, id, now); err != nil {
				return err
			}
			if id != nil {
				queued = append(queued, *id)
			}
			if reason == "unsubscribed" || reason == "unreachable" {
				if _, err := cancelEnrollments(ctx, tx, `id = $1`, []any{d.enrollment}, reason, now); err != nil {
					return err
				}
			}
		}
		for e := range touched {
			if _, err := tx.Exec(ctx, `UPDATE sequence_enrollments SET status = 'done', ended_at = $2 WHERE id = $1 AND status = 'active'
				AND NOT EXISTS (SELECT 1 FROM sequence_steps WHERE enrollment_id = $1 AND state = 'scheduled')`, e, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("automation: send due steps: %w", err)
	}
	if len(queued) > 0 {
		if err := s.ob.AfterCommit(ctx, queued...); err != nil {
			s.log.Warn("automation: outbox after commit", "tenant_id", tenantID, "error", err)
		}
	}
	return n, nil
}

// sendStep records one step's message, or says why it is not sent.
func (s *Service) sendStep(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, d dueStep, now time.Time) (*uuid.UUID, string, string, error) {
	if !d.active {
		return nil, "cancelled", "enrollment_ended", nil
	}
	contactID := d.contactID
	if d.recipient == "manager" {
		if d.manager == nil {
			return nil, "skipped", "no_manager", nil
		}
		err := tx.QueryRow(ctx, `SELECT id FROM contacts WHERE tg_user_id = $1`, *d.manager).Scan(&contactID)
		if db.IsNotFound(err) {
			return nil, "skipped", "no_chat", nil
		}
		if err != nil {
			return nil, "", "", err
		}
	}
	botID, chatID, why, err := contactChat(ctx, tx, contactID)
	if err != nil {
		return nil, "", "", err
	}
	if why != "" {
		if d.recipient == "manager" && why != "no_chat" {
			why = "manager_" + why // the member's enrollment carries on
		}
		return nil, "skipped", why, nil
	}
	params := map[string]any{}
	if len(d.step.Params) > 0 && string(d.step.Params) != "null" {
		if err := json.Unmarshal(d.step.Params, &params); err != nil || params == nil {
			return nil, "failed", "invalid_step: params must be a JSON object", nil
		}
	}
	text := strings.ReplaceAll(d.step.Text, "{first_name}", d.firstName)
	method := d.step.Method
	if method == "" {
		method = "sendMessage"
	}
	if text != "" {
		if method == "sendMessage" {
			params["text"] = text
		} else {
			params["caption"] = text
		}
	}
	id, err := s.ob.EnqueueTx(ctx, tx, outbox.Message{TenantID: tenantID, BotID: botID, ChatID: chatID, Method: method,
		Params: marshal(params), Priority: outbox.Bulk, Kind: "automation.sequence",
		IdempotencyKey: fmt.Sprintf("seq:%s:%d:%s", d.enrollment, d.idx, d.recipient)})
	if errors.Is(err, outbox.ErrInvalid) || errors.Is(err, outbox.ErrUnknownMethod) {
		// A step saved before its params were validated: it fails alone
		// instead of rolling back the tenant's batch on every tick.
		return nil, "failed", "invalid_step: " + err.Error(), nil
	}
	if err != nil {
		return nil, "", "", err
	}
	return &id, "sent", "", nil
}
