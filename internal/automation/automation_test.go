package automation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/automation"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/dispatch"
)

// amoEvent is a stage change as the amoCRM connector reports it
// (leads[status][0][id], [status_id], [pipeline_id], [old_status_id]).
func amoEvent(dealID, pipeline, stage, prev string, at time.Time) crm.Event {
	return crm.Event{Type: crm.DealStageEntered, Key: fmt.Sprintf("lead:%s:status:%s:%d", dealID, stage, at.Unix()),
		AccountID: "31415926", DealID: dealID, PipelineID: pipeline, StageID: stage, PrevStageID: prev, OccurredAt: at}
}

// The seed 002 path from a CRM event: a rule posts the card, the phone
// goes to the executor privately, the take updates the CRM deal (fake
// CRMWriter got the responsible user and a note) and the manager hears.
// The same event delivered again runs nothing twice.
func TestCRMEventToTakenOrder(t *testing.T) {
	r := newRig(t, `{"registered_only": false, "fields": {"terms": "f_terms", "client_phone": "f_phone", "address": "f_addr"}}`)
	r.bindExecutors()
	ctx := context.Background()
	manager := r.member("Alina", "")
	if err := r.disp.SetUserLink(ctx, r.tenant, uuid.Nil, dispatch.UserLink{TgUserID: manager.user.ID, CRMUserID: "mgr-1"}); err != nil {
		t.Fatal(err)
	}
	exec := r.member("Petr", "")
	if err := r.sb.AddUserToChat(exec.user.ID, r.group.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.disp.SetUserLink(ctx, r.tenant, uuid.Nil, dispatch.UserLink{TgUserID: exec.user.ID, CRMUserID: "exec-9"}); err != nil {
		t.Fatal(err)
	}
	r.crm.put(crm.Deal{ID: "4501", Name: "Kitchen assembly", Price: 7000, PipelineID: "77", StageID: "142", ResponsibleUserID: "mgr-1",
		Fields: map[string]any{"f_terms": "IKEA kitchen, 4 h", "f_phone": "+79001234567", "f_addr": "Tverskaya 5"}})
	rule := r.rule(`{"name": "Search for executor", "trigger": {"type": "deal.stage_entered", "pipeline_id": "77", "stage_id": "142"},
		"actions": [{"type": "dispatch.post", "params": {"taken_stage_id": "143"}}]}`)

	ev := amoEvent("4501", "77", "142", "141", r.clock.Now())
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, ev); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, ev); err != nil { // duplicate delivery
		t.Fatal(err)
	}
	card := r.groupMessage("Kitchen assembly")
	runs := r.runsSettled(rule.ID, 1)
	if runs[0].Outcome != "ok" {
		t.Fatalf("run = %+v", runs[0])
	}
	b := buttons(card)
	var phoneBtn, takeBtn string
	for label, data := range b {
		switch {
		case strings.HasPrefix(data, "dsp:p:"):
			phoneBtn = label
		case strings.HasPrefix(data, "dsp:t:"):
			takeBtn = label
		}
	}
	q, err := r.sb.PressButton(exec.user.ID, r.group.ID, card.MessageID, b[phoneBtn])
	if err != nil {
		t.Fatal(err)
	}
	_ = q
	eventually(t, "the phone in a private message", func() bool { return contains(r.privateGot(exec.user.ID), "+79001234567") })
	if _, err := r.sb.PressButton(exec.user.ID, r.group.ID, card.MessageID, b[takeBtn]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the manager is told", func() bool { return contains(r.privateGot(manager.user.ID), "Kitchen assembly") })
	eventually(t, "the CRM deal is updated", func() bool {
		ups, notes := r.crm.recorded()
		return len(ups) == 1 && len(notes) == 1
	})
	ups, notes := r.crm.recorded()
	if *ups[0].ResponsibleUserID != "exec-9" || *ups[0].StageID != "143" || !strings.Contains(notes[0].Text, "Petr") {
		t.Fatalf("updates = %+v, notes = %+v", ups, notes)
	}
	n := 0
	for _, e := range r.sb.Transcript(r.group.ID) {
		if strings.Contains(e.Text, "Kitchen assembly") && strings.Contains(e.Text, "IKEA") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("cards = %d, want 1 (the duplicate event posted again)", n)
	}
}

