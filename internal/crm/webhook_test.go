package crm_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
)

// End to end: amoCRM's documented stage-change webhook reaches the rules
// as a typed event, once, however often it is delivered.
func TestStageChangeWebhookReachesSinkOnce(t *testing.T) {
	r := newRig(t, rigOpts{})
	info := r.connect(r.tenant, nil)
	body := amofake.Fixture("webhook_status.txt")
	res := r.hook(hookPath(info), form, body)
	if res.code != 200 || !strings.Contains(string(res.body), `"accepted":1`) {
		t.Fatalf("webhook: %d %s", res.code, res.body)
	}
	eventually(t, 10*time.Second, "the event reaches the sink", func() bool { return len(r.sink.got()) == 1 })
	e := r.sink.got()[0]
	if e.Type != crm.DealStageEntered || e.DealID != "3912171" || e.StageID != "32392159" || e.PrevStageID != "32392156" ||
		e.PipelineID != "3177727" || e.Fields["3091641"] != "Ленина, 1" {
		t.Fatalf("event %+v", e)
	}
	// amoCRM retries a delivery it thinks failed: the same event is not queued again.
	res = r.hook(hookPath(info), form, body)
	if res.code != 200 || !strings.Contains(string(res.body), `"accepted":0,"duplicates":1`) {
		t.Fatalf("duplicate: %d %s", res.code, res.body)
	}
	// Several items in one POST; one of them already seen.
	multi := string(body) + "&leads[status][1][id]=3912172&leads[status][1][status_id]=142&leads[status][1][pipeline_id]=3177727&leads[status][1][last_modified]=1590683400"
	res = r.hook(hookPath(info), form, []byte(multi))
	if res.code != 200 || !strings.Contains(string(res.body), `"accepted":1,"duplicates":1`) {
		t.Fatalf("multi: %d %s", res.code, res.body)
	}
	eventually(t, 10*time.Second, "the second deal's event", func() bool { return len(r.sink.got()) == 2 })
	if got := r.sink.got()[1]; got.DealID != "3912172" || got.StageID != "142" {
		t.Fatalf("second %+v", got)
	}
	if h := r.health(r.tenant, info.ID); h.EventsReceived != 2 {
		t.Fatalf("health %+v", h)
	}
}

// Forged, malformed and oversized deliveries are refused and change
// nothing: no event is queued or counted.
func TestBadWebhooksRefusedWithoutSideEffects(t *testing.T) {
	r := newRig(t, rigOpts{})
	info := r.connect(r.tenant, nil)
	path := hookPath(info)
	good := amofake.Fixture("webhook_status.txt")
	i := strings.LastIndexByte(path, '/')
	wrongSecret := path[:i+1] + strings.Repeat("x", len(path)-i-1)
	big := bytes.Repeat([]byte("a"), 10<<20)
	for _, tc := range []struct {
		name, path, ct string
		body           []byte
		want           int
	}{
		{"wrong secret", wrongSecret, form, good, 401},
		{"no secret", path[:i+1] + "x", form, good, 401},
		{"unknown connector", "/hooks/crm/nosuchconnector0000/" + path[i+1:], form, good, 404},
		{"JSON instead of a form", path, "application/json", []byte(`{"leads":{}}`), 400},
		{"malformed keys", path, form, []byte("leads[status][x][id]=1&account[subdomain]=example"), 400},
		{"bad id", path, form, []byte("leads[status][0][id]=-1&account[subdomain]=example"), 400},
		{"no account", path, form, []byte("leads[status][0][id]=1"), 400},
		{"another account", path, form, bytes.Replace(good, []byte("subdomain]=example"), []byte("subdomain]=intruder"), 1), 401},
		{"10 MB body", path, form, big, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := r.hook(tc.path, tc.ct, tc.body); res.code != tc.want {
				t.Fatalf("%d %s, want %d", res.code, res.body, tc.want)
			}
		})
	}
	if h := r.health(r.tenant, info.ID); h.EventsReceived != 0 {
		t.Fatalf("refused deliveries counted: %+v", h)
	}
	// The valid delivery after them is the first and only event.
	if res := r.hook(path, form, good); res.code != 200 || !strings.Contains(string(res.body), `"accepted":1`) {
		t.Fatalf("good after bad: %d %s", res.code, res.body)
	}
	eventually(t, 10*time.Second, "the good event", func() bool { return len(r.sink.got()) == 1 })
}

