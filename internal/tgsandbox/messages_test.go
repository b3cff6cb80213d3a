package tgsandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"time"
)

func TestEditCopyForwardDelete(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	var m tgMessage
	kb := map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "Yes", "callback_data": "yes"}}}}
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "v1", "reply_markup": kb}), &m)

	e.t = t
	same := e.call(b.Token, "editMessageText", map[string]any{"chat_id": u.ID, "message_id": m.MessageID, "text": "v1", "reply_markup": kb})
	e.fails(same, 400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")

	var edited tgMessage
	e.ok(e.call(b.Token, "editMessageText", map[string]any{"chat_id": u.ID, "message_id": m.MessageID, "text": "v2"}), &edited)
	if edited.Text != "v2" || edited.EditDate == 0 || edited.ReplyMarkup != nil {
		t.Fatalf("edited = %+v", edited)
	}
	userMsg, err := e.s.SendText(u.ID, b.ID, "mine")
	if err != nil {
		t.Fatal(err)
	}
	e.fails(e.call(b.Token, "editMessageText", map[string]any{"chat_id": u.ID, "message_id": userMsg.MessageID, "text": "x"}), 400, "Bad Request: message can't be edited")
	e.fails(e.call(b.Token, "editMessageText", map[string]any{"chat_id": u.ID, "message_id": 999, "text": "x"}), 400, "Bad Request: message to edit not found")

	var mk tgMessage
	e.ok(e.call(b.Token, "editMessageReplyMarkup", map[string]any{"chat_id": u.ID, "message_id": m.MessageID, "reply_markup": kb}), &mk)
	if mk.ReplyMarkup == nil {
		t.Fatal("reply markup not set")
	}

	var id tgMessageID
	e.ok(e.call(b.Token, "copyMessage", map[string]any{"chat_id": u.ID, "from_chat_id": u.ID, "message_id": userMsg.MessageID}), &id)
	var fwd tgMessage
	e.ok(e.call(b.Token, "forwardMessage", map[string]any{"chat_id": u.ID, "from_chat_id": u.ID, "message_id": userMsg.MessageID}), &fwd)
	if fwd.ForwardOrigin == nil || fwd.ForwardOrigin.Type != "user" || fwd.ForwardOrigin.SenderUser.ID != u.ID || fwd.Text != "mine" {
		t.Fatalf("forward = %+v", fwd)
	}
	var ids []tgMessageID
	e.ok(e.call(b.Token, "copyMessages", map[string]any{"chat_id": u.ID, "from_chat_id": u.ID, "message_ids": []int64{m.MessageID, userMsg.MessageID, 9999}}), &ids)
	if len(ids) != 2 {
		t.Fatalf("copyMessages = %+v", ids)
	}
	e.ok(e.call(b.Token, "deleteMessage", map[string]any{"chat_id": u.ID, "message_id": m.MessageID}), nil)
	e.fails(e.call(b.Token, "deleteMessage", map[string]any{"chat_id": u.ID, "message_id": m.MessageID}), 400, "Bad Request: message to delete not found")

	tr := e.s.PrivateTranscript(b.ID, u.ID)
	var first Entry
	for _, en := range tr {
		if en.MessageID == m.MessageID {
			first = en
		}
	}
	if !first.Deleted || len(first.Edits) != 2 || first.Edits[0].Text != "v1" || first.Text != "v2" {
		t.Fatalf("transcript entry = %+v", first)
	}
	var copied Entry
	for _, en := range tr {
		if en.MessageID == id.MessageID {
			copied = en
		}
	}
	if copied.Text != "mine" || copied.SenderKind != "bot" {
		t.Fatalf("copied = %+v", copied)
	}
}

