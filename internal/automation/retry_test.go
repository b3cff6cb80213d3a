package automation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// crm.update is keyed by the rule run and the action: a second event with
// the same content is a new call (the deal may have moved in between),
// while running the same action again is one call.
func TestCRMUpdateOncePerRun(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	rule := r.rule(`{"name": "Back to work", "trigger": {"type": "deal.stage_entered", "stage_id": "s1"},
		"actions": [{"type": "crm.update", "params": {"stage_id": "s2", "note": "moved on"}}]}`)
	for i := range 2 {
		if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, amoEvent("12", "p", "s1", "", r.clock.Now())); err != nil {
			t.Fatal(err)
		}
		runs := r.runsSettled(rule.ID, i+1)
		if runs[0].Outcome != "ok" {
			t.Fatalf("run = %+v", runs[0])
		}
		r.clock.Advance(time.Minute) // a new event key
	}
	runs := r.runsSettled(rule.ID, 2)
	// What a crashed worker's retry would do after the call but before the
	// result was recorded: the crm service keeps it one call.
	if _, err := env.Owner.Exec(ctx, `UPDATE automation_action_runs SET status = 'pending' WHERE run_id = $1`, runs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.RunAction(ctx, r.tenant, runs[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	ups, notes := r.crm.recorded()
	if len(ups) != 2 || len(notes) != 2 {
		t.Fatalf("updates = %d, notes = %d, want 2 each", len(ups), len(notes))
	}
}

// sequence.start retried after its start committed (the worker died before
// the action was marked ok) finds its enrollment, even one that already
// finished, and sends nothing again.
func TestRetriedSequenceStartRunsOnce(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	m := r.member("Vera", "c-31")
	r.crm.put(crm.Deal{ID: "31", Name: "Membership", StageID: "new", ContactIDs: []string{"c-31"}})
	seq := r.sequence(`{"name": "Now", "steps": [{"text": "only step for {first_name}"}]}`)
	rule := r.rule(fmt.Sprintf(`{"name": "Start", "trigger": {"type": "deal.stage_entered", "stage_id": "new"},
		"actions": [{"type": "sequence.start", "params": {"sequence_id": %q}}]}`, seq.ID))
	if err := r.svc.HandleCRMEvent(ctx, r.tenant, r.connector, amoEvent("31", "p", "new", "", r.clock.Now())); err != nil {
		t.Fatal(err)
	}
	runs := r.runsSettled(rule.ID, 1)
	if _, err := r.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the step", func() bool { return contains(r.privateGot(m.user.ID), "only step for Vera") })
	if _, err := env.Owner.Exec(ctx, `UPDATE automation_action_runs SET status = 'pending' WHERE run_id = $1`, runs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.RunAction(ctx, r.tenant, runs[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	var enrollments, steps int
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM sequence_enrollments WHERE tenant_id = $1`, r.tenant).Scan(&enrollments)
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM sequence_steps WHERE tenant_id = $1`, r.tenant).Scan(&steps)
	if enrollments != 1 || steps != 1 {
		t.Fatalf("enrollments = %d, steps = %d, want 1 each", enrollments, steps)
	}
	if got, _ := r.svc.Runs(ctx, r.tenant, rule.ID, 5); got[0].Actions[0].Result != "sequence started" {
		t.Errorf("retried action result = %q", got[0].Actions[0].Result)
	}
}
