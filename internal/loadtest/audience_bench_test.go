package loadtest

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// BenchmarkAudiencePage walks a segment of a bot with 100,000 subscribers
// (AUDIENCE_PEOPLE) and 400,000 events, the way a campaign does: keyset
// pages of 500 from a checkpoint. It prints the whole walk's rate and the
// live count's time for three segments: everyone, a terminal's deep link
// (selective, served by events.start_payload) and language + tag (checked
// per row). docs/audience.md, "Indexes".
func BenchmarkAudiencePage(b *testing.B) {
	st := newStores(b)
	ctx := context.Background()
	people := 100_000
	if v, err := strconv.Atoi(os.Getenv("AUDIENCE_PEOPLE")); err == nil && v > 0 {
		people = v
	}
	tenantID, botID := ids.New(), int64(9_900_001)
	exec := func(sql string, args ...any) {
		b.Helper()
		if _, err := st.DB.Owner.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	exec("INSERT INTO tenants (id, name) VALUES ($1, 'Bench')", tenantID)
	exec(`INSERT INTO bots (id, tenant_id, public_id, token_sealed, webhook_secret) VALUES ($1, $2, 'bench', '\x00', '\x00')`, botID, tenantID)
	exec(`INSERT INTO contacts (id, tenant_id, tg_user_id, first_name, language, tags)
		SELECT gen_random_uuid(), $1, g, 'P' || g, CASE WHEN g % 3 = 0 THEN 'en' ELSE 'ru' END,
		       CASE WHEN g % 10 = 0 THEN '{vip}'::text[] ELSE '{}' END
		FROM generate_series(1, $2::int) g`, tenantID, people)
	// bot_chats ids are UUIDv7 in the app; gen_random_uuid() (v4) is as
	// good for keyset paging and random order is the harder case.
	exec(`INSERT INTO bot_chats (id, tenant_id, bot_id, contact_id, chat_id, subscriptions, unsubscribed)
		SELECT gen_random_uuid(), $1, $2, id, tg_user_id,
		       CASE WHEN tg_user_id % 7 = 0 THEN '{"news": false}'::jsonb ELSE '{}' END, tg_user_id % 50 = 0
		FROM contacts WHERE tenant_id = $1`, tenantID, botID)
	exec(`INSERT INTO events (tenant_id, contact_id, bot_id, type, payload)
		SELECT $1, id, $2, 'started', jsonb_build_object('payload', 'term_' || (tg_user_id % 500)) FROM contacts WHERE tenant_id = $1`, tenantID, botID)
	exec(`INSERT INTO events (tenant_id, contact_id, bot_id, type, payload)
		SELECT $1, id, $2, 'message_received', '{}' FROM contacts, generate_series(1, 3) WHERE tenant_id = $1`, tenantID, botID)
	exec("ANALYZE contacts, bot_chats, events")

	svc := audience.NewService(st.DB.DB, nil, nil, audience.Options{})
	segments := []struct{ name, filter string }{
		{"everyone", ""},
		{"terminal", `{"field": "start_payload", "op": "in", "value": ["term_17", "term_18"]}`},
		{"ru_vip", `{"match": "all", "conditions": [{"field": "language", "op": "eq", "value": "ru"},
			{"field": "tags", "op": "has", "value": "vip"}]}`},
	}
	b.ResetTimer()
	for range b.N {
		for _, sg := range segments {
			segID := uuid.Nil
			if sg.filter != "" {
				var f audience.Filter
				if err := json.Unmarshal([]byte(sg.filter), &f); err != nil {
					b.Fatal(err)
				}
				seg, err := svc.CreateSegment(ctx, tenantID, uuid.Nil, audience.SegmentDef{Name: sg.name + ids.Token(4), Filter: f})
				if err != nil {
					b.Fatal(err)
				}
				segID = seg.ID
			}
			start := time.Now()
			n, err := svc.Count(ctx, tenantID, botID, segID, "news")
			if err != nil {
				b.Fatal(err)
			}
			countMS := float64(time.Since(start).Microseconds()) / 1000
			start = time.Now()
			walked, after := 0, uuid.Nil
			for {
				page, err := svc.Page(ctx, tenantID, botID, segID, "news", after, 500)
				if err != nil {
					b.Fatal(err)
				}
				walked += len(page)
				if len(page) < 500 {
					break
				}
				after = page[len(page)-1].BotChatID
			}
			took := time.Since(start)
			if walked != n {
				b.Fatalf("%s: walked %d, count %d", sg.name, walked, n)
			}
			say("audience %s: %d of %d people, count %.1f ms, walk %v in pages of 500", sg.name, n, people, countMS, took.Round(time.Millisecond))
			bench(b, "audience_count_ms_"+sg.name, countMS, "count-ms-"+sg.name, "")
			bench(b, "audience_walk_recipients_per_s_"+sg.name, float64(walked)/took.Seconds(), "recipients/s-"+sg.name, "")
		}
	}
}
