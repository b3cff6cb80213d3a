package dispatch_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/dispatch"
)

const (
	labelPhone = "📞 Получить номер телефона клиента"
	labelTake  = "✅ Забрать заказ"
)

// The seed's whole path: a deal posted as a card, the phone in a private
// message (never in the group), one executor takes it, the chat and the
// manager are told, the CRM deal gets the executor and a note.
func TestCardPhoneTakeWriteback(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.bind()
	ctx := context.Background()
	exec := r.user("Petr")
	r.executor(exec, "crm-77")
	manager := r.sb.CreateUser("Alina", "alina")
	if _, err := r.sb.SendCommand(manager.ID, r.bot.ID, "start", ""); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.SetUserLink(ctx, r.tenant, [16]byte{}, dispatch.UserLink{TgUserID: manager.ID, CRMUserID: "crm-mgr"}); err != nil {
		t.Fatal(err)
	}
	r.deal("501", "crm-mgr")
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "501", "", spec); err != nil {
		t.Fatal(err)
	}
	card := r.groupMessage("Move a sofa 501")
	for _, want := range []string{"Two loaders", "Lenina 1", "2500", "today 18:00"} {
		if !strings.Contains(card.Text, want) {
			t.Errorf("card lacks %q:\n%s", want, card.Text)
		}
	}
	b := buttons(card)
	if b[labelPhone] == "" || b[labelTake] == "" {
		t.Fatalf("card buttons = %v", b)
	}

	q, err := r.sb.PressButton(exec.ID, r.group.ID, card.MessageID, b[labelPhone])
	if err != nil {
		t.Fatal(err)
	}
	if a := r.answer(q); a.URL != "" || a.ShowAlert {
		t.Errorf("phone answer = %+v, want a plain answer", a)
	}
	r.waitPrivate(exec.ID, "+79990001122")
	for _, e := range r.sb.Transcript(r.group.ID) {
		if strings.Contains(e.Text, "+79990001122") {
			t.Fatalf("the phone appeared in the group: %q", e.Text)
		}
	}
	reveals, err := r.svc.Reveals(ctx, r.tenant, 10)
	if err != nil || len(reveals) != 1 || reveals[0].TgUserID != exec.ID || reveals[0].Via != "dm" {
		t.Fatalf("reveals = %+v, %v", reveals, err)
	}
	var audits int
	_ = env.Owner.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'dispatch.phone_revealed'`, r.tenant).Scan(&audits)
	if audits != 1 {
		t.Errorf("audit rows for the reveal = %d, want 1", audits)
	}

	q, err = r.sb.PressButton(exec.ID, r.group.ID, card.MessageID, b[labelTake])
	if err != nil {
		t.Fatal(err)
	}
	if a := r.answer(q); a.ShowAlert {
		t.Errorf("winner got an alert: %+v", a)
	}
	r.groupMessage("взял(а) Petr")
	eventually(t, "the card shows the taker", func() bool {
		for _, e := range r.sb.Transcript(r.group.ID) {
			if e.MessageID == card.MessageID {
				return strings.Contains(e.Text, "Взял(а): Petr") && len(buttons(e)) == 0
			}
		}
		return false
	})
	r.waitPrivate(manager.ID, "Petr")
	eventually(t, "the winner is told", func() bool {
		got := r.privateGot(exec.ID)
		return contains(got, "ваш") || contains(got, "yours")
	})
	eventually(t, "the CRM write-back", func() bool { return r.job("501").Writeback == "done" })
	ups, notes := r.crm.recorded()
	if len(ups) != 1 || ups[0].ResponsibleUserID == nil || *ups[0].ResponsibleUserID != "crm-77" || ups[0].DealID != "501" {
		t.Errorf("updates = %+v", ups)
	}
	if len(notes) != 1 || !strings.Contains(notes[0].Text, "@petr") {
		t.Errorf("notes = %+v", notes)
	}
	if j := r.job("501"); j.Status != "taken" || j.TakenByTgUserID == nil || *j.TakenByTgUserID != exec.ID {
		t.Errorf("job = %+v", j)
	}
}

// 100 executors press "Take order" at once through the sandbox: exactly
// one wins, 99 get the "already taken" alert, the chat hears of one take.
func TestHundredPressesOneWinner(t *testing.T) {
	r := newRig(t, rigOpts{settings: `{"registered_only": false}`})
	r.bind()
	ctx := context.Background()
	r.deal("600", "")
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "600", "", spec); err != nil {
		t.Fatal(err)
	}
	card := r.groupMessage("Move a sofa 600")
	take := buttons(card)[labelTake]
	users := make([]int64, 100)
	for i := range users {
		users[i] = r.user("E" + string(rune('a'+i%26)) + string(rune('a'+i/26))).ID
	}
	qs := make([]string, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q, err := r.sb.PressButton(u, r.group.ID, card.MessageID, take)
			if err != nil {
				t.Error(err)
			}
			qs[i] = q
		}()
	}
	wg.Wait()
	alerts, wins := 0, 0
	for _, q := range qs {
		a := r.answer(q)
		switch {
		case a.ShowAlert && (strings.Contains(a.Text, "уже взял") || strings.Contains(a.Text, "already taken")):
			alerts++
		case !a.ShowAlert:
			wins++
		}
	}
	if wins != 1 || alerts != 99 {
		t.Fatalf("wins = %d, alerts = %d; want 1 and 99", wins, alerts)
	}
	r.groupMessage("взял(а)")
	n := 0
	for _, e := range r.sb.Transcript(r.group.ID) {
		if strings.Contains(e.Text, "✅ Заказ") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("take notices in the chat = %d, want 1", n)
	}
}

// The same race straight at the service: 100 goroutines, one winner.
func TestTakeConcurrentService(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.bind()
	ctx := context.Background()
	r.deal("601", "")
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "601", "", spec); err != nil {
		t.Fatal(err)
	}
	jobID := r.job("601").ID
	var wins sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 100 {
		wins.Add(1)
		go func() {
			defer wins.Done()
			res, err := r.svc.Take(ctx, r.tenant, jobID, dispatch.Taker{TgUserID: int64(1000 + i), Name: "E"})
			if err != nil {
				t.Error(err)
				return
			}
			if res.Won {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wins.Wait()
	if won != 1 {
		t.Fatalf("winners = %d, want 1", won)
	}
}

// An executor who blocked the bot presses "Get client phone": the answer
// is a link that starts the bot; starting it delivers the phone.
func TestBlockedExecutorGetsStartLink(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.bind()
	ctx := context.Background()
	exec := r.user("Oleg")
	r.executor(exec, "")
	if err := r.sb.BlockBot(exec.ID, r.bot.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the chat is unreachable", func() bool {
		var reachable bool
		_ = env.Owner.QueryRow(ctx, `SELECT reachable FROM bot_chats WHERE bot_id = $1 AND chat_id = $2`, r.bot.ID, exec.ID).Scan(&reachable)
		return !reachable
	})
	r.deal("700", "")
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "700", "", spec); err != nil {
		t.Fatal(err)
	}
	card := r.groupMessage("Move a sofa 700")
	q, err := r.sb.PressButton(exec.ID, r.group.ID, card.MessageID, buttons(card)[labelPhone])
	if err != nil {
		t.Fatal(err)
	}
	a := r.answer(q)
	prefix := "https://t.me/" + r.bot.Username + "?start=dph_"
	if !strings.HasPrefix(a.URL, prefix) {
		t.Fatalf("answer url = %q, want %s…", a.URL, prefix)
	}
	if contains(r.privateGot(exec.ID), "+79990001122") {
		t.Fatal("phone sent to a blocked chat")
	}
	// Following the link restarts the bot with the payload.
	if _, err := r.sb.SendCommand(exec.ID, r.bot.ID, "start", strings.TrimPrefix(a.URL, "https://t.me/"+r.bot.Username+"?start=")); err != nil {
		t.Fatal(err)
	}
	r.waitPrivate(exec.ID, "+79990001122")
	reveals, err := r.svc.Reveals(ctx, r.tenant, 10)
	if err != nil || len(reveals) != 1 || reveals[0].Via != "link" {
		t.Fatalf("reveals = %+v, %v", reveals, err)
	}
}

// An unregistered user who presses a button is sent to register; a
// pending one gets an alert; neither sees the phone.
func TestOnlyRegisteredExecutors(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.bind()
	ctx := context.Background()
	stranger := r.user("Anon")
	r.deal("710", "")
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "710", "", spec); err != nil {
		t.Fatal(err)
	}
	card := r.groupMessage("Move a sofa 710")
	q, _ := r.sb.PressButton(stranger.ID, r.group.ID, card.MessageID, buttons(card)[labelTake])
	if a := r.answer(q); !strings.Contains(a.URL, "?start=dph_") {
		t.Fatalf("stranger's answer = %+v, want a registration link", a)
	}
	// Following it registers (pending: no auto-approval) and reveals nothing.
	if _, err := r.sb.SendCommand(stranger.ID, r.bot.ID, "start", "dph_"+strings.ReplaceAll(r.job("710").ID.String(), "-", "")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pending registration notice", func() bool {
		got := r.privateGot(stranger.ID)
		return contains(got, "менеджер её подтвердит") || contains(got, "a manager will approve it")
	})
	q, _ = r.sb.PressButton(stranger.ID, r.group.ID, card.MessageID, buttons(card)[labelTake])
	if a := r.answer(q); !a.ShowAlert || !(strings.Contains(a.Text, "не подтверждена") || strings.Contains(a.Text, "not approved")) {
		t.Fatalf("pending executor's answer = %+v", a)
	}
	if j := r.job("710"); j.Status != "open" {
		t.Fatalf("job = %+v, want open", j)
	}
	if contains(r.privateGot(stranger.ID), "+79990001122") {
		t.Fatal("phone revealed to an unapproved user")
	}
}

// The CRM is down while the take is written back: the Telegram side is
// already consistent, the error and attempts are visible on the job, and
// a later retry completes it without repeating the deal update.
func TestWritebackWhileCRMDown(t *testing.T) {
	r := newRig(t, rigOpts{settings: `{"registered_only": false, "responsible_field": "f_exec", "taken_stage_id": "found"}`})
	r.bind()
	ctx := context.Background()
	r.crm.setFail(crm.ErrUnavailable)
	r.deal("800", "")
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "800", "", spec); err != nil {
		t.Fatal(err)
	}
	card := r.groupMessage("Move a sofa 800")
	exec := r.user("Ivan")
	if _, err := r.sb.PressButton(exec.ID, r.group.ID, card.MessageID, buttons(card)[labelTake]); err != nil {
		t.Fatal(err)
	}
	r.groupMessage("взял(а) Ivan")
	eventually(t, "the failure is visible", func() bool {
		j := r.job("800")
		return j.WritebackAttempts >= 1 && strings.Contains(j.WritebackError, "unavailable") && j.Writeback == "pending"
	})
	r.crm.setFail(nil)
	j := r.job("800")
	if err := r.svc.Writeback(ctx, r.tenant, j.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Writeback(ctx, r.tenant, j.ID, 1); err != nil { // a duplicate task changes nothing
		t.Fatal(err)
	}
	ups, notes := r.crm.recorded()
	if len(ups) != 1 || ups[0].Fields["f_exec"] != "Ivan @ivan" || ups[0].StageID == nil || *ups[0].StageID != "found" {
		t.Fatalf("updates = %+v", ups)
	}
	if len(notes) != 1 {
		t.Fatalf("notes = %+v", notes)
	}
	if j := r.job("800"); j.Writeback != "done" || j.WritebackError != "" {
		t.Fatalf("job = %+v", j)
	}
}

// A deal moved into the stage twice quickly (two events, two post
// actions at once) gets one card; moved back after a take it re-opens;
// deleted, its card is removed.
func TestDealMovesAndWithdrawal(t *testing.T) {
	r := newRig(t, rigOpts{settings: `{"registered_only": false}`})
	r.bind()
	ctx := context.Background()
	r.deal("900", "")
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.svc.PostJob(ctx, r.tenant, r.connector, "900", "", spec); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	card := r.groupMessage("Move a sofa 900")
	eventually(t, "the card's id is known", func() bool {
		var mid *int64
		_ = env.Owner.QueryRow(ctx, `SELECT message_id FROM dispatch_jobs WHERE tenant_id = $1 AND deal_id = '900'`, r.tenant).Scan(&mid)
		return mid != nil
	})
	n := 0
	for _, e := range r.sb.Transcript(r.group.ID) {
		if strings.Contains(e.Text, "Move a sofa 900") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("cards = %d, want 1", n)
	}
	exec := r.user("Max")
	if _, err := r.sb.PressButton(exec.ID, r.group.ID, card.MessageID, buttons(card)[labelTake]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "taken", func() bool { return r.job("900").Status == "taken" })
	// The manager moves the deal back to the search stage.
	if err := r.svc.HandleDealEvent(ctx, r.tenant, r.connector, crm.Event{Type: crm.DealStageEntered, DealID: "900", StageID: "search", PrevStageID: "found"}); err != nil {
		t.Fatal(err)
	}
	if j := r.job("900"); j.Status != "open" || j.TakenByTgUserID != nil {
		t.Fatalf("after withdrawal job = %+v", j)
	}
	eventually(t, "the card has its buttons again", func() bool {
		for _, e := range r.sb.Transcript(r.group.ID) {
			if e.MessageID == card.MessageID {
				return len(buttons(e)) == 2 && !strings.Contains(e.Text, "Взял")
			}
		}
		return false
	})
	// A stale write-back of the withdrawn take does nothing.
	if err := r.svc.Writeback(ctx, r.tenant, r.job("900").ID, 1); err != nil {
		t.Fatal(err)
	}
	deleted := func(id int64) func() bool {
		return func() bool {
			for _, e := range r.sb.Transcript(r.group.ID) {
				if e.MessageID == id {
					return e.Deleted
				}
			}
			return false
		}
	}
	// The open card's deal leaves the search stage: the card goes; the deal
	// comes back: a fresh card.
	if err := r.svc.HandleDealEvent(ctx, r.tenant, r.connector, crm.Event{Type: crm.DealStageEntered, DealID: "900", StageID: "new", PrevStageID: "search"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the card is deleted", deleted(card.MessageID))
	if j := r.job("900"); j.Status != "removed" {
		t.Fatalf("job = %+v", j)
	}
	if err := r.svc.PostJob(ctx, r.tenant, r.connector, "900", "", spec); err != nil {
		t.Fatal(err)
	}
	var fresh int64
	eventually(t, "a fresh card", func() bool {
		for _, e := range r.sb.Transcript(r.group.ID) {
			if strings.Contains(e.Text, "Move a sofa 900") && len(buttons(e)) == 2 && !e.Deleted && e.MessageID != card.MessageID {
				fresh = e.MessageID
			}
		}
		return fresh != 0 && r.job("900").Status == "open"
	})
	eventually(t, "the fresh card's id is known", func() bool {
		var mid *int64
		_ = env.Owner.QueryRow(ctx, `SELECT message_id FROM dispatch_jobs WHERE tenant_id = $1 AND deal_id = '900'`, r.tenant).Scan(&mid)
		return mid != nil && *mid == fresh
	})
	// Deleted in the CRM: the card is removed.
	if err := r.svc.HandleDealEvent(ctx, r.tenant, r.connector, crm.Event{Type: crm.DealDeleted, DealID: "900"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fresh card is deleted", deleted(fresh))
	if j := r.job("900"); j.Status != "removed" {
		t.Fatalf("job = %+v", j)
	}
}
