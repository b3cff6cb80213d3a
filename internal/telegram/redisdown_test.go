package telegram_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tgdesk/helpdesk/internal/telegram"
)

// redisProc is a private redis-server this test may stop and start.
type redisProc struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func (r *redisProc) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--daemonize", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Skipf("redis-server not available: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	eventually(r.t, 10*time.Second, "redis-server up", func() bool { return c.Ping(context.Background()).Err() == nil })
}

func (r *redisProc) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Redis stops while Telegram delivers: the webhook answers 503, nothing is
// filed, Telegram (the sandbox) retries, and once Redis is back the update
// is queued and answered.
func TestRedisDownAnswers503ThenDelivers(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	rp := &redisProc{t: t, port: port}
	rp.start()
	t.Cleanup(rp.stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })

	st := newStack(t, stackOpts{rdb: rdb, asynqOpt: asynq.RedisClientOpt{Addr: addr}})
	u := st.sandbox.CreateUser("Rita", "rita")

	rp.stop()
	_, raw := textUpdate(555, "direct")
	if got := st.post(st.publicID, st.secret, raw); got != 503 {
		t.Fatalf("webhook with Redis down answered %d, want 503", got)
	}
	if _, err := st.sandbox.SendText(u.ID, st.bot.ID, "are you there?"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "Telegram to see the 503", func() bool {
		info, err := st.bots.WebhookHealth(context.Background(), st.tenant, st.bot.ID)
		return err == nil && strings.Contains(info.LastErrorMessage, "503") && info.PendingUpdateCount == 1
	})

	rp.start()
	got := st.waitBotTexts(u.ID, 1)
	if got[0] != textValues[telegram.TextGreeting] {
		t.Fatalf("reply %q", got[0])
	}
	// The refused direct post was not filed: it is Telegram's to retry.
	if n := rdb.Exists(context.Background(), fmt.Sprintf("helpdesk:tg:mb:%d:555", st.bot.ID)).Val(); n != 0 {
		t.Fatal("a refused update was filed")
	}
}