// A rule whose first action fails (no executors' chat is bound) shows
// the failure with its reason; its second action still runs.
func TestFailingActionIsVisibleAndDoesNotBlock(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	m := r.member("Olga", "c-1")
	r.crm.put(crm.Deal{ID: "10", Name: "Order", StageID: "s1", ContactIDs: []string{"c-1"}})
	rule := r.rule(`{"name": "Post and tag", "trigger": {"type": "deal.stage_entered", "stage_id": "s1"},
		"actions": [{"type": "dispatch.post"}, {"type": "tag.add", "params": {"tag": "vip"}}]}`)
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, amoEvent("10", "p", "s1", "", r.clock.Now())); err != nil {
		t.Fatal(err)
	}
	runs := r.runsSettled(rule.ID, 1)
	run := runs[0]
	if run.Outcome != "failed" || run.Actions[0].Status != "failed" || !strings.Contains(run.Actions[0].Error, "executors' chat") {
		t.Fatalf("run = %+v", run)
	}
	if run.Actions[1].Status != "ok" {
		t.Fatalf("second action = %+v", run.Actions[1])
	}
	var tags []string
	_ = env.Owner.QueryRow(ctx, `SELECT tags FROM contacts WHERE id = $1`, m.contactID).Scan(&tags)
	if len(tags) != 1 || tags[0] != "vip" {
		t.Fatalf("tags = %v", tags)
	}
}

// A CRM outage during an action: the action stays pending with the error
// and attempt count, and succeeds on a later attempt.
func TestCRMDownDuringAction(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	r.crm.mu.Lock()
	r.crm.fail = crm.ErrUnavailable
	r.crm.mu.Unlock()
	rule := r.rule(`{"name": "Move on", "trigger": {"type": "deal.stage_entered", "stage_id": "s1"},
		"actions": [{"type": "crm.update", "params": {"stage_id": "s2"}}]}`)
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, amoEvent("11", "p", "s1", "", r.clock.Now())); err != nil {
		t.Fatal(err)
	}
	var run automation.Run
	eventually(t, "the failed attempt", func() bool {
		runs, _ := r.svc.Runs(ctx, r.tenant, rule.ID, 5)
		if len(runs) == 1 && runs[0].Actions[0].Attempts >= 1 {
			run = runs[0]
			return true
		}
		return false
	})
	if run.Actions[0].Status != "pending" || !strings.Contains(run.Actions[0].Error, "unavailable") {
		t.Fatalf("action = %+v", run.Actions[0])
	}
	r.crm.mu.Lock()
	r.crm.fail = nil
	r.crm.mu.Unlock()
	if err := r.svc.RunAction(ctx, r.tenant, run.ID, 0); err != nil { // the retry asynq would make
		t.Fatal(err)
	}
	runs, _ := r.svc.Runs(ctx, r.tenant, rule.ID, 5)
	if runs[0].Outcome != "ok" || runs[0].Actions[0].Attempts != 2 {
		t.Fatalf("run = %+v", runs[0])
	}
	if ups, _ := r.crm.recorded(); len(ups) != 1 || *ups[0].StageID != "s2" {
		t.Fatalf("updates = %+v", ups)
	}
}

