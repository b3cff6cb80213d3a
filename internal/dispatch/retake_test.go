package dispatch_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// The manager moves a taken deal back and the same executor takes it
// again: the second write-back is byte-for-byte the first update, and it
// must still reach the CRM (the deal was moved back in between).
func TestRetakeWritesBackAgain(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.bind()
	ctx := context.Background()
	exec := r.user("Petr")
	r.executor(exec, "crm-77")
	r.deal("950", "")
	over := spec
	over.TakenStageID = "found"
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "950", "", over); err != nil {
		t.Fatal(err)
	}
	card := r.groupMessage("Move a sofa 950")
	take := func(gen int) {
		t.Helper()
		var b map[string]string
		eventually(t, "the take button", func() bool {
			for _, e := range r.sb.Transcript(r.group.ID) {
				if e.MessageID == card.MessageID {
					b = buttons(e)
				}
			}
			return b[labelTake] != "" && r.job("950").Status == "open"
		})
		if _, err := r.sb.PressButton(exec.ID, r.group.ID, card.MessageID, b[labelTake]); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the write-back", func() bool {
			var g int
			var wb string
			_ = env.Owner.QueryRow(ctx, `SELECT generation, writeback FROM dispatch_jobs WHERE tenant_id = $1 AND deal_id = '950'`, r.tenant).Scan(&g, &wb)
			return g == gen && wb == "done"
		})
	}
	take(1)
	if err := r.svc.HandleDealEvent(ctx, r.tenant, r.connector, crm.Event{Type: crm.DealStageEntered, DealID: "950", StageID: "search", PrevStageID: "found"}); err != nil {
		t.Fatal(err)
	}
	take(2)
	ups, notes := r.crm.recorded()
	if len(ups) != 2 {
		t.Fatalf("updates = %+v, want the same update twice", ups)
	}
	for _, u := range ups {
		if u.ResponsibleUserID == nil || *u.ResponsibleUserID != "crm-77" || u.StageID == nil || *u.StageID != "found" {
			t.Errorf("update = %+v", u)
		}
	}
	if len(notes) != 2 || !strings.Contains(notes[1].Text, "#2") {
		t.Errorf("notes = %+v", notes)
	}
}

// A rule action retried after its post committed (the worker died before
// the action was marked ok) does not re-open the job taken since; a post
// from a new source (a new event) does.
func TestRetriedPostDoesNotReopen(t *testing.T) {
	r := newRig(t, rigOpts{settings: `{"registered_only": false}`})
	r.bind()
	ctx := context.Background()
	r.deal("960", "")
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "960", "auto:run-1:0", spec); err != nil {
		t.Fatal(err)
	}
	card := r.groupMessage("Move a sofa 960")
	exec := r.user("Max")
	if _, err := r.sb.PressButton(exec.ID, r.group.ID, card.MessageID, buttons(card)[labelTake]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "taken", func() bool { return r.job("960").Status == "taken" })
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "960", "auto:run-1:0", spec); err != nil {
		t.Fatal(err)
	}
	if j := r.job("960"); j.Status != "taken" {
		t.Fatalf("a retried post re-opened the job: %+v", j)
	}
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "960", "auto:run-2:0", spec); err != nil {
		t.Fatal(err)
	}
	if j := r.job("960"); j.Status != "open" {
		t.Fatalf("a new event's post left the job %s, want open", j.Status)
	}
}
