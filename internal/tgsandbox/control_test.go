package tgsandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

type ctlResp struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

func (e *env) ctl(action string, body any) ctlResp {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(e.ts.URL+"/sandbox/"+action, "application/json", strings.NewReader(string(raw)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r ctlResp
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		e.t.Fatalf("decode %s: %v", action, err)
	}
	return r
}

func (e *env) ctlOK(action string, body, into any) {
	e.t.Helper()
	r := e.ctl(action, body)
	if !r.OK {
		e.t.Fatalf("%s: %s", action, r.Error)
	}
	if into != nil {
		if err := json.Unmarshal(r.Result, into); err != nil {
			e.t.Fatalf("%s result: %v", action, err)
		}
	}
}

func TestControlAPIScenario(t *testing.T) {
	e := newEnv(t, nil)
	var b Bot
	e.ctlOK("createBot", map[string]any{"username": "ctl_bot", "first_name": "Ctl"}, &b)
	var u User
	e.ctlOK("createUser", map[string]any{"first_name": "Ann", "language_code": "ru"}, &u)
	var g Chat
	e.ctlOK("createForumSupergroup", map[string]any{"title": "Staff", "member_ids": []int64{u.ID}, "username": "staffdesk"}, &g)
	e.ctlOK("addBotToChat", map[string]any{"bot_id": b.ID, "chat_id": g.ID, "rights": AllRights()}, nil)
	e.ctlOK("sendCommand", map[string]any{"user_id": u.ID, "chat_id": b.ID, "command": "start", "payload": "promo"}, nil)

	var m tgMessage
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": "@staffdesk", "text": "via username"}), &m)
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "choose",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "A", "callback_data": "a"}}}}}), &m)
	var press map[string]string
	e.ctlOK("pressButton", map[string]any{"user_id": u.ID, "chat_id": b.ID, "message_id": m.MessageID, "callback_data": "a"}, &press)
	e.ok(e.call(b.Token, "answerCallbackQuery", map[string]any{"callback_query_id": press["callback_query_id"], "text": "done"}), nil)
	var ans CallbackAnswer
	e.ctlOK("callbackAnswer", map[string]any{"callback_query_id": press["callback_query_id"]}, &ans)
	if ans.Text != "done" {
		t.Fatalf("answer = %+v", ans)
	}
	var tr []Entry
	e.ctlOK("transcript", map[string]any{"bot_id": b.ID, "user_id": u.ID}, &tr)
	if len(tr) != 2 || tr[0].Text != "/start promo" {
		t.Fatalf("transcript = %+v", tr)
	}
	// GET with a query string works for reads.
	resp, err := http.Get(e.ts.URL + "/sandbox/transcript?chat_id=" + itoa(g.ID))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), "via username") {
		t.Fatalf("group transcript via GET = %s", raw)
	}
	e.ctlOK("failNext", map[string]any{"method": "getMe", "times": 1, "error_code": 500, "description": "Internal Server Error"}, nil)
	e.fails(e.call(b.Token, "getMe", nil), 500, "Internal Server Error")
	e.ctlOK("limits", map[string]any{"enabled": true, "scale": 10}, nil)
	if l := e.s.CurrentLimits(); !l.Enabled || l.Scale != 10 || l.PrivateBurst != 3 {
		t.Fatalf("limits = %+v", l)
	}
	e.ctlOK("blockBot", map[string]any{"user_id": u.ID, "bot_id": b.ID}, nil)
	e.fails(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "x"}), 403, "Forbidden: bot was blocked by the user")
	if r := e.ctl("sendText", map[string]any{"user_id": 1, "chat_id": b.ID, "text": "x"}); r.OK || !strings.Contains(r.Error, "user 1 not found") {
		t.Fatalf("unknown user = %+v", r)
	}
	if r := e.ctl("nope", nil); r.OK {
		t.Fatal("unknown action succeeded")
	}
	var st StateView
	e.ctlOK("state", nil, &st)
	if len(st.Bots) != 1 || len(st.Users) != 1 || len(st.Groups) != 1 {
		t.Fatalf("state = %+v", st)
	}
	e.ctlOK("reset", nil, nil)
	e.ctlOK("state", nil, &st)
	if len(st.Bots) != 0 {
		t.Fatalf("after reset = %+v", st)
	}
}

func TestWebPage(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/sandbox/") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("web page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// curl -d sends JSON labelled as a form; the control API must still read it.
func TestControlAcceptsCurlDefaultContentType(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Post(e.ts.URL+"/sandbox/createUser", "application/x-www-form-urlencoded", strings.NewReader(`{"first_name":"Curl"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if us := e.s.Users(); len(us) != 1 || us[0].FirstName != "Curl" {
		t.Fatalf("users = %+v", us)
	}
}
