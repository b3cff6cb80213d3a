package exchange_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/exchange"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// sink records events per tenant; fail makes it refuse.
type sink struct {
	mu     sync.Mutex
	events map[uuid.UUID][]crm.Event
	conns  []uuid.UUID
	fail   bool
}

func (s *sink) HandleCRMEvent(_ context.Context, tenantID, connectorID uuid.UUID, e crm.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("queue down")
	}
	if s.events == nil {
		s.events = map[uuid.UUID][]crm.Event{}
	}
	s.events[tenantID] = append(s.events[tenantID], e)
	s.conns = append(s.conns, connectorID)
	return nil
}

func (s *sink) of(tenant uuid.UUID) []crm.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]crm.Event(nil), s.events[tenant]...)
}

type rig struct {
	t    *testing.T
	svc  *exchange.Service
	sink *sink
	app  *fiber.App
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, sink: &sink{}}
	r.svc = exchange.NewService(env.DB, exchange.Options{Sink: r.sink, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r.app = httpx.NewApp(httpx.Options{BodyLimit: 4 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	exchange.NewHandler(r.svc).KeyRoutes(r.app.Group("/api/v1"))
	return r
}

// tenant makes a tenant and an API key for it.
func (r *rig) tenant(name string) (uuid.UUID, string) {
	r.t.Helper()
	id := ids.New()
	if _, err := env.Owner.Exec(context.Background(), "INSERT INTO tenants (id, name) VALUES ($1, $2)", id, name); err != nil {
		r.t.Fatal(err)
	}
	_, key, err := r.svc.CreateKey(context.Background(), id, "1C production", nil, uuid.Nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return id, key
}

// call sends a request with the key (none when key is "") and decodes the
// answer into out (when non-nil); it returns the status and the raw body.
func (r *rig) call(method, path, key string, body any, out any) (int, []byte) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = bytes.NewBufferString(b)
		default:
			raw, _ := json.Marshal(b)
			rd = bytes.NewReader(raw)
		}
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := r.app.Test(req, -1)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			r.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, raw
}

type problemBody struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Errors []struct {
		Field string `json:"field"`
		Code  string `json:"code"`
	} `json:"errors"`
}

func (p problemBody) fields() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}
