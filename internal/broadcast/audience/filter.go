package audience

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Filter is one node of a segment's filter: a group (Match and
// Conditions) or a condition (Field, Op, Value; Key for custom fields).
//
//	{"match": "all", "conditions": [
//	  {"field": "language", "op": "eq", "value": "ru"},
//	  {"match": "any", "conditions": [
//	    {"field": "start_payload", "op": "in", "value": ["term_17", "term_18"]},
//	    {"field": "tags", "op": "has", "value": "vip"}]}]}
//
// docs/audience.md lists every field and operator.
type Filter struct {
	Match      string          `json:"match,omitempty"`
	Conditions []Filter        `json:"conditions,omitempty"`
	Field      string          `json:"field,omitempty"`
	Key        string          `json:"key,omitempty"`
	Op         string          `json:"op,omitempty"`
	Value      json.RawMessage `json:"value,omitempty"`
}

func (f Filter) isGroup() bool { return f.Match != "" || f.Conditions != nil }

// Limits of a filter, so one segment cannot become a query the database
// chokes on.
const (
	MaxConditions = 50
	MaxDepth      = 4
	maxListLen    = 1000
	maxDays       = 36500
)

// fieldOps is the filter language: each field and the operators it takes.
var fieldOps = map[string][]string{
	"language":          {"eq", "neq", "in", "not_in"},
	"first_seen":        {"before", "after", "between", "within_days", "not_within_days"},
	"last_seen":         {"before", "after", "between", "within_days", "not_within_days"},
	"tags":              {"has", "has_any", "has_all", "has_none"},
	"custom":            {"eq", "neq", "in", "exists", "not_exists", "gt", "gte", "lt", "lte"},
	"start_payload":     {"eq", "in", "prefix"},
	"has_phone":         {"is"},
	"contacted_support": {"ever", "never", "between", "within_days", "not_within_days"},
	"topic":             {"subscribed", "not_subscribed"},
	"unsubscribed":      {"is"},
	"reachable":         {"is"},
}

// fieldNames lists the fields in the order errors mention them.
var fieldNames = []string{"language", "first_seen", "last_seen", "tags", "custom", "start_payload", "has_phone",
	"contacted_support", "topic", "unsubscribed", "reachable"}

var (
	customKeyRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	payloadRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// "" is the language of someone whose Telegram client did not say.
	languageRe = regexp.MustCompile(`^([a-z]{2})?$`)
)

// compiler turns a filter into a SQL boolean expression over bot_chats bc
// and contacts c. Every value the user gave becomes a bind parameter
// ($n); the SQL text is assembled only from the fixed fragments below, so
// no user value is ever part of it.
type compiler struct {
	expr   string // the compiled expression
	args   []any
	now    time.Time
	topics map[string]Topic
	errs   []FieldError
	count  int
}

func (cx *compiler) arg(v any) string {
	cx.args = append(cx.args, v)
	return "$" + strconv.Itoa(len(cx.args))
}

func (cx *compiler) fail(field, code, msg string) {
	cx.errs = append(cx.errs, FieldError{Field: field, Code: code, Message: msg})
}

// node compiles f found at path; it returns "" when f is invalid (the
// reason is recorded).
func (cx *compiler) node(f Filter, path string, depth int) string {
	if f.isGroup() {
		return cx.group(f, path, depth)
	}
	if f.Field == "" && f.Op == "" && f.Value == nil {
		cx.fail(path, "empty", "a condition needs field, op and value, or a group needs match and conditions")
		return ""
	}
	cx.count++
	if cx.count == MaxConditions+1 {
		cx.fail(path, "too_many_conditions", fmt.Sprintf("a filter may have at most %d conditions", MaxConditions))
	}
	return cx.condition(f, path)
}

