package crm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm"
	"github.com/tgdesk/helpdesk/internal/crm/amocrm/amofake"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// sink records the events the rules would get.
type sink struct {
	mu     sync.Mutex
	events []crm.Event
	fail   error
}

func (s *sink) HandleCRMEvent(_ context.Context, _ uuid.UUID, _ uuid.UUID, e crm.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.events = append(s.events, e)
	return nil
}

func (s *sink) got() []crm.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]crm.Event(nil), s.events...)
}

// rig is the CRM service on real PostgreSQL and Redis, a worker, the
// HTTP routes in a fiber app, and a fake amoCRM account.
type rig struct {
	t   *testing.T
	svc *crm.Service
	// newService builds another service over the same database, Redis
	// and fake: another process of the cluster.
	newService func() *crm.Service
	fake       *amofake.Fake
	sink       *sink
	app        *fiber.App
	base       string
	tenant     uuid.UUID
	other      uuid.UUID
}

type rigOpts struct {
	refreshBefore time.Duration
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	log := discard()
	r := &rig{t: t, fake: amofake.New(), sink: &sink{}}
	fts := httptest.NewServer(r.fake)
	qc := queue.NewClient(env.Redis.Asynq)
	r.newService = func() *crm.Service {
		keyring, err := crypto.NewKeyring("k1", bytes.Repeat([]byte{7}, 32), nil)
		if err != nil {
			t.Fatal(err)
		}
		svc := crm.NewService(env.DB, env.Redis.Client, qc, keyring, crm.Options{
			PublicURL:     "https://desk.example",
			Backoff:       func(int) time.Duration { return 50 * time.Millisecond },
			MinRetry:      20 * time.Millisecond,
			MaxAttempts:   50,
			RefreshBefore: o.refreshBefore,
			Logger:        log,
			// The fakes listen on 127.0.0.1.
			AllowPrivateNetworks: true,
		})
		amo := amocrm.Options{BaseURL: fts.URL}
		svc.Register(crm.AmoCRM, amocrm.Factory(amo))
		svc.RegisterOAuth(crm.AmoCRM, amocrm.NewOAuth(amo))
		return svc
	}
	r.svc = r.newService()
	r.svc.SetSink(r.sink)

	srv := queue.NewServer(env.Redis.Asynq, queue.ServerOptions{Concurrency: 4,
		TaskCheckInterval: 10 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Logger: log})
	r.svc.RegisterTasks(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}

	r.app = httpx.NewApp(httpx.Options{BodyLimit: 1 << 20, Logger: log})
	h := crm.NewHandler(r.svc)
	h.PublicRoutes(r.app)
	api := r.app.Group("/api/v1", func(c *fiber.Ctx) error {
		tid, _ := uuid.Parse(c.Get("X-Tenant"))
		auth.SetPrincipal(c, &auth.Principal{TenantID: tid, UserID: uuid.New(), Role: auth.Role(c.Get("X-Role"))})
		return c.Next()
	})
	h.Routes(api)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.base = "http://" + ln.Addr().String()
	go func() { _ = r.app.Listener(ln) }()
	r.tenant, r.other = newTenant(t), newTenant(t)
	t.Cleanup(func() {
		srv.Shutdown()
		_ = r.app.Shutdown()
		fts.Close()
		_ = qc.Close()
	})
	return r
}

func newTenant(t *testing.T) uuid.UUID {
	t.Helper()
	id := ids.New()
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name) VALUES ($1, 'Courier Co')", id); err != nil {
		t.Fatal(err)
	}
	return id
}

type resp struct {
	code int
	body []byte
	hdr  http.Header
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// call makes an API request as role of tenant.
func (r *rig) call(tenant uuid.UUID, role, method, path string, body any) resp {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tenant", tenant.String())
	req.Header.Set("X-Role", role)
	return r.do(req)
}

func (r *rig) do(req *http.Request) resp {
	r.t.Helper()
	res, err := r.app.Test(req, 20_000)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{code: res.StatusCode, body: raw, hdr: res.Header}
}

// hook2 makes an unauthenticated request (the CRM's redirect) without
// following redirects.
func (r *rig) hook2(method, path string) resp {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.base+path, nil)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{code: res.StatusCode, body: raw, hdr: res.Header}
}

// hook posts a webhook body to a connector's URL (or any path) over a
// real connection, as the CRM would.
func (r *rig) hook(path, contentType string, body []byte) resp {
	r.t.Helper()
	if len(body) > 1<<20 {
		return r.hookBig(path, contentType, body)
	}
	res, err := http.Post(r.base+path, contentType, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{code: res.StatusCode, body: raw, hdr: res.Header}
}

// hookBig sends a big body over a raw connection: the headers first, then
// the upload in the background, and reads the answer. The server refuses
// by Content-Length before reading the body and closes the connection, so
// a client that reads only after uploading would see a reset instead.
func (r *rig) hookBig(path, contentType string, body []byte) resp {
	r.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: desk\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, contentType, len(body))
	go func() { _, _ = conn.Write(body) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{code: res.StatusCode, body: raw, hdr: res.Header}
}

const form = "application/x-www-form-urlencoded"

// connect creates an amoCRM connector with a long-lived token.
func (r *rig) connect(tenant uuid.UUID, mapping map[string]string) crm.Info {
	r.t.Helper()
	body := map[string]any{"kind": "amocrm", "name": "Main amoCRM",
		"credentials": map[string]string{"account": "example.amocrm.ru", "token": r.fake.IssueToken()}}
	if mapping != nil {
		body["mapping"] = map[string]any{"contact_fields": mapping}
	}
	res := r.call(tenant, "admin", "POST", "/api/v1/connectors", body)
	if res.code != 201 {
		r.t.Fatalf("create connector: %d %s", res.code, res.body)
	}
	var info crm.Info
	res.json(r.t, &info)
	return info
}

// hookPath is the webhook URL's path.
func hookPath(info crm.Info) string {
	return strings.TrimPrefix(info.WebhookURL, "https://desk.example")
}

func (r *rig) health(tenant, id uuid.UUID) crm.Health {
	r.t.Helper()
	info, err := r.svc.Get(context.Background(), tenant, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return info.Health
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
