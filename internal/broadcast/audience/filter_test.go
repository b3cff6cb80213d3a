package audience_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
)

// Every field and operator of the filter language, AND/OR and nesting,
// against real rows: each case lists who must match (reachable or not).
func TestFilterLanguage(t *testing.T) {
	w := newWorld(t, "")
	bot, other := w.bot(), w.bot()
	names := map[int64]string{}
	add := func(name string, s sub) {
		chat, contact := w.add(bot, [16]byte{}, s)
		names[chat] = name
		if name == "anna" { // anna also uses another bot, from another terminal
			w.add(other, contact, sub{starts: []string{"term_99"}})
		}
	}
	add("anna", sub{lang: "ru", phone: "+79990000001", tags: []string{"vip", "coffee"}, custom: `{"city": "Moscow", "visits": 12}`,
		firstSeen: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), lastSeen: days(1), starts: []string{"term_17", "term_18"},
		tickets: []time.Time{days(5)}})
	add("boris", sub{lang: "en", tags: []string{"coffee"}, custom: `{"city": "Kazan", "visits": 3}`,
		firstSeen: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), lastSeen: days(40), starts: []string{"term_17"},
		tickets: []time.Time{days(60)}, subs: `{"news": false}`})
	add("vera", sub{lang: "ru", firstSeen: days(2), lastSeen: days(2), starts: []string{""}, unsubscribed: true})
	add("gleb", sub{phone: "+79990000004", tags: []string{"vip"}, custom: `{"visits": "many"}`,
		firstSeen: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), lastSeen: days(10), starts: []string{"promo_x"}, unreachable: true})
	add("dina", sub{lang: "ru", tags: []string{"vip"}, erased: true, starts: []string{"term_17"}})

	cond := func(field, op, value string) string {
		if value == "" {
			return fmt.Sprintf(`{"field": %q, "op": %q}`, field, op)
		}
		return fmt.Sprintf(`{"field": %q, "op": %q, "value": %s}`, field, op, value)
	}
	custom := func(key, op, value string) string {
		c := cond("custom", op, value)
		return c[:len(c)-1] + fmt.Sprintf(`, "key": %q}`, key)
	}
	all := func(c ...string) string { return `{"match": "all", "conditions": [` + strings.Join(c, ",") + `]}` }
	anyOf := func(c ...string) string { return `{"match": "any", "conditions": [` + strings.Join(c, ",") + `]}` }
	period := func(from, to time.Time) string {
		return fmt.Sprintf(`[%q, %q]`, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}

	cases := []struct {
		name, filter string
		want         []string
	}{
		{"language eq", cond("language", "eq", `"ru"`), []string{"anna", "vera"}},
		{"language neq", cond("language", "neq", `"ru"`), []string{"boris", "gleb"}},
		{"language in", cond("language", "in", `["en", "ru"]`), []string{"anna", "boris", "vera"}},
		{"language not_in", cond("language", "not_in", `["ru"]`), []string{"boris", "gleb"}},
		{"first_seen before", cond("first_seen", "before", `"2026-03-01T00:00:00Z"`), []string{"anna", "gleb"}},
		{"first_seen after", cond("first_seen", "after", `"2026-03-01T00:00:00+03:00"`), []string{"boris", "vera"}},
		{"first_seen between", cond("first_seen", "between", period(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))), []string{"anna", "boris"}},
		{"last_seen within_days", cond("last_seen", "within_days", "7"), []string{"anna", "vera"}},
		{"last_seen not_within_days", cond("last_seen", "not_within_days", "30"), []string{"boris"}},
		{"tags has", cond("tags", "has", `"vip"`), []string{"anna", "gleb"}},
		{"tags has_any", cond("tags", "has_any", `["vip", "coffee"]`), []string{"anna", "boris", "gleb"}},
		{"tags has_all", cond("tags", "has_all", `["vip", "coffee"]`), []string{"anna"}},
		{"tags has_none", cond("tags", "has_none", `["vip"]`), []string{"boris", "vera"}},
		{"custom eq", custom("city", "eq", `"Moscow"`), []string{"anna"}},
		{"custom eq number", custom("visits", "eq", `12`), []string{"anna"}},
		{"custom neq (missing counts as different)", custom("city", "neq", `"Moscow"`), []string{"boris", "vera", "gleb"}},
		{"custom in", custom("city", "in", `["Moscow", "Kazan"]`), []string{"anna", "boris"}},
		{"custom exists", custom("visits", "exists", ""), []string{"anna", "boris", "gleb"}},
		{"custom not_exists", custom("visits", "not_exists", ""), []string{"vera"}},
		{"custom gt (strings never compare)", custom("visits", "gt", "5"), []string{"anna"}},
		{"custom gte", custom("visits", "gte", "3"), []string{"anna", "boris"}},
		{"custom lt", custom("visits", "lt", "12"), []string{"boris"}},
		{"custom lte", custom("visits", "lte", "3.0"), []string{"boris"}},
		{"custom injection is a value", custom("city", "eq", `"x' OR '1'='1"`), nil},
		{"start_payload eq", cond("start_payload", "eq", `"term_17"`), []string{"anna", "boris"}},
		{"start_payload in", cond("start_payload", "in", `["term_18", "promo_x"]`), []string{"anna", "gleb"}},
		{"start_payload prefix", cond("start_payload", "prefix", `"term_"`), []string{"anna", "boris"}},
		{"start_payload of another bot", cond("start_payload", "eq", `"term_99"`), nil},
		{"has_phone true", cond("has_phone", "is", "true"), []string{"anna", "gleb"}},
		{"has_phone false", cond("has_phone", "is", "false"), []string{"boris", "vera"}},
		{"contacted_support ever", cond("contacted_support", "ever", ""), []string{"anna", "boris"}},
		{"contacted_support never", cond("contacted_support", "never", ""), []string{"vera", "gleb"}},
		{"contacted_support within_days", cond("contacted_support", "within_days", "30"), []string{"anna"}},
		{"contacted_support not_within_days", cond("contacted_support", "not_within_days", "30"), []string{"boris", "vera", "gleb"}},
		{"contacted_support between", cond("contacted_support", "between", period(days(90), days(30))), []string{"boris"}},
		{"topic subscribed", cond("topic", "subscribed", `"news"`), []string{"anna", "gleb"}},
		{"topic not_subscribed", cond("topic", "not_subscribed", `"news"`), []string{"boris", "vera"}},
		{"topic subscribed by default", cond("topic", "subscribed", `"surveys"`), []string{"anna", "boris", "gleb"}},
		{"unsubscribed", cond("unsubscribed", "is", "true"), []string{"vera"}},
		{"reachable false", cond("reachable", "is", "false"), []string{"gleb"}},
		{"AND", all(cond("language", "eq", `"ru"`), cond("tags", "has", `"vip"`)), []string{"anna"}},
		{"OR", anyOf(cond("language", "eq", `"en"`), cond("tags", "has", `"vip"`)), []string{"anna", "boris", "gleb"}},
		{"AND of OR", all(anyOf(cond("language", "eq", `"en"`), cond("language", "eq", `""`)), cond("has_phone", "is", "false")), []string{"boris"}},
		{"OR of AND", anyOf(all(cond("language", "eq", `"ru"`), cond("has_phone", "is", "false")), all(cond("tags", "has", `"vip"`), cond("reachable", "is", "false"))), []string{"vera", "gleb"}},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := mustFilter(t, c.filter)
			if err := w.svc.Validate(ctx, w.tenant, f); err != nil {
				t.Fatalf("valid filter refused: %v", err)
			}
			chats, err := w.svc.MatchingChats(ctx, w.tenant, bot, f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range chats {
				got = append(got, names[c])
			}
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%s matched %v, want %v", c.filter, got, want)
			}
			// The live count agrees, and counts only the deliverable ones
			// (anna and boris are the only reachable, subscribed people).
			sz, err := w.svc.Preview(ctx, w.tenant, bot, f, "")
			if err != nil {
				t.Fatal(err)
			}
			deliverable := 0
			for _, n := range want {
				if n == "anna" || n == "boris" {
					deliverable++
				}
			}
			if sz.Matching != len(want) || sz.Reachable != deliverable {
				t.Fatalf("preview %+v, want matching %d, count %d", sz, len(want), deliverable)
			}
		})
	}
	var n int
	if err := env.Owner.QueryRow(ctx, "SELECT count(*) FROM contacts WHERE tenant_id = $1", w.tenant).Scan(&n); err != nil || n != 5 {
		t.Fatalf("contacts after the filters: %d %v", n, err)
	}
}