func (cx *compiler) group(f Filter, path string, depth int) string {
	if f.Field != "" || f.Op != "" || f.Value != nil {
		cx.fail(path, "ambiguous", "a node is either a group (match, conditions) or a condition (field, op, value), not both")
		return ""
	}
	if depth > MaxDepth {
		cx.fail(path, "too_deep", fmt.Sprintf("groups nest at most %d levels deep", MaxDepth))
		return ""
	}
	join := ""
	switch f.Match {
	case "all":
		join = " AND "
	case "any":
		join = " OR "
	case "":
		cx.fail(path+".match", "required", `must be "all" (AND) or "any" (OR)`)
	default:
		cx.fail(path+".match", "invalid_match", `must be "all" (AND) or "any" (OR)`)
	}
	if len(f.Conditions) == 0 {
		cx.fail(path+".conditions", "empty", "a group needs at least one condition")
		return ""
	}
	parts := make([]string, 0, len(f.Conditions))
	for i, c := range f.Conditions {
		if s := cx.node(c, fmt.Sprintf("%s.conditions[%d]", path, i), depth+1); s != "" {
			parts = append(parts, s)
		}
	}
	if join == "" || len(parts) != len(f.Conditions) {
		return ""
	}
	return "(" + strings.Join(parts, join) + ")"
}

func (cx *compiler) condition(f Filter, path string) string {
	ops, ok := fieldOps[f.Field]
	if !ok {
		if f.Field == "" {
			cx.fail(path+".field", "required", "names the attribute; one of "+strings.Join(fieldNames, ", "))
		} else {
			cx.fail(path+".field", "unknown_field", fmt.Sprintf("%q is not a field; one of %s", f.Field, strings.Join(fieldNames, ", ")))
		}
		return ""
	}
	if !contains(ops, f.Op) {
		code := "unknown_op"
		if f.Op == "" {
			code = "required"
		}
		cx.fail(path+".op", code, fmt.Sprintf("%s takes one of %s", f.Field, strings.Join(ops, ", ")))
		return ""
	}
	if f.Key != "" && f.Field != "custom" {
		cx.fail(path+".key", "not_allowed", "only custom conditions take a key")
		return ""
	}
	v := valueReader{cx: cx, path: path + ".value", raw: f.Value}
	switch f.Field {
	case "language":
		return cx.language(f.Op, &v)
	case "first_seen":
		return cx.when("bc.first_seen_at", f.Op, &v)
	case "last_seen":
		return cx.when("bc.last_seen_at", f.Op, &v)
	case "tags":
		return cx.tags(f.Op, &v)
	case "custom":
		return cx.custom(f, path, &v)
	case "start_payload":
		return cx.startPayload(f.Op, &v)
	case "has_phone":
		if b, ok := v.boolean(); ok {
			if b {
				return "c.phone <> ''"
			}
			return "c.phone = ''"
		}
	case "contacted_support":
		return cx.support(f.Op, &v)
	case "topic":
		return cx.topic(f.Op, &v)
	case "unsubscribed":
		if b, ok := v.boolean(); ok {
			return "bc.unsubscribed = " + cx.arg(b)
		}
	case "reachable":
		if b, ok := v.boolean(); ok {
			return "bc.reachable = " + cx.arg(b)
		}
	}
	return ""
}

func (cx *compiler) language(op string, v *valueReader) string {
	switch op {
	case "eq", "neq":
		s, ok := v.strEmpty(languageRe, `a two-letter language code such as ru ("" for unknown)`)
		if !ok {
			return ""
		}
		if op == "eq" {
			return "c.language = " + cx.arg(s)
		}
		return "c.language <> " + cx.arg(s)
	default:
		l, ok := v.strsEmpty(languageRe, `a list of two-letter language codes ("" for unknown)`)
		if !ok {
			return ""
		}
		if op == "in" {
			return "c.language = ANY(" + cx.arg(l) + "::text[])"
		}
		return "NOT (c.language = ANY(" + cx.arg(l) + "::text[]))"
	}
}

