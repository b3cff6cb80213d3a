package audience_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// allPages pages through an audience with a small page size.
func allPages(t *testing.T, w *world, bot int64, seg uuid.UUID, topic string, limit int) []audience.Recipient {
	t.Helper()
	var out []audience.Recipient
	after := uuid.Nil
	for range 1000 {
		page, err := w.svc.Page(context.Background(), w.tenant, bot, seg, topic, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d, limit %d", len(page), limit)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		after = page[len(page)-1].BotChatID
	}
	t.Fatal("paging did not end")
	return nil
}

// Page walks every deliverable subscriber once, in BotChatID order, and
// agrees with Count; people who stop or block mid-way drop out without
// shifting anyone else; new people come after the checkpoint.
func TestPageIsStableAndAgreesWithCount(t *testing.T) {
	w := newWorld(t, "")
	bot := w.bot()
	ctx := context.Background()
	for i := range 40 {
		s := sub{}
		switch i % 10 {
		case 3:
			s.unsubscribed = true
		case 5:
			s.unreachable = true
		case 7:
			s.erased = true
		case 8:
			s.subs = `{"news": false}`
		case 9:
			s.lang = "en"
		}
		w.add(bot, uuid.Nil, s)
	}
	// 40 people: 4 stopped, 4 blocked, 4 erased → 28 deliverable; 4 of
	// them switched news off.
	for _, c := range []struct {
		topic string
		want  int
	}{{"", 28}, {"news", 24}, {"surveys", 28}} {
		n, err := w.svc.Count(ctx, w.tenant, bot, uuid.Nil, c.topic)
		if err != nil || n != c.want {
			t.Fatalf("count %q = %d %v, want %d", c.topic, n, err, c.want)
		}
		got := allPages(t, w, bot, uuid.Nil, c.topic, 7)
		if len(got) != c.want {
			t.Fatalf("pages %q gave %d, want %d", c.topic, len(got), c.want)
		}
		if !slices.IsSortedFunc(got, func(a, b audience.Recipient) int { return compareUUID(a.BotChatID, b.BotChatID) }) {
			t.Fatal("pages not in BotChatID order")
		}
		seen := map[uuid.UUID]bool{}
		for _, r := range got {
			if seen[r.BotChatID] {
				t.Fatalf("%s twice", r.BotChatID)
			}
			seen[r.BotChatID] = true
			if r.ChatID == 0 || r.ContactID == uuid.Nil || r.FirstName == "" {
				t.Fatalf("recipient %+v lacks fields", r)
			}
			// The tenant's default language stands in for an unknown one.
			if r.Lang != "ru" && r.Lang != "en" {
				t.Fatalf("recipient language %q", r.Lang)
			}
		}
	}

	// Mid-way: after the first page, one person of a later page stops, and
	// a new person arrives; paging from the checkpoint neither repeats nor
	// skips anyone else, and the newcomer (a later id) is included.
	first, err := w.svc.Page(ctx, w.tenant, bot, uuid.Nil, "", uuid.Nil, 10)
	if err != nil || len(first) != 10 {
		t.Fatalf("first page: %d %v", len(first), err)
	}
	rest0 := allPages(t, w, bot, uuid.Nil, "", 1000)[10:]
	leaver := rest0[3]
	w.exec("UPDATE bot_chats SET unsubscribed = true WHERE id = $1", leaver.BotChatID)
	newChat, _ := w.add(bot, uuid.Nil, sub{})
	var rest []audience.Recipient
	after := first[len(first)-1].BotChatID
	for {
		page, err := w.svc.Page(ctx, w.tenant, bot, uuid.Nil, "", after, 4)
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, page...)
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1].BotChatID
	}
	var want []uuid.UUID
	for _, r := range rest0 {
		if r.BotChatID != leaver.BotChatID {
			want = append(want, r.BotChatID)
		}
	}
	var got []uuid.UUID
	for _, r := range rest {
		got = append(got, r.BotChatID)
	}
	if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) || rest[len(rest)-1].ChatID != newChat {
		t.Fatalf("after the checkpoint got %d recipients, want the %d others then the newcomer", len(got), len(want))
	}

	// Unknown topic.
	if _, err := w.svc.Page(ctx, w.tenant, bot, uuid.Nil, "sport", uuid.Nil, 10); !errors.Is(err, audience.ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// A saved segment narrows Page and Count; another tenant's segment id is
// not found (never someone else's audience).
func TestSegmentsPageAndIsolation(t *testing.T) {
	w := newWorld(t, "")
	bot := w.bot()
	ctx := context.Background()
	vip, _ := w.add(bot, uuid.Nil, sub{tags: []string{"vip"}})
	w.add(bot, uuid.Nil, sub{tags: []string{"vip"}, unsubscribed: true})
	w.add(bot, uuid.Nil, sub{})
	seg, err := w.svc.CreateSegment(ctx, w.tenant, ids.New(), audience.SegmentDef{Name: " VIP ",
		Filter: mustFilter(t, `{"match": "all", "conditions": [{"field": "tags", "op": "has", "value": "vip"}]}`)})
	if err != nil || seg.Name != "VIP" {
		t.Fatalf("create: %+v %v", seg, err)
	}
	page, err := w.svc.Page(ctx, w.tenant, bot, seg.ID, "news", uuid.Nil, 100)
	if err != nil || len(page) != 1 || page[0].ChatID != vip {
		t.Fatalf("segment page: %+v %v", page, err)
	}
	sz, err := w.svc.SegmentSizes(ctx, w.tenant, bot, seg.ID, "")
	if err != nil || sz.Matching != 2 || sz.Reachable != 1 {
		t.Fatalf("sizes %+v %v", sz, err)
	}
	if _, err := w.svc.CreateSegment(ctx, w.tenant, uuid.Nil, audience.SegmentDef{Name: "VIP", Filter: seg.Filter}); !errors.Is(err, audience.ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	up, err := w.svc.UpdateSegment(ctx, w.tenant, uuid.Nil, seg.ID, audience.SegmentDef{Name: "Not VIP",
		Filter: mustFilter(t, `{"field": "tags", "op": "has_none", "value": ["vip"]}`)})
	if err != nil || up.Name != "Not VIP" {
		t.Fatalf("update: %+v %v", up, err)
	}
	if n, err := w.svc.Count(ctx, w.tenant, bot, seg.ID, ""); err != nil || n != 1 {
		t.Fatalf("count after update: %d %v", n, err)
	}

	// Another tenant with the same kind of data cannot use this segment.
	o := newWorld(t, "")
	obot := o.bot()
	o.add(obot, uuid.Nil, sub{})
	if _, err := o.svc.Page(ctx, o.tenant, obot, seg.ID, "", uuid.Nil, 10); !errors.Is(err, audience.ErrNotFound) {
		t.Fatalf("cross-tenant page: %v", err)
	}
	if _, err := o.svc.Count(ctx, o.tenant, obot, seg.ID, ""); !errors.Is(err, audience.ErrNotFound) {
		t.Fatalf("cross-tenant count: %v", err)
	}
	if _, err := o.svc.GetSegment(ctx, o.tenant, seg.ID); !errors.Is(err, audience.ErrNotFound) {
		t.Fatalf("cross-tenant get: %v", err)
	}
	if err := o.svc.DeleteSegment(ctx, o.tenant, uuid.Nil, seg.ID); !errors.Is(err, audience.ErrNotFound) {
		t.Fatalf("cross-tenant delete: %v", err)
	}
	// This tenant's bot through the other tenant: nobody.
	if n, err := o.svc.Count(ctx, o.tenant, bot, uuid.Nil, ""); err != nil || n != 0 {
		t.Fatalf("other tenant counting this bot: %d %v", n, err)
	}
	if _, err := o.svc.Preview(ctx, o.tenant, bot, seg.Filter, ""); !errors.Is(err, audience.ErrUnknownBot) {
		t.Fatalf("preview on another tenant's bot: %v", err)
	}
	if err := w.svc.DeleteSegment(ctx, w.tenant, uuid.Nil, seg.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Page(ctx, w.tenant, bot, seg.ID, "", uuid.Nil, 10); !errors.Is(err, audience.ErrNotFound) {
		t.Fatalf("deleted segment: %v", err)
	}
}

// The topic set comes from the tenant's settings: keys or objects with a
// default and titles; a topic off by default needs opting in.
func TestTenantTopics(t *testing.T) {
	w := newWorld(t, `{"feature_settings": {"broadcasts": {"subscriptions": ["news",
		{"key": "promo", "default": false, "title": {"ru": "Скидки", "en": "Deals"}}, "Bad Key!"]}}}`)
	ctx := context.Background()
	topics, err := w.svc.Topics(ctx, w.tenant)
	if err != nil || len(topics) != 2 || topics[0].Key != "news" || !topics[0].Default || topics[1].Key != "promo" ||
		topics[1].Default || topics[1].Title["en"] != "Deals" {
		t.Fatalf("topics %+v %v", topics, err)
	}
	bot := w.bot()
	w.add(bot, uuid.Nil, sub{})
	in, _ := w.add(bot, uuid.Nil, sub{subs: `{"promo": true}`})
	page, err := w.svc.Page(ctx, w.tenant, bot, uuid.Nil, "promo", uuid.Nil, 10)
	if err != nil || len(page) != 1 || page[0].ChatID != in {
		t.Fatalf("promo page %+v %v", page, err)
	}
	if _, err := w.svc.Count(ctx, w.tenant, bot, uuid.Nil, "surveys"); !errors.Is(err, audience.ErrUnknownTopic) {
		t.Fatalf("a default topic this tenant dropped: %v", err)
	}
	d, err := newWorld(t, "").svc.Topics(ctx, ids.New())
	_ = d
	if err == nil {
		t.Fatal("topics of a tenant that does not exist")
	}
}