// A deal event the webhook carried without its stage is completed from
// the CRM; a deal the CRM does not have is ignored visibly (health), and
// the rules never see it.
func TestEventForUnknownDealIgnoredVisibly(t *testing.T) {
	r := newRig(t, rigOpts{})
	info := r.connect(r.tenant, nil)
	r.fake.AddLead(amofake.Lead{ID: 501, Name: "Known", StatusID: 32392159, PipelineID: 3177727})
	res := r.hook(hookPath(info), form, []byte("leads[add][0][id]=777&leads[add][1][id]=501&account[subdomain]=example&account[id]=1"))
	if res.code != 200 || !strings.Contains(string(res.body), `"accepted":2`) {
		t.Fatalf("webhook: %d %s", res.code, res.body)
	}
	eventually(t, 10*time.Second, "the known deal's event", func() bool { return len(r.sink.got()) == 1 })
	if e := r.sink.got()[0]; e.DealID != "501" || e.StageID != "32392159" || e.PipelineID != "3177727" {
		t.Fatalf("completed event %+v", e)
	}
	eventually(t, 10*time.Second, "the unknown deal is counted as ignored", func() bool {
		h := r.health(r.tenant, info.ID)
		return h.EventsIgnored == 1 && strings.Contains(h.LastError, `unknown deal "777"`)
	})
	// The rules refusing an event as unknown (a pipeline they do not know) is the same.
	r.sink.mu.Lock()
	r.sink.fail = crm.ErrNotFound
	r.sink.mu.Unlock()
	r.hook(hookPath(info), form, []byte("leads[status][0][id]=501&leads[status][0][status_id]=5&leads[status][0][pipeline_id]=6&account[subdomain]=example"))
	eventually(t, 10*time.Second, "the refused event is counted", func() bool { return r.health(r.tenant, info.ID).EventsIgnored == 2 })
	_ = context.Background()
}

// The webhook secret is the only authenticator of amoCRM's unsigned
// webhooks: it is shown when the connector is created and when it is
// rotated, never on a read; a rotated secret stops the old URL at once.
func TestWebhookSecretShownOnceAndRotated(t *testing.T) {
	r := newRig(t, rigOpts{})
	info := r.connect(r.tenant, nil)
	secret := info.WebhookURL[strings.LastIndexByte(info.WebhookURL, '/')+1:]
	if len(secret) < 20 {
		t.Fatalf("create shows no secret: %s", info.WebhookURL)
	}
	for _, path := range []string{"/api/v1/connectors/" + info.ID.String(), "/api/v1/connectors"} {
		res := r.call(r.tenant, "admin", "GET", path, nil)
		if res.code != 200 || strings.Contains(string(res.body), secret) || !strings.Contains(string(res.body), "/********") {
			t.Fatalf("GET %s shows the secret or no mask: %d %s", path, res.code, res.body)
		}
	}
	res := r.call(r.tenant, "admin", "POST", "/api/v1/connectors/"+info.ID.String()+"/webhook-secret", nil)
	if res.code != 201 {
		t.Fatalf("rotate: %d %s", res.code, res.body)
	}
	var rotated crm.Info
	res.json(t, &rotated)
	if rotated.WebhookURL == info.WebhookURL || strings.HasSuffix(rotated.WebhookURL, "/********") {
		t.Fatalf("rotate answered %s", rotated.WebhookURL)
	}
	body := amofake.Fixture("webhook_status.txt")
	if res := r.hook(hookPath(info), form, body); res.code == 200 {
		t.Fatalf("the old secret still works: %d %s", res.code, res.body)
	}
	if res := r.hook(hookPath(rotated), form, body); res.code != 200 {
		t.Fatalf("the new secret does not work: %d %s", res.code, res.body)
	}
	other := newTenant(t)
	if res := r.call(other, "admin", "POST", "/api/v1/connectors/"+info.ID.String()+"/webhook-secret", nil); res.code != 404 {
		t.Fatalf("another tenant rotated it: %d", res.code)
	}
	if res := r.call(r.tenant, "agent", "POST", "/api/v1/connectors/"+info.ID.String()+"/webhook-secret", nil); res.code != 403 {
		t.Fatalf("an agent rotated it: %d", res.code)
	}
}
