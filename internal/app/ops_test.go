package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// The operator's view: queues, a failed task with its error (not its
// payload) retried and deleted, an unhealthy webhook across tenants, usage.
func TestOperatorQueuesTasksBotsUsage(t *testing.T) {
	p := newPlatform(t)
	op := p.operator(t)
	tm := p.newTeam(t, "Ops Watched Co")

	var qs struct {
		Queues []struct {
			Name string `json:"name"`
		} `json:"queues"`
	}
	must(t, p.call(t, "GET", "/ops/queues", op.Token, nil, &qs) == 200, "queues")
	names := map[string]bool{}
	for _, q := range qs.Queues {
		names[q.Name] = true
	}
	for _, want := range []string{"updates", "outbound", "default", "broadcast"} {
		must(t, names[want], "queue %s missing from %v", want, names)
	}

	// A task no handler knows fails at once and, with no retries, is archived.
	const secretPayload = "tenant-private-payload-1234"
	info, err := asynq.NewClient(env.Redis.Asynq).Enqueue(asynq.NewTask("nobody:handles", []byte(secretPayload)), asynq.MaxRetry(0), asynq.Queue("default"))
	if err != nil {
		t.Fatal(err)
	}
	var archived struct {
		Tasks []struct {
			ID        string `json:"id"`
			Type      string `json:"type"`
			LastError string `json:"last_error"`
		} `json:"tasks"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		archived.Tasks = nil
		body := ""
		if p.call(t, "GET", "/ops/queues/default/tasks?state=archived", op.Token, nil, &archived) == 200 && len(archived.Tasks) > 0 {
			body = toJSON(archived)
			must(t, !strings.Contains(body, secretPayload), "a task payload reached the operator: %s", body)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, len(archived.Tasks) == 1 && archived.Tasks[0].ID == info.ID && archived.Tasks[0].LastError != "", "archived tasks: %+v", archived.Tasks)
	must(t, p.call(t, "POST", "/ops/queues/default/tasks/"+info.ID+"/run", op.Token, nil, nil) == 204, "run task")
	// It fails again and is archived again; then it is deleted for good.
	deadline = time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if p.call(t, "DELETE", "/ops/queues/default/tasks/"+info.ID, op.Token, nil, nil) == 204 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, p.call(t, "DELETE", "/ops/queues/default/tasks/"+info.ID, op.Token, nil, nil) == 404, "task still there after delete")
	must(t, p.call(t, "GET", "/ops/queues/nope/tasks", op.Token, nil, nil) == 404, "unknown queue")

	// A bot whose webhook refuses deliveries shows as unhealthy.
	bot := p.newBot(t, "ops_watched_bot")
	must(t, p.call(t, "POST", "/api/v1/bots", tm.Owner.Token, map[string]string{"token": bot.Token}, nil) == 201, "register bot")
	user := p.Sandbox.CreateUser("Olga", "olga")
	if _, err := p.Sandbox.SendText(user.ID, bot.ID, "hello"); err != nil {
		t.Fatal(err)
	}
	// The healthy delivery is counted as usage.
	deadline = time.Now().Add(15 * time.Second)
	var usage struct {
		Tenants []struct {
			TenantName   string `json:"tenant_name"`
			Updates      int64  `json:"updates"`
			MessagesSent int64  `json:"messages_sent"`
		} `json:"tenants"`
	}
	found := false
	for time.Now().Before(deadline) && !found {
		must(t, p.call(t, "GET", "/ops/usage?days=1", op.Token, nil, &usage) == 200, "usage")
		for _, u := range usage.Tenants {
			if u.TenantName == "Ops Watched Co" && u.Updates >= 1 && u.MessagesSent >= 1 {
				found = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, found, "usage does not show the tenant's update and reply: %+v", usage.Tenants)

	if err := p.Sandbox.RefuseWebhook(bot.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sandbox.SendText(user.ID, bot.ID, "anyone?"); err != nil {
		t.Fatal(err)
	}
	var bots struct {
		Bots []struct {
			BotID            int64  `json:"bot_id"`
			Healthy          bool   `json:"healthy"`
			LastErrorMessage string `json:"last_error_message"`
		} `json:"bots"`
	}
	deadline = time.Now().Add(15 * time.Second)
	found = false
	for time.Now().Before(deadline) && !found {
		must(t, p.call(t, "GET", "/ops/bots?unhealthy=true", op.Token, nil, &bots) == 200, "bots")
		for _, b := range bots.Bots {
			if b.BotID == bot.ID && !b.Healthy && b.LastErrorMessage != "" {
				found = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	must(t, found, "the refusing bot is not listed as unhealthy: %+v", bots.Bots)
	must(t, p.call(t, "GET", "/ops/usage?days=0", op.Token, nil, nil) == 422, "days=0 accepted")

	// Pause really pauses, also a queue that has never held a task.
	must(t, p.call(t, "POST", "/ops/queues/default/pause", op.Token, nil, nil) == 204, "pause default")
	must(t, p.call(t, "POST", "/ops/queues/broadcast/pause", op.Token, nil, nil) == 204, "pause broadcast")
	var after struct {
		Queues []struct {
			Name   string `json:"name"`
			Paused bool   `json:"paused"`
		} `json:"queues"`
	}
	must(t, p.call(t, "GET", "/ops/queues", op.Token, nil, &after) == 200, "queues after pause")
	for _, q := range after.Queues {
		must(t, q.Paused == (q.Name == "default" || q.Name == "broadcast"), "queue %s paused=%v", q.Name, q.Paused)
	}
	must(t, p.call(t, "POST", "/ops/queues/default/resume", op.Token, nil, nil) == 204, "resume default")
	must(t, p.call(t, "POST", "/ops/queues/broadcast/resume", op.Token, nil, nil) == 204, "resume broadcast")
}
