package broadcast_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tgdesk/helpdesk/internal/broadcast"
	"github.com/tgdesk/helpdesk/internal/survey"
	"github.com/tgdesk/helpdesk/internal/tgsandbox"
)

// A campaign with a survey asks it after the message; an answer shows in
// the campaign stats and completing it brings the survey's thank-you
// sticker (sent by the survey engine). A
// tracked URL button counts the click and redirects to the real URL.
func TestCampaignSurveyAndClicks(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	ps := r.people("Jo", 3)
	sv, err := r.surveys.CreateSurvey(ctx, r.tenant, survey.Def{Title: "Taste", ThanksSticker: "https://example.com/thanks.webp", Questions: []survey.Question{
		{Kind: survey.KindSingle, Prompt: "Did you like it? [q1]", Options: []string{"Yes", "No"}}}})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := r.svc.Create(ctx, r.tenant, [16]byte{}, broadcast.Def{BotID: r.bot.ID, Name: "survey", SurveyID: &sv.ID,
		Content: broadcast.Content{Text: "New menu [m8]", TrackClicks: true,
			Buttons: []broadcast.Button{{Text: "Menu", URL: "https://example.com/menu"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.SendNow(ctx, r.tenant, cp.ID); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, cp.ID, broadcast.StatusDone)
	var q tgsandbox.Entry
	eventually(t, "the survey question", func() bool {
		for _, e := range r.sb.PrivateTranscript(r.bot.ID, ps[0].user.ID) {
			if strings.Contains(e.Text, "[q1]") {
				q = e
			}
		}
		return q.MessageID != 0
	})
	if _, err := r.sb.PressButton(ps[0].user.ID, r.bot.ID, q.MessageID, buttonData(t, q, "Yes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the thank-you sticker", func() bool {
		for _, e := range r.sb.PrivateTranscript(r.bot.ID, ps[0].user.ID) {
			if e.SenderKind == "bot" && strings.Contains(string(e.Message), `"sticker"`) {
				return true
			}
		}
		return false
	})
	eventually(t, "the answer in the stats", func() bool {
		st := r.stats(t, cp.ID)
		return st.Survey != nil && st.Survey.Completed == 1 && st.Survey.Asked == 3 && st.CompletionRate != nil
	})

	// The tracked button.
	var msg tgsandbox.Entry
	for _, e := range r.sb.PrivateTranscript(r.bot.ID, ps[1].user.ID) {
		if strings.Contains(e.Text, "[m8]") {
			msg = e
		}
	}
	link := buttonData(t, msg, "Menu")
	if !strings.Contains(link, "/r/") {
		t.Fatalf("button not tracked: %s", link)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 2 {
		resp, err := noFollow.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://example.com/menu" {
			t.Fatalf("click: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if st := r.stats(t, cp.ID); st.Clicked != 1 || st.Clicks != 2 {
		t.Fatalf("clicks %+v", st)
	}
	// A forged token (another recipient's ids, a wrong signature) is 404.
	resp, err := noFollow.Get(link[:len(link)-3] + "abc")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("forged click: %d", resp.StatusCode)
	}
}
