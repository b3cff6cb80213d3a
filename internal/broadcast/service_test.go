package broadcast_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/broadcast"
)

func fieldCode(err error) (string, string) {
	var inv *broadcast.InvalidError
	if !errors.As(err, &inv) || len(inv.Fields) == 0 {
		return "", ""
	}
	return inv.Fields[0].Field, inv.Fields[0].Code
}

// Bad content is refused with the field and a stable code, and nothing is stored.
func TestValidation(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Length", "31457280") // 30 MB
		w.WriteHeader(200)
	}))
	defer big.Close()
	small := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
	}))
	defer small.Close()
	cases := []struct {
		name        string
		def         broadcast.Def
		field, code string
	}{
		{"over-long text", broadcast.Def{Content: broadcast.Content{Text: strings.Repeat("a", 4097)}}, "content.text", "too_long"},
		{"placeholders at their longest", broadcast.Def{Content: broadcast.Content{Text: strings.Repeat("a", 4000) + "{first_name}{last_name}"}}, "content.text", "too_long"},
		{"over-long caption", broadcast.Def{Content: broadcast.Content{Text: strings.Repeat("я", 1025),
			Media: &broadcast.Media{Kind: "photo", FileID: "AgAD"}}}, "content.text", "too_long"},
		{"unknown placeholder", broadcast.Def{Content: broadcast.Content{Text: "Hi {nickname}"}}, "content.text", "unknown_placeholder"},
		{"unknown placeholder in full text", broadcast.Def{Content: broadcast.Content{Text: "Hi", FullText: "{balance}"}}, "content.full_text", "unknown_placeholder"},
		{"unsupported tag", broadcast.Def{Content: broadcast.Content{Text: "<div>x</div>"}}, "content.text", "invalid_html"},
		{"unclosed tag", broadcast.Def{Content: broadcast.Content{Text: "<b>x"}}, "content.text", "invalid_html"},
		{"empty", broadcast.Def{Content: broadcast.Content{}}, "content.text", "required"},
		{"file too large", broadcast.Def{Content: broadcast.Content{Text: "x", Media: &broadcast.Media{Kind: "video", URL: big.URL + "/v.mp4"}}},
			"content.media.size", "too_large"},
		{"photo too large by stated size", broadcast.Def{Content: broadcast.Content{Text: "x", Media: &broadcast.Media{Kind: "photo", URL: small.URL, Size: 6 << 20}}},
			"content.media.size", "too_large"},
		{"bad media kind", broadcast.Def{Content: broadcast.Content{Text: "x", Media: &broadcast.Media{Kind: "sticker", FileID: "x"}}}, "content.media.kind", "invalid"},
		{"bad button url", broadcast.Def{Content: broadcast.Content{Text: "x", Buttons: []broadcast.Button{{Text: "go", URL: "javascript:alert(1)"}}}},
			"content.buttons[0].url", "invalid"},
		{"bad topic", broadcast.Def{Topic: "News!", Content: broadcast.Content{Text: "x"}}, "topic", "invalid"},
		{"unknown survey", broadcast.Def{SurveyID: ptr(uuid.New()), Content: broadcast.Content{Text: "x"}}, "survey_id", "not_found"},
		{"unknown segment", broadcast.Def{SegmentID: ptr(uuid.New()), Content: broadcast.Content{Text: "x"}}, "segment_id", "not_found"},
		{"unknown topic", broadcast.Def{Topic: "gossip", Content: broadcast.Content{Text: "x"}}, "topic", "not_found"},
		{"other bot", broadcast.Def{BotID: 42, Content: broadcast.Content{Text: "x"}}, "bot_id", "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.def
			d.Name = "x"
			if d.BotID == 0 {
				d.BotID = r.bot.ID
			}
			_, err := r.svc.Create(ctx, r.tenant, uuid.Nil, d)
			if f, c := fieldCode(err); f != tc.field || c != tc.code {
				t.Fatalf("got %v, want %s %s", err, tc.field, tc.code)
			}
		})
	}
	// A good one with media by URL, a URL button and a placeholder passes.
	if _, err := r.svc.Create(ctx, r.tenant, uuid.Nil, broadcast.Def{BotID: r.bot.ID, Name: "ok", Content: broadcast.Content{
		Text: "<i>Hi</i> {first_name} &lt;3", Media: &broadcast.Media{Kind: "photo", URL: small.URL},
		Buttons: []broadcast.Button{{Text: "Go", URL: "https://example.com"}}}}); err != nil {
		t.Fatal(err)
	}
	var n int
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM campaigns WHERE tenant_id = $1`, r.tenant).Scan(&n)
	if n != 1 {
		t.Fatalf("%d campaigns stored", n)
	}
}

func ptr[T any](v T) *T { return &v }

// Each state transition, with the injected clock for the schedule.
func TestStateTransitions(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	r.people("Fay", 2)
	c := r.create(t, "states", broadcast.Content{Text: "States [m6]"})
	if c.Status != broadcast.StatusDraft {
		t.Fatal(c.Status)
	}
	for name, fn := range map[string]func(context.Context, uuid.UUID, uuid.UUID) (broadcast.Campaign, error){
		"pause a draft": r.svc.Pause, "resume a draft": r.svc.Resume,
	} {
		if _, err := fn(ctx, r.tenant, c.ID); !errors.Is(err, broadcast.ErrState) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// The schedule is a wall time in the tenant's zone (Europe/Moscow, UTC+3).
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC) // 12:00 in Moscow
	r.clock.Set(now)
	if _, err := r.svc.Schedule(ctx, r.tenant, c.ID, "2026-11-21T11:59"); fieldOf(err) != "at:in_past" {
		t.Fatalf("schedule in the past: %v", err)
	}
	if _, err := r.svc.Schedule(ctx, r.tenant, c.ID, "tomorrow"); fieldOf(err) != "at:invalid" {
		t.Fatalf("schedule nonsense: %v", err)
	}
	c, err := r.svc.Schedule(ctx, r.tenant, c.ID, "2026-11-21T12:30")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != broadcast.StatusScheduled || !c.ScheduledAt.Equal(now.Add(30*time.Minute)) {
		t.Fatalf("scheduled %s at %v", c.Status, c.ScheduledAt)
	}
	// Still editable while scheduled; not yet due.
	if _, err := r.svc.Update(ctx, r.tenant, c.ID, broadcast.Def{BotID: r.bot.ID, Name: "states 2", Content: broadcast.Content{Text: "States [m6]"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.StartDue(ctx, r.tenant, c.ID); !errors.Is(err, broadcast.ErrState) {
		t.Fatalf("start before due: %v", err)
	}
	if err := r.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ = r.svc.Get(ctx, r.tenant, c.ID); c.Status != broadcast.StatusScheduled {
		t.Fatal(c.Status)
	}
	r.clock.Advance(31 * time.Minute)
	if err := r.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	for name, fn := range map[string]func(context.Context, uuid.UUID, uuid.UUID) (broadcast.Campaign, error){
		"pause a done campaign": r.svc.Pause, "cancel a done campaign": r.svc.Cancel, "send a done campaign": r.svc.SendNow,
	} {
		if _, err := fn(ctx, r.tenant, c.ID); !errors.Is(err, broadcast.ErrState) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := r.svc.Update(ctx, r.tenant, c.ID, broadcast.Def{BotID: r.bot.ID, Name: "late", Content: broadcast.Content{Text: "x"}}); !errors.Is(err, broadcast.ErrState) {
		t.Fatalf("edit a done campaign: %v", err)
	}
}

// Pause and resume while sending (a slow bot: 30/s, 3 at a time): nothing
// is lost or doubled across the pause. (One rig per test: rigs share Redis,
// so two workers would take each other's tasks.)
func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	r2 := newRig(t, rigOptions{scale: 1, minWindow: 3, windowSpan: 50 * time.Millisecond})
	ps := r2.people("Gus", 25)
	c2 := r2.create(t, "pausing", broadcast.Content{Text: "Pause [m7]"})
	if _, err := r2.svc.SendNow(ctx, r2.tenant, c2.ID); err != nil {
		t.Fatal(err)
	}
	if err := r2.svc.Delete(ctx, r2.tenant, c2.ID); !errors.Is(err, broadcast.ErrState) {
		t.Fatalf("delete while sending: %v", err)
	}
	eventually(t, "some sends", func() bool { return r2.stats(t, c2.ID).Sent >= 3 })
	if _, err := r2.svc.Pause(ctx, r2.tenant, c2.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the window drained", func() bool { return r2.stats(t, c2.ID).Queued == 0 })
	paused := r2.stats(t, c2.ID)
	if paused.Status != broadcast.StatusPaused || paused.Sent >= 25 {
		t.Fatalf("paused %+v", paused)
	}
	if _, err := r2.svc.Resume(ctx, r2.tenant, c2.ID); err != nil {
		t.Fatal(err)
	}
	r2.waitStatus(t, c2.ID, broadcast.StatusDone)
	for _, p := range ps {
		if n := r2.received(p.user.ID, "[m7]"); n != 1 {
			rows, _ := env.Owner.Query(ctx, `SELECT d.chat_id, d.status, m.status, m.attempts, m.throttled, COALESCE(m.error_description, '') FROM campaign_deliveries d JOIN outbox_messages m ON m.id = d.outbox_id WHERE d.campaign_id = $1`, c2.ID)
			for rows.Next() {
				var chat int64
				var a, b, e string
				var at, th int
				_ = rows.Scan(&chat, &a, &b, &at, &th, &e)
				t.Logf("%d %s %s %d %d %s", chat, a, b, at, th, e)
			}
			rows.Close()
			t.Logf("%+v", r2.sb.PrivateTranscript(r2.bot.ID, p.user.ID))
			t.Fatalf("%s (%d) got %d copies", p.user.FirstName, p.user.ID, n)
		}
	}
	if err := r2.svc.Delete(ctx, r2.tenant, c2.ID); err != nil {
		t.Fatalf("delete a done campaign: %v", err)
	}
}

func fieldOf(err error) string {
	f, c := fieldCode(err)
	return f + ":" + c
}
