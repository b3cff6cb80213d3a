package telegram_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/telegram"
)

// textUpdateID builds a private text message update with a given update_id.
func textUpdateID(id, chatID int64, text string) []byte {
	raw, _ := json.Marshal(map[string]any{
		"update_id": id,
		"message": map[string]any{
			"message_id": id, "date": 1700000000, "text": text,
			"from": map[string]any{"id": chatID, "is_bot": false, "first_name": "U", "language_code": "en"},
			"chat": map[string]any{"id": chatID, "type": "private", "first_name": "U"},
		},
	})
	return raw
}

// Telegram delivers a bot's updates over up to max_connections parallel
// requests: a chat's update N+1 can be accepted, and its drain start, before
// N arrives. The drain waits (bounded) for the missing lower update_id, so N
// is handled first. Without the wait the drain handles N+1 at once.
func TestDrainWaitsForAMissingLowerUpdate(t *testing.T) {
	st := newStack(t, stackOpts{sender: &recSender{}, procOpts: telegram.ProcessorOptions{GapWait: 5 * time.Second}})
	order := &orderRecorder{got: map[int64][]string{}}
	st.proc.SetFallback(func(_ context.Context, in *telegram.Inbound) error {
		order.add(in.ChatID, in.Text)
		return nil
	})
	const chat = 810001
	handledIn := func(c int64) []string {
		order.mu.Lock()
		defer order.mu.Unlock()
		return append([]string(nil), order.got[c]...)
	}
	handled := func() []string { return handledIn(chat) }
	base := 500_000 + nextUpdateID.Add(100)
	// Another chat's update first: the bot's sequence starts at base.
	if c := st.post(st.publicID, st.secret, textUpdateID(base, 810002, "other")); c != 200 {
		t.Fatalf("post: %d", c)
	}
	eventually(t, 10*time.Second, "the first update handled", func() bool { return len(handledIn(810002)) == 1 })
	// base+2 overtakes base+1.
	if c := st.post(st.publicID, st.secret, textUpdateID(base+2, chat, "second")); c != 200 {
		t.Fatalf("post: %d", c)
	}
	// Give a drain that does not wait the time to handle it (it takes a few
	// milliseconds); one that waits handles nothing meanwhile.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) && len(handled()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if c := st.post(st.publicID, st.secret, textUpdateID(base+1, chat, "first")); c != 200 {
		t.Fatalf("post: %d", c)
	}
	eventually(t, 10*time.Second, "both handled", func() bool { return len(handled()) >= 2 })
	if got := handled(); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("handled %q, want first then second", got)
	}
}

// A gap that never closes (an update Telegram dropped, a kind not
// delivered) delays the update above it at most GapWait, once: the updates
// after it are handled in order without waiting for it again.
func TestDrainGivesUpOnAGapThatNeverCloses(t *testing.T) {
	st := newStack(t, stackOpts{sender: &recSender{}, procOpts: telegram.ProcessorOptions{GapWait: 200 * time.Millisecond}})
	order := &orderRecorder{got: map[int64][]string{}}
	st.proc.SetFallback(func(_ context.Context, in *telegram.Inbound) error {
		order.add(in.ChatID, in.Text)
		return nil
	})
	const chat = 820001
	base := 600_000 + nextUpdateID.Add(100)
	for i, id := range []int64{base, base + 2, base + 3, base + 4} { // base+1 never comes
		if c := st.post(st.publicID, st.secret, textUpdateID(id, chat, string(rune('a'+i)))); c != 200 {
			t.Fatalf("post: %d", c)
		}
	}
	eventually(t, 10*time.Second, "all four handled", func() bool {
		order.mu.Lock()
		defer order.mu.Unlock()
		return len(order.got[chat]) >= 4
	})
	order.mu.Lock()
	got := order.got[chat]
	order.mu.Unlock()
	if !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("handled %q, want a b c d", got)
	}
}
