package exchange_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/tgdesk/helpdesk/internal/auth"
	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/crm/exchange"
	"github.com/tgdesk/helpdesk/internal/crm/httpjson/fake1c"
	"github.com/tgdesk/helpdesk/internal/platform/httpx"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

const docPath = "../../../docs/connectors/http-json.md"

type block struct {
	lang, text string
	line       int
}

// fenced returns the doc's fenced code blocks in order.
func fenced(t *testing.T) []block {
	t.Helper()
	f, err := os.Open(docPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	var cur *block
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n}
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s: block at line %d is not closed", docPath, cur.line)
	}
	return out
}

var expectRe = regexp.MustCompile(`(?m)^# expect: (\d{3})$`)

// Every JSON block of the contract parses, and every shell example runs
// with curl: part 1 against the fake 1C, parts 2 and 3 against the
// exchange routes on a real socket. Their effects are then checked.
func TestDocExamplesRun(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	r := newRig(t)
	ctx := context.Background()
	tenant := ids.New()
	if _, err := env.Owner.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ($1, 'Doc Clinic')", tenant); err != nil {
		t.Fatal(err)
	}
	published := []uuid.UUID{
		publish(t, tenant, exchange.EventFeedbackCreated, map[string]any{"category": "Machine broken", "terminal_id": "T-17", "text": "No change"}),
		publish(t, tenant, exchange.EventCallbackRequested, map[string]any{"client_id": "C-1001", "phone": "+79161234567"}),
	}

	// The app as internal/app assembles it: key routes, then sessions,
	// then the admin routes. The session here is a stand-in.
	app := httpx.NewApp(httpx.Options{BodyLimit: 4 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	api := app.Group("/api/v1")
	h := exchange.NewHandler(r.svc)
	h.KeyRoutes(api)
	api.Use(func(c *fiber.Ctx) error {
		if c.Get("Authorization") == "Bearer doc-admin-session" {
			auth.SetPrincipal(c, &auth.Principal{UserID: ids.New(), TenantID: tenant, Role: auth.RoleAdmin})
		}
		return c.Next()
	})
	h.Routes(api)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer app.Shutdown()
	one := fake1c.New()
	defer one.Close()

	vars := map[string]string{
		"TENANT_URL":   one.BaseURL(),
		"TENANT_TOKEN": fake1c.Token,
		"API":          "http://" + ln.Addr().String() + "/api/v1",
		"ACCESS_TOKEN": "doc-admin-session",
	}
	dir := t.TempDir()
	ran := 0
	for _, b := range fenced(t) {
		switch b.lang {
		case "json":
			var v any
			if err := json.Unmarshal([]byte(b.text), &v); err != nil {
				t.Errorf("%s:%d: JSON block does not parse: %v", docPath, b.line, err)
			}
			continue
		case "sh":
		default:
			t.Errorf("%s:%d: block of unknown language %q", docPath, b.line, b.lang)
			continue
		}
		want := 0
		if m := expectRe.FindStringSubmatch(b.text); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		bodyFile, codeFile := filepath.Join(dir, "body"), filepath.Join(dir, "code")
		_ = os.Remove(bodyFile)
		script := `curl() { command curl -o "$BODY_FILE" -w '%{http_code}' "$@" > "$CODE_FILE"; }` + "\nset -e\n" + b.text
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(os.Environ(), "BODY_FILE="+bodyFile, "CODE_FILE="+codeFile)
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s:%d: %v\n%s\n%s", docPath, b.line, err, b.text, out)
		}
		rawCode, _ := os.ReadFile(codeFile)
		body, _ := os.ReadFile(bodyFile)
		code, _ := strconv.Atoi(string(rawCode))
		if want != 0 && code != want || want == 0 && (code < 200 || code > 299) {
			t.Fatalf("%s:%d: HTTP %d (want %v): %s", docPath, b.line, code, map[bool]any{true: want, false: "2xx"}[want != 0], body)
		}
		ran++
		if len(body) == 0 {
			continue
		}
		var ans map[string]any
		if err := json.Unmarshal(body, &ans); err != nil {
			t.Fatalf("%s:%d: answer is not JSON: %s", docPath, b.line, body)
		}
		if k, ok := ans["key"].(string); ok {
			vars["EXCHANGE_KEY"] = k
		}
		if c, ok := ans["next_cursor"].(string); ok {
			vars["CURSOR"] = c
			if evs, _ := ans["events"].([]any); len(evs) > 0 {
				vars["EVENT_ID"] = evs[0].(map[string]any)["id"].(string)
			}
		}
	}
	if ran < 15 {
		t.Fatalf("only %d shell examples ran", ran)
	}

	// What the examples did.
	if d, _ := one.Deal("D-77"); d.StageID != "booked" || d.ResponsibleUserID != "u-2" {
		t.Errorf("1C deal after the PATCH example: %+v", d)
	}
	if k, _ := one.Client("C-1001"); len(k.Phones) != 2 || k.Phones[1] != "+79031112233" || k.Fields["visit_rating"] != float64(5) {
		t.Errorf("1C client after the PATCH example: %+v", k)
	}
	if n := one.Notes("D-77"); len(n) != 1 {
		t.Errorf("1C notes: %v", n)
	}
	evs := r.sink.of(tenant)
	if len(evs) != 2 || evs[0].Type != crm.ContactChanged || evs[1].Type != crm.DealStageEntered || evs[1].StageID != "booked" {
		t.Errorf("events handed to the CRM service: %+v", evs)
	}
	if b, err := r.svc.Balance(ctx, tenant, "C-1001"); err != nil || b.Bonus != 320 {
		t.Errorf("balance: %+v %v", b, err)
	}
	if ts, _ := r.svc.Terminals(ctx, tenant); len(ts) != 2 {
		t.Errorf("terminals: %+v", ts)
	}
	page, err := r.svc.Pull(ctx, tenant, exchange.Cursor{}, 10)
	if err != nil || len(page.Events) != 0 {
		t.Errorf("events left unacknowledged after the examples: %+v %v (published %v)", page, err, published)
	}
}