// Seed 000: welcome video now, the CEO after an hour, the rules after a
// day — on an injected clock; each step once even if the scheduler runs
// twice; leaving the stage cancels what is left.
func TestThreeStepSequence(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	m := r.member("Irina", "c-7")
	r.crm.put(crm.Deal{ID: "20", Name: "Membership", StageID: "new", ContactIDs: []string{"c-7"}})
	seq := r.sequence(`{"name": "Welcome", "steps": [
		{"text": "1/3 Welcome video from the founder, {first_name}"},
		{"delay": "1h", "text": "2/3 Greetings from the CEO"},
		{"delay": "24h", "text": "3/3 Club rules and culture code"}]}`)
	rule := r.rule(fmt.Sprintf(`{"name": "Welcome series", "trigger": {"type": "deal.stage_entered", "stage_id": "new"},
		"actions": [{"type": "sequence.start", "params": {"sequence_id": %q}}]}`, seq.ID))
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, amoEvent("20", "p", "new", "", r.clock.Now())); err != nil {
		t.Fatal(err)
	}
	r.runsSettled(rule.ID, 1)
	tick := func() {
		for range 2 { // a second scheduler run at the same time sends nothing more
			if _, err := r.svc.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	tick()
	eventually(t, "step 1", func() bool { return contains(r.privateGot(m.user.ID), "1/3 Welcome video from the founder, Irina") })
	r.clock.Advance(59 * time.Minute)
	tick()
	r.clock.Advance(time.Minute)
	tick()
	eventually(t, "step 2", func() bool { return contains(r.privateGot(m.user.ID), "2/3") })
	r.clock.Advance(23 * time.Hour)
	tick()
	eventually(t, "step 3", func() bool { return contains(r.privateGot(m.user.ID), "3/3") })
	got := r.privateGot(m.user.ID)
	var seqMsgs []string
	for _, g := range got {
		if strings.Contains(g, "/3") {
			seqMsgs = append(seqMsgs, g[:3])
		}
	}
	if strings.Join(seqMsgs, ",") != "1/3,2/3,3/3" {
		t.Fatalf("sequence messages = %v", seqMsgs)
	}

	// A second enrollment is cancelled when the deal leaves the stage.
	if _, err := r.svc.StartSequence(ctx, r.tenant, seq.ID, automation.Target{ContactID: m.contactID, ConnectorID: r.connector,
		DealID: "20", StageID: "new"}); err != nil {
		t.Fatal(err)
	}
	tick()
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, amoEvent("20", "p", "lost", "new", r.clock.Now())); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(2 * time.Hour)
	tick()
	var state, reason string
	_ = env.Owner.QueryRow(ctx, `SELECT status, cancel_reason FROM sequence_enrollments WHERE tenant_id = $1 ORDER BY started_at DESC, id LIMIT 1`,
		r.tenant).Scan(&state, &reason)
	if state != "cancelled" || reason != "left_stage" {
		t.Fatalf("enrollment = %s (%s)", state, reason)
	}

	// The enrollments as the API lists them: the cancelled one first, then
	// the finished one with its three steps sent.
	list, err := r.svc.Enrollments(ctx, r.tenant, seq.ID, "", 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("enrollments = %+v, %v", list, err)
	}
	if list[0].Status != "cancelled" || list[0].CancelReason != "left_stage" || list[1].Status != "done" || len(list[1].Steps) != 3 {
		t.Fatalf("enrollments = %+v", list)
	}
	for _, st := range list[1].Steps {
		if st.State != "sent" || st.DoneAt == nil {
			t.Fatalf("finished enrollment's step %+v", st)
		}
	}
	if done, _ := r.svc.Enrollments(ctx, r.tenant, seq.ID, "done", 10); len(done) != 1 || done[0].ID != list[1].ID {
		t.Fatalf("done enrollments = %+v", done)
	}
	if _, err := r.svc.Enrollments(ctx, r.tenant, seq.ID, "weird", 10); err == nil {
		t.Fatal("an unknown status filter was accepted")
	}
	if _, err := r.svc.Enrollments(ctx, uuid.New(), seq.ID, "", 10); !errors.Is(err, automation.ErrNotFound) {
		t.Fatalf("another tenant's sequence: %v", err)
	}
}

// A contact who unsubscribed (/stop) gets no further steps.
func TestSequenceStepAfterUnsubscribe(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	m := r.member("Anna", "")
	seq := r.sequence(`{"name": "Two", "steps": [{"text": "first step"}, {"delay": "1h", "text": "second step"}]}`)
	if _, err := r.svc.StartSequence(ctx, r.tenant, seq.ID, automation.Target{ContactID: m.contactID}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "step 1", func() bool { return contains(r.privateGot(m.user.ID), "first step") })
	if _, err := r.sb.SendCommand(m.user.ID, r.bot.ID, "stop", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unsubscribed", func() bool {
		var unsub bool
		_ = env.Owner.QueryRow(ctx, `SELECT unsubscribed FROM bot_chats WHERE contact_id = $1`, m.contactID).Scan(&unsub)
		return unsub
	})
	r.clock.Advance(2 * time.Hour)
	if _, err := r.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	var state, reason string
	_ = env.Owner.QueryRow(ctx, `SELECT state, reason FROM sequence_steps WHERE tenant_id = $1 AND idx = 1`, r.tenant).Scan(&state, &reason)
	if state != "skipped" || reason != "unsubscribed" {
		t.Fatalf("step 2 = %s (%s)", state, reason)
	}
	time.Sleep(300 * time.Millisecond) // nothing is queued for it; give a wrong send the chance to show
	if contains(r.privateGot(m.user.ID), "second step") {
		t.Fatal("a step was sent after /stop")
	}
}

