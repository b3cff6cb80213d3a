package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// A recurring survey targeted at a saved segment (seed 004: surveys by
// micromarket) asks only the bot's subscribers in that segment; deleting the
// segment skips later periods instead of asking everyone.
func TestScheduledSurveyForASegment(t *testing.T) {
	p := newPlatform(t)
	tm := p.newTeam(t, "Vending Co")
	bot := p.newBot(t, "vending_nps_bot")
	must(t, p.call(t, "POST", "/api/v1/bots", tm.Admin.Token, map[string]string{"token": bot.Token}, nil) == 201, "register bot")
	ctx := context.Background()

	anna := p.Sandbox.CreateUser("Anna", "anna_t17")
	boris := p.Sandbox.CreateUser("Boris", "boris_t18")
	if _, err := p.Sandbox.SendCommand(anna.ID, bot.ID, "start", "term_17"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sandbox.SendCommand(boris.ID, bot.ID, "start", "term_18"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both people are subscribers", func() bool {
		var n int
		_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM bot_chats WHERE bot_id = $1`, bot.ID).Scan(&n)
		return n == 2
	})

	var seg struct {
		ID string `json:"id"`
	}
	must(t, p.call(t, "POST", "/api/v1/segments", tm.Admin.Token, map[string]any{"name": "Terminal 17",
		"filter": map[string]any{"field": "start_payload", "op": "eq", "value": "term_17"}}, &seg) == 201, "segment")
	var sv struct {
		ID string `json:"id"`
	}
	must(t, p.call(t, "POST", "/api/v1/surveys", tm.Admin.Token, map[string]any{"title": "Terminal 17 survey",
		"questions": []map[string]any{{"kind": "single", "prompt": "Was the fridge full?", "options": []string{"Yes", "No"}}}}, &sv) == 201, "survey")

	path := "/api/v1/surveys/" + sv.ID + "/schedule"
	var bad map[string]any
	code := p.call(t, "PUT", path, tm.Admin.Token, map[string]any{"bot_id": bot.ID, "segment_id": "00000000-0000-4000-8000-000000000001",
		"kind": "monthly", "day": 1, "time": "12:00"}, &bad)
	must(t, code == 422 && strings.Contains(fmt.Sprint(bad["errors"]), "segment_id") &&
		strings.Contains(fmt.Sprint(bad["errors"]), "unknown_segment"), "unknown segment: %d %v", code, bad)
	var sc map[string]any
	code = p.call(t, "PUT", path, tm.Admin.Token, map[string]any{"bot_id": bot.ID, "segment_id": seg.ID,
		"kind": "monthly", "day": 1, "time": "12:00"}, &sc)
	must(t, code == 200 && sc["segment_id"] == seg.ID && sc["targeted"] == true, "schedule: %d %v", code, sc)

	due := func() {
		if _, err := env.Owner.Exec(ctx, `UPDATE survey_schedules SET next_at = now() - interval '1 second',
			last_period = '' WHERE survey_id = $1`, sv.ID); err != nil {
			t.Fatal(err)
		}
		if err := p.App.Surveys.Scan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	due()
	asked := func() []int64 {
		rows, err := env.Owner.Query(ctx, `SELECT a.chat_id FROM survey_asks a JOIN survey_runs r ON r.id = a.run_id
			WHERE r.survey_id = $1 ORDER BY a.chat_id`, sv.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var c int64
			_ = rows.Scan(&c)
			out = append(out, c)
		}
		return out
	}
	waitFor(t, "the segment's member is asked", func() bool { return len(asked()) == 1 })
	must(t, asked()[0] == anna.ID, "asked %v, want only Anna (%d)", asked(), anna.ID)
	waitFor(t, "Anna got the question", func() bool {
		for _, e := range p.Sandbox.PrivateTranscript(bot.ID, anna.ID) {
			if e.SenderKind == "bot" && e.Text == "Was the fridge full?" {
				return true
			}
		}
		return false
	})

	// The segment deleted: a later period asks nobody (not everyone).
	must(t, p.call(t, "DELETE", "/api/v1/segments/"+seg.ID, tm.Admin.Token, nil, nil) == 204, "delete segment")
	var runs int
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM survey_runs WHERE survey_id = $1`, sv.ID).Scan(&runs)
	if _, err := env.Owner.Exec(ctx, `UPDATE survey_runs SET period = period || '-old' WHERE survey_id = $1`, sv.ID); err != nil {
		t.Fatal(err)
	}
	due()
	var after int
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM survey_runs WHERE survey_id = $1`, sv.ID).Scan(&after)
	must(t, after == runs, "a period ran without its segment: %d runs, was %d", after, runs)
	must(t, len(asked()) == 1, "asked %v after the segment was deleted", asked())
}
