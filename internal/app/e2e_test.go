package app_test

import (
	"strings"
	"testing"
	"time"
)

// The foundation end to end: a tenant signs up, connects a bot by token
// through the API (getMe, setWebhook against the sandbox), a user writes to
// the bot, the webhook is queued, a worker drains it, and the greeting comes
// back through the outbox. No token appears in any log line or API answer.
func TestSignupConnectBotUserGetsGreeting(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Greeting Co")
	bot := p.newBot(t, "greet_demo_bot")

	var answers []string
	var created map[string]any
	code := p.call(t, "POST", "/api/v1/bots", tm.Admin.Token, map[string]string{"token": bot.Token}, &created)
	must(t, code == 201, "register bot: %d %v", code, created)
	answers = append(answers, toJSON(created))
	var list any
	must(t, p.call(t, "GET", "/api/v1/bots", tm.Agent.Token, nil, &list) == 200, "list bots")
	answers = append(answers, toJSON(list))
	var health any
	must(t, p.call(t, "GET", "/api/v1/bots/"+itoa(bot.ID)+"/webhook", tm.Admin.Token, nil, &health) == 200, "webhook health")
	answers = append(answers, toJSON(health))

	user := p.Sandbox.CreateUser("Anna", "anna")
	if _, err := p.Sandbox.SendCommand(user.ID, bot.ID, "start", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sandbox.SendText(user.ID, bot.ID, "hello, I need help"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var botMsgs []string
	for time.Now().Before(deadline) {
		botMsgs = botMsgs[:0]
		for _, e := range p.Sandbox.PrivateTranscript(bot.ID, user.ID) {
			if e.SenderKind == "bot" {
				botMsgs = append(botMsgs, e.Text)
			}
		}
		if len(botMsgs) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, len(botMsgs) >= 2, "bot answered %d times, want a greeting for /start and for the message: %v", len(botMsgs), botMsgs)
	want := p.App.Tenants.Text(t.Context(), mustUUID(t, tm.TenantID), "start.greeting", user.LanguageCode, map[string]string{"first_name": "Anna"})
	must(t, botMsgs[0] == want && strings.Contains(want, "Anna") && strings.Contains(want, "Greeting Co"),
		"the /start answer is %q, want the tenant's greeting %q naming the user and the company", botMsgs[0], want)

	for _, s := range append(answers, p.Logs.String()) {
		if strings.Contains(s, bot.Token) || strings.Contains(s, strings.SplitN(bot.Token, ":", 2)[1]) {
			t.Fatalf("the bot token leaked: %.300s", s)
		}
	}
}
