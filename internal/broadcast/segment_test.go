package broadcast_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/broadcast"
	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
)

// A campaign to a segment reaches only its members; a segment deleted
// mid-campaign pauses the campaign (no step could page again) instead of
// failing forever, and nobody gets the message twice.
func TestSegmentCampaignAndSegmentGone(t *testing.T) {
	r := newRig(t, rigOptions{scale: 1, minWindow: 3, windowSpan: 50 * time.Millisecond})
	ctx := context.Background()
	ru := r.people("Max", 20)
	en := r.people("Ned", 5)
	for _, p := range ru {
		if _, err := env.Owner.Exec(ctx, `UPDATE contacts SET language = 'ru' WHERE tenant_id = $1 AND tg_user_id = $2`, r.tenant, p.user.ID); err != nil {
			t.Fatal(err)
		}
	}
	seg, err := r.aud.CreateSegment(ctx, r.tenant, uuid.Nil, audience.SegmentDef{Name: "ru",
		Filter: audience.Filter{Field: "language", Op: "eq", Value: json.RawMessage(`"ru"`)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.svc.Create(ctx, r.tenant, uuid.Nil, broadcast.Def{BotID: r.bot.ID, Name: "ru only", SegmentID: &seg.ID,
		Content: broadcast.Content{Text: "Привет [ms]"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.SendNow(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "some sends", func() bool { return r.stats(t, c.ID).Sent >= 3 })
	if st := r.stats(t, c.ID); st.AudienceSize != 20 {
		t.Fatalf("audience %d, want the 20 in the segment", st.AudienceSize)
	}
	if _, err := env.Owner.Exec(ctx, `DELETE FROM segments WHERE id = $1`, seg.ID); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, c.ID, broadcast.StatusPaused)
	eventually(t, "the window drained", func() bool { return r.stats(t, c.ID).Queued == 0 })
	st := r.stats(t, c.ID)
	got := 0
	for _, p := range ru {
		n := r.received(p.user.ID, "[ms]")
		if n > 1 {
			t.Fatal("a duplicate")
		}
		got += n
	}
	for _, p := range en {
		if r.received(p.user.ID, "[ms]") != 0 {
			t.Fatal("a person outside the segment got the message")
		}
	}
	if got != st.Sent || st.Sent >= 20 {
		t.Fatalf("%d received, stats %+v", got, st)
	}
}