// Membership expiry: reminders 7 and 1 days before the deal's date field,
// to the member and to their manager.
func TestExpiryReminders(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	m := r.member("Boris", "c-9")
	mgr := r.member("Kate", "")
	if err := r.disp.SetUserLink(ctx, r.tenant, uuid.Nil, dispatch.UserLink{TgUserID: mgr.user.ID, CRMUserID: "cm-1"}); err != nil {
		t.Fatal(err)
	}
	expires := r.clock.Now().Add(10 * 24 * time.Hour).Format(time.RFC3339)
	r.crm.put(crm.Deal{ID: "30", Name: "Membership", StageID: "paid", ResponsibleUserID: "cm-1", ContactIDs: []string{"c-9"},
		Fields: map[string]any{"expires": expires}})
	seq := r.sequence(`{"name": "Expiry", "steps": [
		{"anchor": {"field": "expires", "offset": "-168h"}, "to": ["contact", "manager"], "text": "Membership of {first_name} ends in 7 days"},
		{"anchor": {"field": "expires", "offset": "-24h"}, "to": ["contact", "manager"], "text": "Membership of {first_name} ends tomorrow"}]}`)
	rule := r.rule(fmt.Sprintf(`{"name": "Expiry reminders", "trigger": {"type": "deal.stage_entered", "stage_id": "paid"},
		"actions": [{"type": "sequence.start", "params": {"sequence_id": %q}}]}`, seq.ID))
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, amoEvent("30", "p", "paid", "", r.clock.Now())); err != nil {
		t.Fatal(err)
	}
	r.runsSettled(rule.ID, 1)
	if _, err := r.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(3*24*time.Hour + time.Minute)
	if _, err := r.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []int64{m.user.ID, mgr.user.ID} {
		eventually(t, "the 7-day reminder", func() bool { return contains(r.privateGot(u), "Membership of Boris ends in 7 days") })
	}
	if contains(r.privateGot(m.user.ID), "tomorrow") {
		t.Fatal("the 1-day reminder came early")
	}
	r.clock.Advance(6 * 24 * time.Hour)
	if _, err := r.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []int64{m.user.ID, mgr.user.ID} {
		eventually(t, "the 1-day reminder", func() bool { return contains(r.privateGot(u), "Membership of Boris ends tomorrow") })
	}
}

// A dry run shows the verdict of each condition and the actions, and
// records nothing.
func TestDryRun(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	r.member("Vera", "c-3")
	r.crm.put(crm.Deal{ID: "40", StageID: "s1", ContactIDs: []string{"c-3"}})
	rule := r.rule(`{"name": "VIP only", "trigger": {"type": "deal.stage_entered", "stage_id": "s1"},
		"conditions": [{"field": "contact.first_name", "op": "eq", "value": "Vera"}, {"field": "event.fields.sum", "op": "gt", "value": 100}],
		"actions": [{"type": "message.send", "params": {"text": "hi"}}]}`)
	ev := amoEvent("40", "p", "s1", "", r.clock.Now())
	ev.Fields = map[string]any{"sum": 50.0}
	out, err := r.svc.DryRunRule(ctx, r.tenant, rule.ID, automation.Event{Key: ev.Key, Source: "crm", ConnectorID: r.connector, CRM: &ev})
	if err != nil {
		t.Fatal(err)
	}
	if out.Matched || len(out.Conditions) != 2 || !out.Conditions[0].OK || out.Conditions[1].OK || len(out.Actions) != 0 || out.ContactID == nil {
		t.Fatalf("dry run = %+v", out)
	}
	ev.Fields["sum"] = 500.0
	out, _ = r.svc.DryRunRule(ctx, r.tenant, rule.ID, automation.Event{Key: ev.Key, Source: "crm", ConnectorID: r.connector, CRM: &ev})
	if !out.Matched || len(out.Actions) != 1 {
		t.Fatalf("dry run = %+v", out)
	}
	if runs, _ := r.svc.Runs(ctx, r.tenant, rule.ID, 5); len(runs) != 0 {
		t.Fatalf("a dry run recorded runs: %+v", runs)
	}
}

// Schedule rules fire once per cron time in the tenant's zone; a bot
// event rule reacts to "/start promo…".
func TestScheduleAndBotEvent(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	sched := r.rule(`{"name": "Every 5 min", "trigger": {"type": "schedule", "cron": "*/5 * * * *"},
		"actions": [{"type": "crm.update", "params": {"note": "tick"}}]}`)
	promo := r.rule(`{"name": "Promo", "trigger": {"type": "bot.event", "event": "started", "payload": "promo"},
		"actions": [{"type": "tag.add", "params": {"tag": "promo"}}]}`)
	r.clock.Advance(5 * time.Minute)
	for range 2 {
		if err := r.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	runs := r.runsSettled(sched.ID, 1)
	if !strings.HasPrefix(runs[0].EventKey, "cron:") {
		t.Fatalf("run = %+v", runs[0])
	}
	u := r.sb.CreateUser("Gleb", "gleb")
	if _, err := r.sb.SendCommand(u.ID, r.bot.ID, "start", "promo_spring"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the start event", func() bool {
		var n int
		_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE tenant_id = $1 AND type = 'started'`, r.tenant).Scan(&n)
		return n == 1
	})
	if err := r.svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	r.runsSettled(promo.ID, 1)
	var tags []string
	_ = env.Owner.QueryRow(ctx, `SELECT c.tags FROM contacts c WHERE c.tenant_id = $1 AND c.tg_user_id = $2`, r.tenant, u.ID).Scan(&tags)
	if len(tags) != 1 || tags[0] != "promo" {
		t.Fatalf("tags = %v", tags)
	}
}