// when compiles a time condition on col. within_days N means "in the last
// N days" at the moment the query runs.
func (cx *compiler) when(col, op string, v *valueReader) string {
	switch op {
	case "before", "after":
		t, ok := v.time()
		if !ok {
			return ""
		}
		if op == "before" {
			return col + " < " + cx.arg(t)
		}
		return col + " >= " + cx.arg(t)
	case "between":
		from, to, ok := v.period()
		if !ok {
			return ""
		}
		return "(" + col + " >= " + cx.arg(from) + " AND " + col + " < " + cx.arg(to) + ")"
	default:
		n, ok := v.days()
		if !ok {
			return ""
		}
		since := cx.now.Add(-time.Duration(n) * 24 * time.Hour)
		if op == "within_days" {
			return col + " >= " + cx.arg(since)
		}
		return col + " < " + cx.arg(since)
	}
}

func (cx *compiler) tags(op string, v *valueReader) string {
	if op == "has" {
		s, ok := v.str(nil, "a tag")
		if !ok {
			return ""
		}
		return "c.tags @> ARRAY[" + cx.arg(s) + "::text]"
	}
	l, ok := v.strs(nil, "a list of tags")
	if !ok {
		return ""
	}
	switch op {
	case "has_any":
		return "c.tags && " + cx.arg(l) + "::text[]"
	case "has_all":
		return "c.tags @> " + cx.arg(l) + "::text[]"
	default:
		return "NOT (c.tags && " + cx.arg(l) + "::text[])"
	}
}

// custom compares contacts.custom[key] as text (eq, neq, in) or as a
// number (gt…lte; a value that is not a JSON number never matches).
func (cx *compiler) custom(f Filter, path string, v *valueReader) string {
	if !customKeyRe.MatchString(f.Key) {
		code := "invalid_key"
		if f.Key == "" {
			code = "required"
		}
		cx.fail(path+".key", code, "the custom field's name: 1–64 of A–Z a–z 0–9 _ . -")
		return ""
	}
	key := cx.arg(f.Key)
	switch f.Op {
	case "exists", "not_exists":
		if !v.none() {
			return ""
		}
		if f.Op == "exists" {
			return "(c.custom -> " + key + "::text) IS NOT NULL"
		}
		return "(c.custom -> " + key + "::text) IS NULL"
	case "eq", "neq":
		s, ok := v.scalar()
		if !ok {
			return ""
		}
		if f.Op == "eq" {
			return "(c.custom ->> " + key + "::text) = " + cx.arg(s)
		}
		return "(c.custom ->> " + key + "::text) IS DISTINCT FROM " + cx.arg(s)
	case "in":
		l, ok := v.scalars()
		if !ok {
			return ""
		}
		return "(c.custom ->> " + key + "::text) = ANY(" + cx.arg(l) + "::text[])"
	default:
		n, ok := v.number()
		if !ok {
			return ""
		}
		cmp := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.Op]
		return "COALESCE(CASE WHEN jsonb_typeof(c.custom -> " + key + "::text) = 'number' THEN (c.custom -> " + key +
			"::text)::numeric " + cmp + " " + cx.arg(n) + "::numeric END, false)"
	}
}

// startPayload matches anyone who ever opened this bot with a deep link
// (/start payload) — a terminal's QR code, say. Start events are written
// by the update processor (internal/telegram, event "started"); their
// payload is the generated column events.start_payload (migration 00022).
func (cx *compiler) startPayload(op string, v *valueReader) string {
	const probe = "EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = bc.tenant_id AND e.bot_id = bc.bot_id" +
		" AND e.contact_id = bc.contact_id AND e.start_payload IS NOT NULL AND "
	switch op {
	case "eq":
		s, ok := v.str(payloadRe, "a start payload: 1–64 of A–Z a–z 0–9 _ -")
		if !ok {
			return ""
		}
		return probe + "e.start_payload = " + cx.arg(s) + ")"
	case "in":
		l, ok := v.strs(payloadRe, "a list of start payloads (1–64 of A–Z a–z 0–9 _ -)")
		if !ok {
			return ""
		}
		return probe + "e.start_payload = ANY(" + cx.arg(l) + "::text[]))"
	default:
		s, ok := v.str(payloadRe, "a payload prefix: 1–64 of A–Z a–z 0–9 _ -")
		if !ok {
			return ""
		}
		// A range rather than LIKE or starts_with: text comparison is
		// LEAKPROOF, so the index serves it under row-level security. The
		// column's collation is "C", where the payload alphabet sorts below "~".
		return probe + "e.start_payload >= " + cx.arg(s) + " AND e.start_payload < " + cx.arg(s+"~") + ")"
	}
}