func TestReplyParameters(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	in, _ := e.s.SendText(u.ID, b.ID, "question")
	tests := []struct {
		name string
		body map[string]any
		desc string
		want int64
	}{
		{name: "reply_parameters", body: map[string]any{"reply_parameters": map[string]any{"message_id": in.MessageID}}, want: in.MessageID},
		{name: "legacy reply_to_message_id", body: map[string]any{"reply_to_message_id": in.MessageID}, want: in.MessageID},
		{name: "missing target", body: map[string]any{"reply_parameters": map[string]any{"message_id": 555}}, desc: "Bad Request: message to be replied not found"},
		{name: "missing allowed", body: map[string]any{"reply_parameters": map[string]any{"message_id": 555, "allow_sending_without_reply": true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			tc.body["chat_id"], tc.body["text"] = u.ID, "answer"
			r := e.call(b.Token, "sendMessage", tc.body)
			if tc.desc != "" {
				e.fails(r, 400, tc.desc)
				return
			}
			var m tgMessage
			e.ok(r, &m)
			got := int64(0)
			if m.ReplyToMessage != nil {
				got = m.ReplyToMessage.MessageID
			}
			if got != tc.want {
				t.Fatalf("reply_to = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCallbackQueryRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	var m tgMessage
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "rate us",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "5", "callback_data": "rate:5"}}}}}), &m)
	if _, err := e.s.PressButton(u.ID, b.ID, m.MessageID, "nope"); err == nil {
		t.Fatal("pressing a missing button succeeded")
	}
	qid, err := e.s.PressButton(u.ID, b.ID, m.MessageID, "rate:5")
	if err != nil {
		t.Fatal(err)
	}
	var ups []struct {
		CallbackQuery tgCallbackQuery `json:"callback_query"`
	}
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": -1}), &ups)
	if len(ups) != 1 || ups[0].CallbackQuery.ID != qid || ups[0].CallbackQuery.Data != "rate:5" || ups[0].CallbackQuery.Message.MessageID != m.MessageID {
		t.Fatalf("updates = %+v", ups)
	}
	if a, _ := e.s.CallbackAnswer(qid); a.Answered {
		t.Fatal("answered before the bot answered")
	}
	e.ok(e.call(b.Token, "answerCallbackQuery", map[string]any{"callback_query_id": qid, "text": "Thanks!", "show_alert": true}), nil)
	if a, ok := e.s.CallbackAnswer(qid); !ok || a.Text != "Thanks!" || !a.ShowAlert {
		t.Fatalf("answer = %+v", a)
	}
	e.fails(e.call(b.Token, "answerCallbackQuery", map[string]any{"callback_query_id": qid}), 400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
	// A query not answered in time expires (on the injected clock).
	q2, _ := e.s.PressButton(u.ID, b.ID, m.MessageID, "rate:5")
	e.clock.Advance(time.Minute)
	e.fails(e.call(b.Token, "answerCallbackQuery", map[string]any{"callback_query_id": q2}), 400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
}

func TestBlockedAndReplyKeyboard(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	kb := map[string]any{"keyboard": [][]map[string]any{{{"text": "Share phone", "request_contact": true}}}, "resize_keyboard": true}
	var m tgMessage
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "phone?", "reply_markup": kb}), &m)
	if m.ReplyMarkup != nil {
		t.Fatal("reply keyboards are not echoed in Message.reply_markup")
	}
	if e.s.ReplyKeyboard(b.ID, u.ID) == nil {
		t.Fatal("keyboard not shown to the user")
	}
	if _, err := e.s.SendContact(u.ID, b.ID, "+15550001"); err != nil {
		t.Fatal(err)
	}
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "ok", "reply_markup": map[string]any{"remove_keyboard": true}}), nil)
	if e.s.ReplyKeyboard(b.ID, u.ID) != nil {
		t.Fatal("keyboard not removed")
	}
	if err := e.s.BlockBot(u.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	e.fails(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "hi"}), 403, "Forbidden: bot was blocked by the user")
	var ups []map[string]json.RawMessage
	e.ok(e.call(b.Token, "getUpdates", nil), &ups)
	var contact, blocked bool
	for _, up := range ups {
		if msg, ok := up["message"]; ok && bytes.Contains(msg, []byte(`"phone_number":"+15550001"`)) {
			contact = true
		}
		if mcm, ok := up["my_chat_member"]; ok && bytes.Contains(mcm, []byte(`"new_chat_member":{"status":"kicked"`)) {
			blocked = true
		}
	}
	if !contact || !blocked {
		t.Fatalf("contact=%v blocked=%v in %d updates", contact, blocked, len(ups))
	}
	if err := e.s.UnblockBot(u.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "back"}), nil)
}

