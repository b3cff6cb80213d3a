package tgsandbox

import (
	"testing"
	"time"
)

func TestFailNext(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	if err := e.s.FailNext(Fault{Method: "SendMessage", Times: 2, Code: 429, RetryAfter: 7}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "x"})
		e.fails(r, 429, "Too Many Requests: retry after 7")
		if r.Parameters.RetryAfter != 7 {
			t.Fatalf("retry_after = %d", r.Parameters.RetryAfter)
		}
	}
	e.ok(e.call(b.Token, "sendMessage", map[string]any{"chat_id": u.ID, "text": "x"}), nil)
	other := e.s.CreateBot("other_bot", "O")
	_ = e.s.FailNext(Fault{BotID: other.ID, Method: "getMe", Times: 1, Code: 502, Description: "Bad Gateway"})
	e.ok(e.call(b.Token, "getMe", nil), nil)
	e.fails(e.call(other.Token, "getMe", nil), 502, "Bad Gateway")
}

func TestLatencyFault(t *testing.T) {
	e := newEnv(t, nil)
	b := e.s.CreateBot("slow_bot", "Slow")
	e.s.SetLatency(0, "getMe", 50*time.Millisecond)
	start := time.Now()
	e.ok(e.call(b.Token, "getMe", nil), nil)
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("latency not applied")
	}
	// A long latency that must no longer apply once cleared.
	e.s.SetLatency(b.ID, "getMe", 30*time.Second)
	e.s.ClearFaults()
	start = time.Now()
	e.ok(e.call(b.Token, "getMe", nil), nil)
	if time.Since(start) >= 10*time.Second {
		t.Fatal("latency not cleared")
	}
}

func TestWebhookDropAndRefuse(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	h := newHook(t)
	if err := e.s.DropWebhookDeliveries(b.ID, 1); err != nil {
		t.Fatal(err)
	}
	e.ok(e.call(b.Token, "setWebhook", map[string]any{"url": h.srv.URL}), nil)
	_, _ = e.s.SendText(u.ID, b.ID, "second")
	eventually(t, "one delivery", func() bool { return h.count() == 1 })
	ups, _ := h.snapshot()
	if got := updateText(t, ups[0]); got != "second" {
		t.Fatalf("delivered %q; the dropped /start should be lost", got)
	}
	if err := e.s.RefuseWebhook(b.ID, true); err != nil {
		t.Fatal(err)
	}
	_, _ = e.s.SendText(u.ID, b.ID, "third")
	var info tgWebhookInfo
	eventually(t, "refused", func() bool {
		e.ok(e.call(b.Token, "getWebhookInfo", nil), &info)
		return info.LastErrorMessage == "Connection refused" && info.PendingUpdateCount == 1
	})
	if h.count() != 1 {
		t.Fatal("delivered while refusing")
	}
	_ = e.s.RefuseWebhook(b.ID, false)
	eventually(t, "delivered after refusal ends", func() bool { return h.count() == 2 })
}

func TestUpdatesExpire(t *testing.T) {
	e := newEnv(t, nil)
	b, u := e.started()
	_, _ = e.s.SendText(u.ID, b.ID, "old")
	e.clock.Advance(25 * time.Hour)
	_, _ = e.s.SendText(u.ID, b.ID, "new")
	var info tgWebhookInfo
	e.ok(e.call(b.Token, "getWebhookInfo", nil), &info)
	if info.PendingUpdateCount != 1 {
		t.Fatalf("pending = %d, want only the fresh update", info.PendingUpdateCount)
	}
}

func TestResetForgetsEverything(t *testing.T) {
	e := newEnv(t, nil)
	b, _ := e.started()
	e.s.Reset()
	e.fails(e.call(b.Token, "getMe", nil), 401, "Unauthorized")
	if len(e.s.Users()) != 0 || len(e.s.Bots()) != 0 {
		t.Fatal("state survived Reset")
	}
}