// support matches people by the support requests (tickets) they opened,
// with any bot of the tenant.
func (cx *compiler) support(op string, v *valueReader) string {
	const probe = "EXISTS (SELECT 1 FROM support_tickets t WHERE t.tenant_id = bc.tenant_id AND t.contact_id = bc.contact_id"
	switch op {
	case "ever", "never":
		if !v.none() {
			return ""
		}
		if op == "ever" {
			return probe + ")"
		}
		return "NOT " + probe + ")"
	case "between":
		from, to, ok := v.period()
		if !ok {
			return ""
		}
		return probe + " AND t.opened_at >= " + cx.arg(from) + " AND t.opened_at < " + cx.arg(to) + ")"
	default:
		n, ok := v.days()
		if !ok {
			return ""
		}
		since := cx.arg(cx.now.Add(-time.Duration(n) * 24 * time.Hour))
		if op == "within_days" {
			return probe + " AND t.opened_at >= " + since + ")"
		}
		return "NOT " + probe + " AND t.opened_at >= " + since + ")"
	}
}

func (cx *compiler) topic(op string, v *valueReader) string {
	key, ok := v.str(nil, "a subscription topic")
	if !ok {
		return ""
	}
	t, known := cx.topics[key]
	if !known {
		cx.fail(v.path, "unknown_topic", fmt.Sprintf("%q is not one of this tenant's topics (%s)", key, strings.Join(topicKeys(cx.topics), ", ")))
		return ""
	}
	expr := "(NOT bc.unsubscribed AND " + topicSwitch(cx.arg(t.Key), cx.arg(t.Default)) + ")"
	if op == "subscribed" {
		return expr
	}
	return "NOT " + expr
}

// topicSwitch is a chat's switch of a topic: on, off, or (never touched)
// the topic's default. Mailings of the topic also need NOT bc.unsubscribed.
func topicSwitch(key, def string) string {
	return "COALESCE((bc.subscriptions -> " + key + "::text) = 'true'::jsonb, " + def + "::boolean)"
}

// valueReader decodes a condition's value, recording what is wrong with it.
type valueReader struct {
	cx   *compiler
	path string
	raw  json.RawMessage
}

func (v *valueReader) bad(code, msg string) { v.cx.fail(v.path, code, msg) }

func (v *valueReader) missing() bool {
	return len(v.raw) == 0 || string(bytes.TrimSpace(v.raw)) == "null"
}

func (v *valueReader) none() bool {
	if !v.missing() {
		v.bad("not_allowed", "this operator takes no value")
		return false
	}
	return true
}

func (v *valueReader) decode(out any, what string) bool {
	if v.missing() {
		v.bad("required", "must be "+what)
		return false
	}
	if err := json.Unmarshal(v.raw, out); err != nil {
		v.bad("invalid_value", "must be "+what)
		return false
	}
	return true
}

func (v *valueReader) str(re *regexp.Regexp, what string) (string, bool) {
	s, ok := v.strEmpty(re, what)
	if ok && s == "" {
		v.bad("invalid_value", "must be "+what)
		return "", false
	}
	return s, ok
}

// strEmpty is str that takes "" when re does.
func (v *valueReader) strEmpty(re *regexp.Regexp, what string) (string, bool) {
	var s string
	if !v.decode(&s, what) {
		return "", false
	}
	if len(s) > 200 || (re != nil && !re.MatchString(s)) {
		v.bad("invalid_value", "must be "+what)
		return "", false
	}
	return s, true
}