// A bad filter is refused naming the condition at fault; nothing else is
// looked at.
func TestInvalidFiltersNameTheCondition(t *testing.T) {
	w := newWorld(t, "")
	ok := `{"field": "language", "op": "eq", "value": "ru"}`
	cases := []struct {
		name, filter, field, code string
	}{
		{"empty object", `{}`, "filter", "empty"},
		{"empty group", `{"match": "all", "conditions": []}`, "filter.conditions", "empty"},
		{"no match", `{"conditions": [` + ok + `]}`, "filter.match", "required"},
		{"bad match", `{"match": "xor", "conditions": [` + ok + `]}`, "filter.match", "invalid_match"},
		{"unknown field", `{"match": "all", "conditions": [` + ok + `, {"field": "age", "op": "eq", "value": 3}]}`, "filter.conditions[1].field", "unknown_field"},
		{"missing field", `{"match": "all", "conditions": [{"op": "eq", "value": 3}]}`, "filter.conditions[0].field", "required"},
		{"unknown op", `{"match": "all", "conditions": [{"field": "tags", "op": "eq", "value": "vip"}]}`, "filter.conditions[0].op", "unknown_op"},
		{"wrong value type", `{"field": "language", "op": "eq", "value": 5}`, "filter.value", "invalid_value"},
		{"missing value", `{"field": "language", "op": "in"}`, "filter.value", "required"},
		{"injection refused", `{"field": "language", "op": "eq", "value": "ru'; DROP TABLE contacts; --"}`, "filter.value", "invalid_value"},
		{"zero days", `{"field": "last_seen", "op": "within_days", "value": 0}`, "filter.value", "invalid_value"},
		{"bad time", `{"field": "first_seen", "op": "before", "value": "yesterday"}`, "filter.value", "invalid_value"},
		{"period backwards", `{"field": "first_seen", "op": "between", "value": ["2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"]}`, "filter.value", "invalid_value"},
		{"empty list", `{"field": "tags", "op": "has_any", "value": []}`, "filter.value", "invalid_value"},
		{"bad payload", `{"field": "start_payload", "op": "eq", "value": "term 17"}`, "filter.value", "invalid_value"},
		{"custom without key", `{"field": "custom", "op": "eq", "value": "x"}`, "filter.key", "required"},
		{"custom bad key", `{"field": "custom", "key": "a b", "op": "eq", "value": "x"}`, "filter.key", "invalid_key"},
		{"key on another field", `{"field": "tags", "key": "x", "op": "has", "value": "x"}`, "filter.key", "not_allowed"},
		{"value where none is taken", `{"field": "contacted_support", "op": "ever", "value": 3}`, "filter.value", "not_allowed"},
		{"unknown topic", `{"match": "any", "conditions": [` + ok + `, {"field": "topic", "op": "subscribed", "value": "sport"}]}`, "filter.conditions[1].value", "unknown_topic"},
		{"nested", `{"match": "all", "conditions": [` + ok + `, {"match": "any", "conditions": [{"field": "has_phone", "op": "is", "value": "yes"}]}]}`, "filter.conditions[1].conditions[0].value", "invalid_value"},
		{"both group and condition", `{"match": "all", "field": "tags", "conditions": [` + ok + `]}`, "filter", "ambiguous"},
		{"too deep", `{"match": "all", "conditions": [{"match": "all", "conditions": [{"match": "all", "conditions": [{"match": "all", "conditions": [{"match": "all", "conditions": [` + ok + `]}]}]}]}]}`,
			"filter.conditions[0].conditions[0].conditions[0].conditions[0]", "too_deep"},
	}
	many := make([]string, audience.MaxConditions+1)
	for i := range many {
		many[i] = ok
	}
	cases = append(cases, struct{ name, filter, field, code string }{"too many", `{"match": "all", "conditions": [` + strings.Join(many, ",") + `]}`,
		fmt.Sprintf("filter.conditions[%d]", audience.MaxConditions), "too_many_conditions"})
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := w.svc.CreateSegment(ctx, w.tenant, [16]byte{}, audience.SegmentDef{Name: c.name, Filter: mustFilter(t, c.filter)})
			var inv *audience.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("want a field error, got %v", err)
			}
			found := false
			for _, f := range inv.Fields {
				found = found || (f.Field == c.field && f.Code == c.code)
			}
			if !found {
				t.Fatalf("errors %+v, want %s %s", inv.Fields, c.field, c.code)
			}
		})
	}
	segs, err := w.svc.ListSegments(ctx, w.tenant)
	if err != nil || len(segs) != 0 {
		t.Fatalf("invalid segments were saved: %v %v", segs, err)
	}
}
