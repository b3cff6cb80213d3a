package support_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// botMessage waits for the bot's latest message to the user containing text.
func (d *desk) botMessage(userID int64, text string) tgsandbox.Entry {
	d.t.Helper()
	var out tgsandbox.Entry
	eventually(d.t, 30*time.Second, "a bot message with "+text, func() bool {
		for _, e := range d.sb.PrivateTranscript(d.bot.ID, userID) {
			if e.SenderKind == "bot" && strings.Contains(e.Text, text) {
				out = e
			}
		}
		return out.MessageID != 0
	})
	return out
}

// CSAT after 🏁: /close asks the person for a 1–5 rating, then for an
// optional comment; each answer lands in the topic; the comment is taken
// by the survey, not relayed as a new request. Resolving from the console
// asks again for the next request; a tenant without CSAT is not asked.
func TestCSATAfterClose(t *testing.T) {
	d := newDesk(t, deskOpts{settings: `{"support": {"csat": true}}`})
	d.bindGroup()
	agent := d.agent("Olga", "olga")
	user, thread := d.openTopic("Nina", "the app crashes")
	d.say(agent.ID, thread, "Please update to 2.1")
	d.say(agent.ID, thread, "/close")
	q := d.botMessage(user.ID, "Please rate our support from 1 to 5.")
	var four string
	for label, data := range inlineButtons(q) {
		if label == "4" {
			four = data
		}
	}
	if four == "" || len(four) > 64 {
		t.Fatalf("CSAT buttons %v", inlineButtons(q))
	}
	if _, err := d.sb.PressButton(user.ID, d.bot.ID, q.MessageID, four); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "⭐ 4/5")
	d.botMessage(user.ID, "Anything to add?")
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "quick and helpful"); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "⭐ 4/5 — quick and helpful")
	d.botMessage(user.ID, "Thank you for your answers")
	var tickets, csatRuns int
	if err := env.Owner.QueryRow(context.Background(), `SELECT count(*), count(csat_run_id) FROM support_tickets WHERE tenant_id = $1`,
		d.tenant).Scan(&tickets, &csatRuns); err != nil {
		t.Fatal(err)
	}
	if tickets != 1 || csatRuns != 1 {
		t.Fatalf("%d tickets, %d with a CSAT run; want 1 and 1 (the comment is no new request)", tickets, csatRuns)
	}
	if contains(d.topicTexts(thread), "⭐ 4/5 — quick and helpful") && count(d.topicTexts(thread), "quick and helpful") != 1 {
		t.Fatalf("the comment was relayed as a message: %q", d.topicTexts(thread))
	}

	// The next request, resolved from the console, is asked too.
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "one more question"); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "one more question")
	tk := d.onlyTicket()
	if err := d.svc.SetStatus(context.Background(), d.tenant, tk.ID, "resolved"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a second CSAT question", func() bool {
		return count(d.userGot(user.ID), "Please rate our support") == 2
	})
}

func TestNoCSATWithoutTheSetting(t *testing.T) {
	d := newDesk(t, deskOpts{})
	d.bindGroup()
	agent := d.agent("Olga", "olga")
	user, thread := d.openTopic("Nina", "hello")
	d.say(agent.ID, thread, "/close")
	d.botMessage(user.ID, "resolved")
	// A question would have been queued with the resolved notice, so it
	// would reach the person before the answer to a later message.
	if _, err := d.sb.SendText(user.ID, d.bot.ID, "again"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the second received notice", func() bool { return count(d.userGot(user.ID), "received") == 2 })
	if contains(d.userGot(user.ID), "Please rate") {
		t.Fatalf("CSAT asked without the tenant's setting: %q", d.userGot(user.ID))
	}
}

func inlineButtons(e tgsandbox.Entry) map[string]string {
	var m struct {
		ReplyMarkup struct {
			InlineKeyboard [][]struct {
				Text string `json:"text"`
				Data string `json:"callback_data"`
			} `json:"inline_keyboard"`
		} `json:"reply_markup"`
	}
	_ = jsonUnmarshal(e.Message, &m)
	out := map[string]string{}
	for _, row := range m.ReplyMarkup.InlineKeyboard {
		for _, b := range row {
			out[b.Text] = b.Data
		}
	}
	return out
}

var jsonUnmarshal = json.Unmarshal

// A request resolved, reopened with /reopen (the same ticket) and resolved
// again is told and closed again (the notice and closeForumTopic are keyed
// by the resolution, not the ticket) but rated once: the person is not asked a second time, and the
// first question still takes the answer, posted once in the topic.
func TestCSATNotAskedAgainOnReResolve(t *testing.T) {
	d := newDesk(t, deskOpts{settings: `{"support": {"csat": true}}`})
	d.bindGroup()
	agent := d.agent("Olga", "olga")
	user, thread := d.openTopic("Nina", "the app crashes")
	d.say(agent.ID, thread, "Please update to 2.1")
	d.say(agent.ID, thread, "/close")
	q := d.botMessage(user.ID, "Please rate our support from 1 to 5.")
	d.say(agent.ID, thread, "/reopen")
	eventually(t, 30*time.Second, "reopened", func() bool { return d.onlyTicket().Status != "resolved" })
	d.say(agent.ID, thread, "/close")
	eventually(t, 30*time.Second, "resolved again", func() bool { return d.onlyTicket().Status == "resolved" })
	eventually(t, 30*time.Second, "the second resolved notice", func() bool { return count(d.userGot(user.ID), "resolved") >= 2 })
	eventually(t, 30*time.Second, "the topic closed again", func() bool {
		for _, tp := range d.sb.Topics(d.group.ID) {
			if tp.ID == thread {
				return tp.Closed
			}
		}
		return false
	})
	// The rating question would have been queued right after the notice.
	var five string
	for label, data := range inlineButtons(q) {
		if label == "5" {
			five = data
		}
	}
	if _, err := d.sb.PressButton(user.ID, d.bot.ID, q.MessageID, five); err != nil {
		t.Fatal(err)
	}
	d.waitTopic(thread, "⭐ 5/5")
	if n := count(d.userGot(user.ID), "Please rate our support"); n != 1 {
		t.Fatalf("the person was asked %d times for one request, want once", n)
	}
	if n := count(d.topicTexts(thread), "⭐ 5/5"); n != 1 {
		t.Fatalf("the rating was posted %d times, want once", n)
	}
}
