package tgsandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/mymmrac/telego"
	"github.com/mymmrac/telego/telegoapi"
	tu "github.com/mymmrac/telego/telegoutil"
)

// TestTelegoRoundTrip drives the sandbox with the client the platform uses.
func TestTelegoRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	b, u := e.started()
	g, _ := e.staff(b, AllRights())
	bot, err := telego.NewBot(b.Token, telego.WithAPIServer(e.ts.URL), telego.WithDiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	me, err := bot.GetMe(ctx)
	if err != nil || me.ID != b.ID || me.Username != "help_bot" {
		t.Fatalf("getMe = %+v, %v", me, err)
	}

	// Webhook with the secret header.
	var mu sync.Mutex
	var got []telego.Update
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Telegram-Bot-Api-Secret-Token") != "tg-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var up telego.Update
		_ = json.NewDecoder(r.Body).Decode(&up)
		mu.Lock()
		got = append(got, up)
		mu.Unlock()
	}))
	defer hook.Close()
	if err := bot.SetWebhook(ctx, &telego.SetWebhookParams{URL: hook.URL, SecretToken: "tg-secret", DropPendingUpdates: true}); err != nil {
		t.Fatal(err)
	}

	sent, err := bot.SendMessage(ctx, tu.Message(tu.ID(u.ID), "Pick one").WithReplyMarkup(
		tu.InlineKeyboard(tu.InlineKeyboardRow(tu.InlineKeyboardButton("Open").WithCallbackData("open")))))
	if err != nil {
		t.Fatal(err)
	}
	edited, err := bot.EditMessageText(ctx, &telego.EditMessageTextParams{ChatID: tu.ID(u.ID), MessageID: sent.MessageID, Text: "Pick one!",
		ReplyMarkup: tu.InlineKeyboard(tu.InlineKeyboardRow(tu.InlineKeyboardButton("Open").WithCallbackData("open")))})
	if err != nil || edited.Text != "Pick one!" || edited.EditDate == 0 {
		t.Fatalf("edit = %+v, %v", edited, err)
	}

	topic, err := bot.CreateForumTopic(ctx, &telego.CreateForumTopicParams{ChatID: tu.ID(g.ID), Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := e.s.SendText(u.ID, b.ID, "my order is late")
	cp, err := bot.CopyMessage(ctx, tu.CopyMessage(tu.ID(g.ID), tu.ID(u.ID), int(in.MessageID)).WithMessageThreadID(topic.MessageThreadID))
	if err != nil {
		t.Fatal(err)
	}
	var copied Entry
	for _, en := range e.s.Transcript(g.ID) {
		if en.MessageID == int64(cp.MessageID) {
			copied = en
		}
	}
	if copied.ThreadID != int64(topic.MessageThreadID) || copied.Text != "my order is late" {
		t.Fatalf("copy in topic = %+v", copied)
	}

	photo, err := bot.SendPhoto(ctx, tu.Photo(tu.ID(u.ID), tu.FileFromBytes([]byte("png?"), "a.png")).WithCaption("upload"))
	if err != nil || len(photo.Photo) == 0 || photo.Caption != "upload" {
		t.Fatalf("photo = %+v, %v", photo, err)
	}

	qid, err := e.s.PressButton(u.ID, b.ID, int64(sent.MessageID), "open")
	if err != nil {
		t.Fatal(err)
	}
	var cq *telego.CallbackQuery
	eventually(t, "callback via webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, up := range got {
			if up.CallbackQuery != nil {
				cq = up.CallbackQuery
				return true
			}
		}
		return false
	})
	if cq.ID != qid || cq.Data != "open" || cq.Message.GetMessageID() != sent.MessageID {
		t.Fatalf("callback = %+v", cq)
	}
	if err := bot.AnswerCallbackQuery(ctx, tu.CallbackQuery(cq.ID).WithText("Opened")); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.s.CallbackAnswer(qid); a.Text != "Opened" {
		t.Fatalf("answer = %+v", a)
	}

	// 429s surface as *telegoapi.Error with RetryAfter.
	_ = e.s.FailNext(Fault{Method: "sendMessage", Times: 1, Code: 429, RetryAfter: 3})
	_, err = bot.SendMessage(ctx, tu.Message(tu.ID(u.ID), "x"))
	var apiErr *telegoapi.Error
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 429 || apiErr.Parameters == nil || apiErr.Parameters.RetryAfter != 3 {
		t.Fatalf("429 error = %#v", err)
	}
	_, err = bot.SendMessage(ctx, tu.Message(tu.ID(g.ID), "x").WithMessageThreadID(999))
	if !errors.As(err, &apiErr) || apiErr.Description != "Bad Request: message thread not found" {
		t.Fatalf("thread error = %v", err)
	}
}