func TestMediaUploadGetFileDownload(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("chat_id", itoa(u.ID))
	_ = w.WriteField("caption", "<b>report</b>")
	_ = w.WriteField("parse_mode", "HTML")
	fw, _ := w.CreateFormFile("document", "report.pdf")
	_, _ = fw.Write([]byte("%PDF-1.4 data"))
	_ = w.Close()
	var m tgMessage
	e.ok(e.do("POST", "/bot"+b.Token+"/sendDocument", w.FormDataContentType(), &body), &m)
	if m.Document == nil || m.Document.FileName != "report.pdf" || m.Caption != "report" || m.CaptionEntities == nil {
		t.Fatalf("document message = %+v", m)
	}
	var f tgFile
	e.ok(e.call(b.Token, "getFile", map[string]any{"file_id": m.Document.FileID}), &f)
	resp, err := http.Get(e.ts.URL + "/file/bot" + b.Token + "/" + f.FilePath)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(data) != "%PDF-1.4 data" {
		t.Fatalf("downloaded %q", data)
	}
	// Re-sending by file_id reuses the file.
	var again tgMessage
	e.ok(e.call(b.Token, "sendDocument", map[string]any{"chat_id": u.ID, "document": m.Document.FileID}), &again)
	if again.Document.FileID != m.Document.FileID {
		t.Fatal("file_id not reused")
	}
	e.fails(e.call(b.Token, "sendPhoto", map[string]any{"chat_id": u.ID, "photo": "nope"}), 400, "Bad Request: wrong file identifier/HTTP URL specified")

	// A user's photo arrives as a size ladder; each size can be fetched.
	if _, err := e.s.SendPhoto(u.ID, b.ID, []byte("not really a jpeg"), "look"); err != nil {
		t.Fatal(err)
	}
	var ups []struct {
		Message tgMessage `json:"message"`
	}
	e.ok(e.call(b.Token, "getUpdates", map[string]any{"offset": -1}), &ups)
	if len(ups) != 1 || len(ups[0].Message.Photo) != 3 || ups[0].Message.Caption != "look" {
		t.Fatalf("photo update = %+v", ups)
	}
}

func TestSendMediaGroupMultipart(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("chat_id", itoa(u.ID))
	_ = w.WriteField("media", `[{"type":"photo","media":"attach://a","caption":"first"},{"type":"photo","media":"attach://b"}]`)
	for _, n := range []string{"a", "b"} {
		fw, _ := w.CreateFormFile(n, n+".jpg")
		_, _ = fw.Write([]byte("img " + n))
	}
	_ = w.Close()
	var ms []tgMessage
	e.ok(e.do("POST", "/bot"+b.Token+"/sendMediaGroup", w.FormDataContentType(), &body), &ms)
	if len(ms) != 2 || ms[0].MediaGroupID == "" || ms[0].MediaGroupID != ms[1].MediaGroupID || ms[0].Caption != "first" || len(ms[1].Photo) == 0 {
		t.Fatalf("album = %+v", ms)
	}
	// By file_id as JSON.
	media := []map[string]any{{"type": "photo", "media": ms[0].Photo[len(ms[0].Photo)-1].FileID}, {"type": "photo", "media": ms[1].Photo[0].FileID}}
	e.ok(e.call(b.Token, "sendMediaGroup", map[string]any{"chat_id": u.ID, "media": media}), &ms)
	if len(ms) != 2 {
		t.Fatalf("album by id = %+v", ms)
	}
	e.fails(e.call(b.Token, "sendMediaGroup", map[string]any{"chat_id": u.ID, "media": media[:1]}), 400, "Bad Request: wrong number of media specified: must be between 2 and 10")
}

func TestCommands(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("c_bot", "C")
	cmds := []map[string]string{{"command": "start", "description": "Start"}, {"command": "help", "description": "Help"}}
	e.ok(e.call(b.Token, "setMyCommands", map[string]any{"commands": cmds}), nil)
	var got []botCommand
	e.ok(e.call(b.Token, "getMyCommands", nil), &got)
	if len(got) != 2 || got[1].Command != "help" {
		t.Fatalf("commands = %+v", got)
	}
	e.ok(e.call(b.Token, "getMyCommands", map[string]any{"language_code": "ru"}), &got)
	if len(got) != 0 {
		t.Fatalf("ru commands = %+v", got)
	}
}
