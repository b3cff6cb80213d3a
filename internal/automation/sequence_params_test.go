package automation_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/automation"
)

// A step the outbox refuses (saved before params were validated) is marked
// failed; the steps after it and other tenants' steps are still sent.
func TestBadStepDoesNotStopSequences(t *testing.T) {
	ctx := context.Background()
	bad, good := newRig(t, ""), newRig(t, "")
	mb, mg := bad.member("Olga", ""), good.member("Pavel", "")
	seqB := bad.sequence(`{"name": "Bad", "steps": [{"text": "placeholder"}, {"text": "after the bad one"}]}`)
	if _, err := env.Owner.Exec(ctx, `UPDATE sequences SET steps = jsonb_set(steps, '{0}',
		'{"delay": "0s", "to": ["contact"], "method": "copyMessage", "params": {"chat_id": 1, "from_chat_id": -1001, "message_id": 5}}')
		WHERE id = $1`, seqB.ID); err != nil {
		t.Fatal(err)
	}
	seqG := good.sequence(`{"name": "Good", "steps": [{"text": "hello from the good tenant"}]}`)
	if _, err := bad.svc.StartSequence(ctx, bad.tenant, seqB.ID, automation.Target{ContactID: mb.contactID}); err != nil {
		t.Fatal(err)
	}
	if _, err := good.svc.StartSequence(ctx, good.tenant, seqG.ID, automation.Target{ContactID: mg.contactID}); err != nil {
		t.Fatal(err)
	}
	// Both rigs share the database: one RunDue serves both tenants.
	if _, err := bad.svc.RunDue(ctx); err != nil {
		t.Fatalf("RunDue: %v", err)
	}
	var state, reason string
	if err := env.Owner.QueryRow(ctx, `SELECT state, reason FROM sequence_steps WHERE tenant_id = $1 AND idx = 0`, bad.tenant).
		Scan(&state, &reason); err != nil {
		t.Fatal(err)
	}
	if state != "failed" || reason == "" {
		t.Fatalf("bad step = %s (%s), want failed with a reason", state, reason)
	}
	// The two rigs' workers share the asynq queues, so delivery could go
	// through either sandbox: what RunDue recorded is what is asserted.
	for _, c := range []struct {
		name   string
		tenant uuid.UUID
		idx    int
	}{{"the step after the bad one", bad.tenant, 1}, {"the other tenant's step", good.tenant, 0}} {
		var state string
		var outboxID *uuid.UUID
		if err := env.Owner.QueryRow(ctx, `SELECT state, outbox_id FROM sequence_steps WHERE tenant_id = $1 AND idx = $2`, c.tenant, c.idx).
			Scan(&state, &outboxID); err != nil {
			t.Fatal(err)
		}
		if state != "sent" || outboxID == nil {
			t.Errorf("%s = %s, want sent with an outbox message", c.name, state)
		}
	}
}
