package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tgdesk/helpdesk/internal/automation"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
	"github.com/tgdesk/helpdesk/internal/dispatch"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// Seed 002 through the whole platform, public surfaces only: an admin
// registers a bot, connects amoCRM, binds the executors' chat, approves
// two executors (each linked to an amoCRM user), links the manager, and
// creates the rule "deal entered stage → dispatch.post". amoCRM then
// delivers its stage-change webhook twice. One job card appears in the
// chat; "Get client phone" sends the phone to the executor's private chat
// (never to the group); "Take order" pressed by two executors at once has
// one winner: the lead's responsible user and stage change in amoCRM and
// a note is added, the card shows the taker, the chat and the manager are
// told, and the other executor gets an "already taken" alert and nothing
// else.
func TestAmoCRMStageChangeToTakenOrder(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Masters Co")
	admin := tm.Admin.Token
	bot := p.newBot(t, "masters_dispatch_bot")
	must(t, p.call(t, "POST", "/api/v1/bots", admin, map[string]string{"token": bot.Token}, nil) == 201, "register bot")
	tenantID := mustUUID(t, tm.TenantID)
	groupText := func(key string, vars map[string]string) string {
		return p.App.Tenants.Text(t.Context(), tenantID, key, "", vars)
	}

	// 1. amoCRM, connected with a long-lived token.
	var info crm.Info
	code := p.call(t, "POST", "/api/v1/connectors", admin, map[string]any{"kind": "amocrm", "name": "amoCRM",
		"credentials": map[string]string{"account": "example.amocrm.ru", "token": p.AmoCRM.IssueToken()}}, &info)
	must(t, code == 201 && strings.HasPrefix(info.WebhookURL, "http"), "create connector: %d %q", code, info.WebhookURL)

	// 2. The executors' chat: a supergroup with the bot as an admin,
	// bound with a one-time code sent by the group's owner.
	boss := p.Sandbox.CreateUser("Boss", "boss")
	group := p.Sandbox.CreateSupergroup("Executors", boss.ID)
	if err := p.Sandbox.AddBotToChat(bot.ID, group.ID, tgsandbox.AllRights()); err != nil {
		t.Fatal(err)
	}
	var bind dispatch.BindCode
	must(t, p.call(t, "POST", "/api/v1/dispatch/bind-code", admin, nil, &bind) == 201, "bind code")
	must(t, strings.HasPrefix(bind.Command, "/bind disp-"), "bind command %q", bind.Command)
	if _, err := p.Sandbox.SendText(boss.ID, group.ID, bind.Command); err != nil {
		t.Fatal(err)
	}
	bindOK := groupText("dispatch.bind_ok", nil)
	waitFor(t, "the bot confirms the executors' chat", func() bool {
		return len(botEntries(p.Sandbox.Transcript(group.ID), func(e tgsandbox.Entry) bool { return e.Text == bindOK })) == 1
	})

	// 3. People: two executors register in private (/start dreg), join
	// the chat and are approved with their amoCRM users; the manager
	// starts the bot and is linked to the lead's responsible user.
	petr := p.Sandbox.CreateUser("Petr", "petr")
	ivan := p.Sandbox.CreateUser("Ivan", "ivan")
	execCRM := map[int64]string{petr.ID: "504142", ivan.ID: "504143"}
	for _, u := range []tgsandbox.User{petr, ivan} {
		if _, err := p.Sandbox.SendCommand(u.ID, bot.ID, "start", "dreg"); err != nil {
			t.Fatal(err)
		}
		if err := p.Sandbox.AddUserToChat(u.ID, group.ID); err != nil {
			t.Fatal(err)
		}
	}
	executors := map[int64]dispatch.Executor{}
	waitFor(t, "both executors are registered", func() bool {
		var list struct{ Executors []dispatch.Executor }
		if p.call(t, "GET", "/api/v1/dispatch/executors", admin, nil, &list) != 200 {
			return false
		}
		for _, e := range list.Executors {
			executors[e.TgUserID] = e
		}
		return len(executors) == 2
	})
	for tg, crmUser := range execCRM {
		e := executors[tg]
		must(t, e.Status == "pending", "a new executor is pending: %+v", e)
		var got dispatch.Executor
		code := p.call(t, "PATCH", "/api/v1/dispatch/executors/"+e.ID.String(), admin,
			map[string]any{"status": "approved", "crm_user_id": crmUser}, &got)
		must(t, code == 200 && got.Status == "approved" && got.CRMUserID == crmUser, "approve %d: %d %+v", tg, code, got)
	}
	alina := p.Sandbox.CreateUser("Alina", "alina")
	if _, err := p.Sandbox.SendCommand(alina.ID, bot.ID, "start", ""); err != nil {
		t.Fatal(err)
	}
	must(t, p.call(t, "PUT", "/api/v1/dispatch/user-links", admin,
		map[string]any{"tg_user_id": alina.ID, "crm_user_id": "504141", "name": "Alina"}, nil) == 204, "link the manager")
	var links struct{ Links []dispatch.UserLink }
	must(t, p.call(t, "GET", "/api/v1/dispatch/user-links", admin, nil, &links) == 200 && len(links.Links) == 3, "links %+v", links)
	// The bot greets her once her /start is processed: her private chat exists.
	waitFor(t, "the manager is greeted", func() bool {
		return len(botEntries(p.Sandbox.PrivateTranscript(bot.ID, alina.ID), func(tgsandbox.Entry) bool { return true })) == 1
	})

	// 4. The rule: the fixture's pipeline and stage post a job card;
	// card fields and the client's phone come from lead custom fields.
	var rule automation.Rule
	code = p.call(t, "POST", "/api/v1/rules", admin, map[string]any{
		"name":    "Search for executor",
		"trigger": map[string]any{"type": "deal.stage_entered", "pipeline_id": "3177727", "stage_id": "32392159"},
		"actions": []any{map[string]any{"type": "dispatch.post", "params": map[string]any{
			"taken_stage_id": "142",
			"fields":         map[string]string{"terms": "3091645", "address": "3091641", "client_name": "3091646", "client_phone": "3091647"},
		}}},
	}, &rule)
	must(t, code == 201 && rule.Enabled, "create rule: %d %+v", code, rule)

	// 5. The lead the webhook names, then the webhook, delivered twice.
	const phone = "+79001234567"
	p.AmoCRM.AddLead(amofake.Lead{ID: 3912171, Name: "Kitchen assembly", Price: 7000, StatusID: 32392159, PipelineID: 3177727,
		ResponsibleUserID: 504141, Fields: map[int64][]any{3091641: {"Ленина, 1"}, 3091645: {"IKEA kitchen, 4 h"},
			3091646: {"Olga"}, 3091647: {phone}}})
	for i, wantDup := range []int{0, 1} {
		res, err := http.Post(info.WebhookURL, "application/x-www-form-urlencoded", bytes.NewReader(amofake.Fixture("webhook_status.txt")))
		if err != nil {
			t.Fatal(err)
		}
		var ack struct{ Accepted, Duplicates int }
		_ = json.NewDecoder(res.Body).Decode(&ack)
		res.Body.Close()
		must(t, res.StatusCode == 200 && ack.Duplicates == wantDup && ack.Accepted == 1-wantDup,
			"delivery %d: %d %+v", i+1, res.StatusCode, ack)
	}

	// 6. One card in the chat, with both buttons; the rule ran once.
	isCard := func(e tgsandbox.Entry) bool {
		return strings.Contains(e.Text, "Kitchen assembly") && strings.Contains(e.Text, "IKEA kitchen, 4 h")
	}
	var card tgsandbox.Entry
	waitFor(t, "the job card in the executors' chat", func() bool {
		cards := botEntries(p.Sandbox.Transcript(group.ID), isCard)
		if len(cards) > 0 {
			card = cards[0]
		}
		return len(cards) > 0
	})
	must(t, strings.Contains(card.Text, "7000") && strings.Contains(card.Text, "Ленина, 1") && !strings.Contains(card.Text, "9001234567"),
		"card text %q", card.Text)
	var phoneData, takeData string
	for _, data := range inlineButtons(card) {
		switch {
		case strings.HasPrefix(data, "dsp:p:"):
			phoneData = data
		case strings.HasPrefix(data, "dsp:t:"):
			takeData = data
		}
	}
	must(t, phoneData != "" && takeData != "", "card buttons %v", inlineButtons(card))
	waitFor(t, "the rule's run settles", func() bool {
		var runs struct{ Runs []automation.Run }
		p.call(t, "GET", "/api/v1/rules/"+rule.ID.String()+"/runs", admin, nil, &runs)
		return len(runs.Runs) == 1 && runs.Runs[0].Outcome != "pending"
	})
	var runs struct{ Runs []automation.Run }
	p.call(t, "GET", "/api/v1/rules/"+rule.ID.String()+"/runs", admin, nil, &runs)
	must(t, len(runs.Runs) == 1 && runs.Runs[0].Outcome == "ok", "runs %+v", runs.Runs)
	must(t, len(botEntries(p.Sandbox.Transcript(group.ID), isCard)) == 1, "cards in the chat: want 1 (the duplicate webhook posted again)")

	// Get client phone: the phone goes to Petr's private chat only, and
	// the reveal is logged.
	q, err := p.Sandbox.PressButton(petr.ID, group.ID, card.MessageID, phoneData)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the phone in Petr's private chat", func() bool {
		return len(botEntries(p.Sandbox.PrivateTranscript(bot.ID, petr.ID), func(e tgsandbox.Entry) bool {
			return strings.Contains(e.Text, phone) && strings.Contains(e.Text, "Olga")
		})) == 1
	})
	waitFor(t, "the phone button is answered", func() bool { a, _ := p.Sandbox.CallbackAnswer(q); return a.Answered })
	for _, e := range p.Sandbox.Transcript(group.ID) {
		for _, v := range append([]tgsandbox.Entry{e}, e.Edits...) {
			must(t, !strings.Contains(v.Text+v.Caption, "9001234567"), "the phone is in the group: %q", v.Text)
		}
	}
	var reveals struct{ Reveals []dispatch.Reveal }
	must(t, p.call(t, "GET", "/api/v1/dispatch/reveals", admin, nil, &reveals) == 200 && len(reveals.Reveals) == 1 &&
		reveals.Reveals[0].TgUserID == petr.ID && reveals.Reveals[0].Via == "dm" && reveals.Reveals[0].DealID == "3912171",
		"reveals %+v", reveals.Reveals)

	// Take order: Petr and Ivan press on the same card before either
	// press reaches the platform (Telegram holds the updates while the
	// webhook refuses), so both buttons are still there. The platform
	// handles a chat's updates in update_id order: Petr, first, wins.
	ivanBefore := len(p.Sandbox.PrivateTranscript(bot.ID, ivan.ID))
	if err := p.Sandbox.RefuseWebhook(bot.ID, true); err != nil {
		t.Fatal(err)
	}
	qPetr, err := p.Sandbox.PressButton(petr.ID, group.ID, card.MessageID, takeData)
	if err != nil {
		t.Fatal(err)
	}
	qIvan, err := p.Sandbox.PressButton(ivan.ID, group.ID, card.MessageID, takeData)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sandbox.RefuseWebhook(bot.ID, false); err != nil {
		t.Fatal(err)
	}

	// amoCRM: Petr's user is responsible, the lead moved on, one note.
	waitFor(t, "the lead is updated and noted in amoCRM", func() bool {
		l, _ := p.AmoCRM.Lead(3912171)
		return l.ResponsibleUserID == 504142 && l.StatusID == 142 && len(p.AmoCRM.Notes()) == 1
	})
	note := p.AmoCRM.Notes()[0]
	must(t, note.LeadID == 3912171 && strings.Contains(note.Text, "Petr") && strings.Contains(note.Text, "@petr"), "note %+v", note)
	// The manager is told in private, in her language; Petr too.
	waitFor(t, "the manager's private notice", func() bool {
		return len(botEntries(p.Sandbox.PrivateTranscript(bot.ID, alina.ID), func(e tgsandbox.Entry) bool {
			return strings.Contains(e.Text, "Kitchen assembly")
		})) == 1
	})
	for _, e := range botEntries(p.Sandbox.PrivateTranscript(bot.ID, alina.ID), func(e tgsandbox.Entry) bool {
		return strings.Contains(e.Text, "Kitchen assembly")
	}) {
		must(t, alina.LanguageCode != "en" || strings.Contains(e.Text, "took the order"), "the manager's notice is not in her language (%s): %q", alina.LanguageCode, e.Text)
	}
	waitFor(t, "Petr's private notice", func() bool {
		return len(botEntries(p.Sandbox.PrivateTranscript(bot.ID, petr.ID), func(e tgsandbox.Entry) bool {
			return strings.Contains(e.Text, "Kitchen assembly") && !strings.Contains(e.Text, phone)
		})) == 1
	})
	// The card shows the taker and has no buttons; the chat is told once.
	taker := "Petr (@petr)"
	waitFor(t, "the card shows who took it", func() bool {
		for _, e := range p.Sandbox.Transcript(group.ID) {
			if e.MessageID == card.MessageID {
				return strings.Contains(e.Text, taker) && len(inlineButtons(e)) == 0
			}
		}
		return false
	})
	chatNotice := groupText("dispatch.taken_chat", map[string]string{"title": "Kitchen assembly", "executor": taker, "deal_id": "3912171"})
	waitFor(t, "the chat notice", func() bool {
		return len(botEntries(p.Sandbox.Transcript(group.ID), func(e tgsandbox.Entry) bool { return e.Text == chatNotice })) == 1
	})

	// One winner: both presses are answered, Petr's as the winner, Ivan's
	// with an alert; Ivan gets nothing else.
	var petrAns, ivanAns tgsandbox.CallbackAnswer
	waitFor(t, "both take presses are answered", func() bool {
		petrAns, _ = p.Sandbox.CallbackAnswer(qPetr)
		ivanAns, _ = p.Sandbox.CallbackAnswer(qIvan)
		return petrAns.Answered && ivanAns.Answered
	})
	must(t, !petrAns.ShowAlert && strings.Contains(petrAns.Text, "Kitchen assembly"), "Petr's answer %+v", petrAns)
	must(t, ivanAns.ShowAlert && strings.Contains(ivanAns.Text, "Kitchen assembly") && ivanAns.Text != petrAns.Text, "Ivan's answer %+v", ivanAns)
	var jobs struct{ Jobs []dispatch.Job }
	waitFor(t, "the write-back is done", func() bool {
		jobs.Jobs = nil
		p.call(t, "GET", "/api/v1/dispatch/jobs", admin, nil, &jobs)
		return len(jobs.Jobs) == 1 && jobs.Jobs[0].Writeback == "done"
	})
	j := jobs.Jobs[0]
	must(t, j.Status == "taken" && j.TakenByTgUserID != nil && *j.TakenByTgUserID == petr.ID && j.DealID == "3912171" &&
		j.ConnectorID == info.ID && j.ChatID == group.ID, "job %+v", j)
	must(t, len(p.Sandbox.PrivateTranscript(bot.ID, ivan.ID)) == ivanBefore, "Ivan got private messages after losing")
	must(t, len(botEntries(p.Sandbox.Transcript(group.ID), func(e tgsandbox.Entry) bool { return e.Text == chatNotice })) == 1 &&
		len(botEntries(p.Sandbox.Transcript(group.ID), isCard)) == 1, "the chat got a second card or notice")
	l, _ := p.AmoCRM.Lead(3912171)
	must(t, l.ResponsibleUserID == 504142 && len(p.AmoCRM.Notes()) == 1, "amoCRM after Ivan's press: %+v, notes %+v", l, p.AmoCRM.Notes())
	patches := 0
	for _, c := range p.AmoCRM.Calls() {
		if c.Method == http.MethodPatch && strings.HasPrefix(c.Path, "/api/v4/leads") {
			patches++
		}
	}
	must(t, patches == 1, "lead PATCH calls = %d, want 1", patches)
}

// botEntries are the bot's live messages in a transcript that match.
func botEntries(tr []tgsandbox.Entry, match func(tgsandbox.Entry) bool) []tgsandbox.Entry {
	var out []tgsandbox.Entry
	for _, e := range tr {
		if e.SenderKind == "bot" && !e.Deleted && match(e) {
			out = append(out, e)
		}
	}
	return out
}

// inlineButtons maps a message's inline button labels to their callback data.
func inlineButtons(e tgsandbox.Entry) map[string]string {
	var m struct {
		ReplyMarkup struct {
			InlineKeyboard [][]struct {
				Text string `json:"text"`
				Data string `json:"callback_data"`
			} `json:"inline_keyboard"`
		} `json:"reply_markup"`
	}
	_ = json.Unmarshal(e.Message, &m)
	out := map[string]string{}
	for _, row := range m.ReplyMarkup.InlineKeyboard {
		for _, b := range row {
			out[b.Text] = b.Data
		}
	}
	return out
}
