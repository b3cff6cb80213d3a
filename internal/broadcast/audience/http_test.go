package audience_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
)

// The segment API: admins create, list, read, replace, delete, count and
// preview; bad filters are 422 naming the condition; another tenant's
// segment is 404; agents are refused.
func TestSegmentAPI(t *testing.T) {
	w := newWorld(t, "")
	bot := w.bot()
	w.add(bot, uuid.Nil, sub{lang: "ru", tags: []string{"vip"}})
	w.add(bot, uuid.Nil, sub{lang: "en", tags: []string{"vip"}, subs: `{"news": false}`})
	w.add(bot, uuid.Nil, sub{lang: "en"})
	o := newWorld(t, "")

	app := httpx.NewApp(httpx.Options{BodyLimit: 1 << 20})
	g := app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Tenant"))
		auth.SetPrincipal(c, &auth.Principal{TenantID: tid, UserID: uuid.New(), Role: auth.Role(c.Get("X-Role"))})
		return c.Next()
	})
	audience.NewHandler(w.svc).Routes(g)
	call := func(tenant uuid.UUID, role, method, path string, body any, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req := httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tenant", tenant.String())
		req.Header.Set("X-Role", role)
		res, err := app.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if out != nil {
			_ = json.Unmarshal(raw, out)
		}
		return res.StatusCode
	}
	vip := map[string]any{"match": "all", "conditions": []any{map[string]any{"field": "tags", "op": "has", "value": "vip"}}}
	var seg audience.Segment
	if code := call(w.tenant, "admin", "POST", "/api/v1/segments", map[string]any{"name": "VIP", "filter": vip}, &seg); code != 201 || seg.ID == uuid.Nil {
		t.Fatalf("create: %d %+v", code, seg)
	}
	var prob struct {
		Code   string             `json:"code"`
		Errors []httpx.FieldError `json:"errors"`
	}
	bad := map[string]any{"name": "", "filter": map[string]any{"match": "all", "conditions": []any{
		map[string]any{"field": "tags", "op": "has", "value": "vip"},
		map[string]any{"field": "language", "op": "between", "value": "ru"}}}}
	if code := call(w.tenant, "admin", "POST", "/api/v1/segments", bad, &prob); code != 422 || len(prob.Errors) != 2 ||
		prob.Errors[0].Field != "name" || prob.Errors[1].Field != "filter.conditions[1].op" {
		t.Fatalf("bad segment: %d %+v", code, prob)
	}
	if code := call(w.tenant, "admin", "POST", "/api/v1/segments", map[string]any{"name": "empty", "filter": map[string]any{}}, &prob); code != 422 ||
		prob.Errors[0].Field != "filter" || prob.Errors[0].Code != "empty" {
		t.Fatalf("empty segment: %d %+v", code, prob)
	}
	if code := call(w.tenant, "admin", "POST", "/api/v1/segments", map[string]any{"name": "VIP", "filter": vip}, &prob); code != 409 || prob.Code != "segment_name_taken" {
		t.Fatalf("duplicate: %d %+v", code, prob)
	}
	var sz audience.Sizes
	path := fmt.Sprintf("/api/v1/segments/%s/count?bot_id=%d", seg.ID, bot)
	if code := call(w.tenant, "admin", "GET", path, nil, &sz); code != 200 || sz.Matching != 2 || sz.Reachable != 2 {
		t.Fatalf("count: %d %+v", code, sz)
	}
	if code := call(w.tenant, "admin", "GET", path+"&topic=news", nil, &sz); code != 200 || sz.Reachable != 1 {
		t.Fatalf("count news: %d %+v", code, sz)
	}
	if code := call(w.tenant, "admin", "GET", path+"&topic=sport", nil, &prob); code != 422 || prob.Errors[0].Field != "topic" {
		t.Fatalf("count unknown topic: %d %+v", code, prob)
	}
	if code := call(w.tenant, "admin", "GET", fmt.Sprintf("/api/v1/segments/%s/count", seg.ID), nil, &prob); code != 422 || prob.Errors[0].Field != "bot_id" {
		t.Fatalf("count without bot: %d %+v", code, prob)
	}
	en := map[string]any{"field": "language", "op": "eq", "value": "en"}
	if code := call(w.tenant, "admin", "POST", "/api/v1/segments/preview", map[string]any{"bot_id": bot, "filter": en}, &sz); code != 200 || sz.Reachable != 2 {
		t.Fatalf("preview: %d %+v", code, sz)
	}
	if code := call(w.tenant, "admin", "POST", "/api/v1/segments/preview", map[string]any{"bot_id": bot,
		"filter": map[string]any{"field": "language", "op": "eq", "value": 1}}, &prob); code != 422 || prob.Errors[0].Field != "filter.value" {
		t.Fatalf("bad preview: %d %+v", code, prob)
	}
	var list struct {
		Segments []audience.Segment `json:"segments"`
	}
	if code := call(w.tenant, "admin", "GET", "/api/v1/segments", nil, &list); code != 200 || len(list.Segments) != 1 {
		t.Fatalf("list: %d %+v", code, list)
	}
	var got audience.Segment
	if code := call(w.tenant, "admin", "PUT", "/api/v1/segments/"+seg.ID.String(), map[string]any{"name": "English", "filter": en}, &got); code != 200 || got.Name != "English" {
		t.Fatalf("replace: %d %+v", code, got)
	}
	var topics struct {
		Topics []audience.Topic `json:"topics"`
	}
	if code := call(w.tenant, "admin", "GET", "/api/v1/audience/topics", nil, &topics); code != 200 || len(topics.Topics) != 3 {
		t.Fatalf("topics: %d %+v", code, topics)
	}

	// Another tenant, and an agent.
	segPath := "/api/v1/segments/" + seg.ID.String()
	for _, c := range []struct {
		method, path string
		body         any
	}{{"GET", segPath, nil}, {"PUT", segPath, map[string]any{"name": "x", "filter": en}}, {"DELETE", segPath, nil},
		{"GET", segPath + fmt.Sprintf("/count?bot_id=%d", bot), nil}} {
		if code := call(o.tenant, "admin", c.method, c.path, c.body, nil); code != 404 {
			t.Fatalf("%s %s from another tenant: %d", c.method, c.path, code)
		}
	}
	if code := call(o.tenant, "admin", "POST", "/api/v1/segments/preview", map[string]any{"bot_id": bot, "filter": en}, &prob); code != 422 || prob.Errors[0].Code != "unknown_bot" {
		t.Fatalf("preview on another tenant's bot: %d %+v", code, prob)
	}
	if code := call(w.tenant, "agent", "GET", "/api/v1/segments", nil, nil); code != 403 {
		t.Fatalf("agent: %d", code)
	}
	if code := call(w.tenant, "admin", "GET", "/api/v1/segments/not-an-id", nil, nil); code != 404 {
		t.Fatalf("malformed id: %d", code)
	}
	if code := call(w.tenant, "admin", "DELETE", segPath, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code := call(w.tenant, "admin", "GET", segPath, nil, nil); code != 404 {
		t.Fatalf("deleted: %d", code)
	}
}
