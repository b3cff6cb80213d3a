package tgsandbox

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
)

func TestEnvelopeAndRouting(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("help_bot", "Help")
	tests := []struct {
		name   string
		token  string
		method string
		code   int
		desc   string
	}{
		{name: "unknown token", token: "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", method: "getMe", code: 401, desc: "Unauthorized"},
		{name: "unknown method", token: b.Token, method: "getNothing", code: 404, desc: "Not Found"},
		{name: "method case-insensitive", token: b.Token, method: "GETME"},
		{name: "plain", token: b.Token, method: "getMe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.do("POST", "/bot"+tc.token+"/"+tc.method, "application/json", strings.NewReader("null"))
			if tc.code != 0 {
				e.fails(r, tc.code, tc.desc)
				return
			}
			var me tgUser
			e.ok(r, &me)
			if me.ID != b.ID || !me.IsBot || me.Username != "help_bot" {
				t.Fatalf("getMe = %+v", me)
			}
		})
	}
}

func TestBotIDIsTokenPrefix(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("x_bot", "X")
	if !strings.HasPrefix(b.Token, itoa(b.ID)+":") || !tokenRe.MatchString(b.Token) {
		t.Fatalf("token %q does not start with id %d or has the wrong shape", b.Token, b.ID)
	}
}

func TestParamsEncodings(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	form := url.Values{"chat_id": {itoa(u.ID)}, "text": {"via form"}}
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("chat_id", itoa(u.ID))
	_ = w.WriteField("text", "via multipart")
	_ = w.WriteField("reply_markup", `{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}`)
	_ = w.Close()
	tests := []struct {
		name     string
		ct       string
		body     string
		wantText string
	}{
		{name: "json", ct: "application/json", body: `{"chat_id":"` + itoa(u.ID) + `","text":"via json"}`, wantText: "via json"},
		{name: "form", ct: "application/x-www-form-urlencoded", body: form.Encode(), wantText: "via form"},
		{name: "multipart", ct: w.FormDataContentType(), body: mp.String(), wantText: "via multipart"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			var m tgMessage
			e.ok(e.do("POST", "/bot"+b.Token+"/sendMessage", tc.ct, strings.NewReader(tc.body)), &m)
			if m.Text != tc.wantText || m.Chat.ID != u.ID || m.From == nil || m.From.ID != b.ID {
				t.Fatalf("message = %+v", m)
			}
		})
	}
	// The query string works too (GET), as with api.telegram.org.
	var m tgMessage
	e.t = t
	e.ok(e.do("GET", "/bot"+b.Token+"/sendMessage?chat_id="+itoa(u.ID)+"&text=q", "", nil), &m)
	if m.Text != "q" {
		t.Fatalf("GET text = %q", m.Text)
	}
}

func TestSendMessagePrivate(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("help_bot", "Help")
	u := e.s.CreateUser("Alice", "alice")
	stranger := e.s.CreateUser("Bob", "")
	if _, err := e.s.SendCommand(u.ID, b.ID, "start", "ref_42"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body map[string]any
		code int
		desc string
	}{
		{name: "ok", body: map[string]any{"chat_id": u.ID, "text": "hello"}},
		{name: "chat id as string", body: map[string]any{"chat_id": itoa(u.ID), "text": "hello"}},
		{name: "never started", body: map[string]any{"chat_id": stranger.ID, "text": "hi"}, code: 403, desc: "Forbidden: bot can't initiate conversation with a user"},
		{name: "unknown chat", body: map[string]any{"chat_id": -42, "text": "hi"}, code: 400, desc: "Bad Request: chat not found"},
		{name: "empty text", body: map[string]any{"chat_id": u.ID, "text": "  "}, code: 400, desc: "Bad Request: message text is empty"},
		{name: "too long", body: map[string]any{"chat_id": u.ID, "text": strings.Repeat("я", 4097)}, code: 400, desc: "Bad Request: message is too long"},
		{name: "4096 is fine", body: map[string]any{"chat_id": u.ID, "text": strings.Repeat("я", 4096)}},
		{name: "missing chat", body: map[string]any{"text": "x"}, code: 400, desc: "Bad Request: chat_id is empty"},
		{name: "bad callback data", body: map[string]any{"chat_id": u.ID, "text": "x", "reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "a", "callback_data": strings.Repeat("x", 65)}}}}}, code: 400, desc: "Bad Request: BUTTON_DATA_INVALID"},
		{name: "bad html", body: map[string]any{"chat_id": u.ID, "text": "<b>x", "parse_mode": "HTML"}, code: 400, desc: `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.call(b.Token, "sendMessage", tc.body)
			if tc.code != 0 {
				e.fails(r, tc.code, tc.desc)
				return
			}
			var m tgMessage
			e.ok(r, &m)
			if m.MessageID == 0 || m.Chat.Type != "private" || m.Chat.ID != u.ID || m.Date == 0 {
				t.Fatalf("message = %+v", m)
			}
		})
	}
	tr := e.s.PrivateTranscript(b.ID, u.ID)
	if len(tr) != 4 || tr[0].Text != "/start ref_42" || tr[0].SenderKind != "user" || tr[1].SenderKind != "bot" || tr[1].Text != "hello" {
		t.Fatalf("transcript = %+v", tr)
	}
}

func TestHTMLParseMode(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	var m struct {
		Text     string   `json:"text"`
		Entities []entity `json:"entities"`
	}
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "parse_mode": "HTML", "text": `Hi <b>Ann</b> &amp; <a href="https://x.y">link</a>`}), &m)
	if m.Text != "Hi Ann & link" || len(m.Entities) != 2 || m.Entities[0] != (entity{Type: "bold", Offset: 3, Length: 3}) || m.Entities[1].URL != "https://x.y" {
		t.Fatalf("parsed = %+v", m)
	}
	r := e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "parse_mode": "MarkdownV2", "text": "Price: 1.5"})
	e.fails(r, 400, `Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\'`)
}

func TestUserUpdateViaGetUpdates(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	var ups []struct {
		UpdateID int64     `json:"update_id"`
		Message  tgMessage `json:"message"`
	}
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"timeout": 0}), &ups)
	if len(ups) != 1 || ups[0].Message.Text != "/start" || ups[0].Message.From.ID != u.ID {
		t.Fatalf("updates = %+v", ups)
	}
	var ents []entity
	_ = json.Unmarshal(ups[0].Message.Entities, &ents)
	if len(ents) != 1 || ents[0].Type != "bot_command" || ents[0].Length != 6 {
		t.Fatalf("entities = %+v", ents)
	}
	// Confirming with offset forgets the update.
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": ups[0].UpdateID + 1}), &ups)
	if len(ups) != 0 {
		t.Fatalf("after confirm: %+v", ups)
	}
}