func (v *valueReader) strs(re *regexp.Regexp, what string) ([]string, bool) {
	l, ok := v.strsEmpty(re, what)
	if ok && slices.Contains(l, "") {
		v.bad("invalid_value", "must be "+what+`; "" is not`)
		return nil, false
	}
	return l, ok
}

// strsEmpty is strs that takes "" items when re does.
func (v *valueReader) strsEmpty(re *regexp.Regexp, what string) ([]string, bool) {
	var l []string
	if !v.decode(&l, what) {
		return nil, false
	}
	if len(l) == 0 || len(l) > maxListLen {
		v.bad("invalid_value", fmt.Sprintf("must be %s (1–%d items)", what, maxListLen))
		return nil, false
	}
	for _, s := range l {
		if len(s) > 200 || (re != nil && !re.MatchString(s)) {
			v.bad("invalid_value", fmt.Sprintf("must be %s; %q is not", what, s))
			return nil, false
		}
	}
	return l, true
}

func (v *valueReader) boolean() (bool, bool) {
	var b bool
	return b, v.decode(&b, "true or false")
}

func (v *valueReader) days() (int, bool) {
	var n int
	if !v.decode(&n, fmt.Sprintf("a whole number of days, 1–%d", maxDays)) {
		return 0, false
	}
	if n < 1 || n > maxDays {
		v.bad("invalid_value", fmt.Sprintf("must be a whole number of days, 1–%d", maxDays))
		return 0, false
	}
	return n, true
}

func (v *valueReader) time() (time.Time, bool) {
	var s string
	if !v.decode(&s, "a time in RFC 3339 (2026-05-01T00:00:00+03:00)") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		v.bad("invalid_value", "must be a time in RFC 3339 (2026-05-01T00:00:00+03:00)")
		return time.Time{}, false
	}
	return t, true
}

func (v *valueReader) period() (time.Time, time.Time, bool) {
	var l []string
	const what = "[from, to]: two times in RFC 3339, from before to"
	if !v.decode(&l, what) {
		return time.Time{}, time.Time{}, false
	}
	if len(l) != 2 {
		v.bad("invalid_value", "must be "+what)
		return time.Time{}, time.Time{}, false
	}
	from, err1 := time.Parse(time.RFC3339, l[0])
	to, err2 := time.Parse(time.RFC3339, l[1])
	if err1 != nil || err2 != nil || !from.Before(to) {
		v.bad("invalid_value", "must be "+what)
		return time.Time{}, time.Time{}, false
	}
	return from, to, true
}

// scalar is a string, number or boolean as PostgreSQL's ->> renders it.
func (v *valueReader) scalar() (string, bool) {
	const what = "a string, number or boolean"
	var x any
	if !v.decode(&x, what) {
		return "", false
	}
	s, ok := scalarText(x, v.raw)
	if !ok {
		v.bad("invalid_value", "must be "+what)
	}
	return s, ok
}

func (v *valueReader) scalars() ([]string, bool) {
	const what = "a list of strings, numbers or booleans"
	var l []json.RawMessage
	if !v.decode(&l, what) {
		return nil, false
	}
	if len(l) == 0 || len(l) > maxListLen {
		v.bad("invalid_value", fmt.Sprintf("must be %s (1–%d items)", what, maxListLen))
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, raw := range l {
		var x any
		_ = json.Unmarshal(raw, &x)
		s, ok := scalarText(x, raw)
		if !ok {
			v.bad("invalid_value", "must be "+what)
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func scalarText(x any, raw json.RawMessage) (string, bool) {
	switch t := x.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		return string(bytes.TrimSpace(raw)), true
	}
	return "", false
}

func (v *valueReader) number() (float64, bool) {
	var n float64
	return n, v.decode(&n, "a number")
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
