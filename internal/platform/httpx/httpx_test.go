package httpx

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func testApp() *fiber.App {
	app := NewApp(Options{BodyLimit: 64, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	app.Post("/echo", func(c *fiber.Ctx) error {
		var req struct {
			Name string `json:"name"`
			Age  int    `json:"age"`
		}
		if err := DecodeJSON(c, &req); err != nil {
			return err
		}
		var v Validator
		v.Check(req.Name != "", "name", "required", "is required")
		if err := v.Err(); err != nil {
			return err
		}
		return c.JSON(req)
	})
	app.Get("/panic", func(c *fiber.Ctx) error { panic("boom") })
	return app
}

func TestProblemResponses(t *testing.T) {
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		code, field                     string
	}{
		{"ok", "POST", "/echo", "application/json", `{"name":"a"}`, 200, "", ""},
		{"validation names the field", "POST", "/echo", "application/json", `{"name":""}`, 422, "validation_failed", "name"},
		{"unknown field", "POST", "/echo", "application/json", `{"nam":"a"}`, 422, "validation_failed", "nam"},
		{"wrong type", "POST", "/echo", "application/json", `{"name":"a","age":"x"}`, 422, "validation_failed", "age"},
		{"malformed", "POST", "/echo", "application/json", `{"name":`, 400, "invalid_json", ""},
		{"trailing data", "POST", "/echo", "application/json", `{"name":"a"} {}`, 400, "invalid_json", ""},
		{"not json", "POST", "/echo", "text/plain", `name=a`, 415, "unsupported_media_type", ""},
		{"no route", "GET", "/nope", "", "", 404, "route_not_found", ""},
		{"panic", "GET", "/panic", "", "", 500, "internal", ""},
	}
	app := testApp()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code == "" {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Code != tc.code || p.Status != tc.status || p.RequestID == "" || p.Type == "" {
				t.Errorf("problem %+v", p)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
				t.Errorf("errors %+v, want field %s", p.Errors, tc.field)
			}
			if strings.Contains(string(body), "goroutine") {
				t.Errorf("stack trace leaked: %s", body)
			}
		})
	}
}

// fasthttp refuses an oversized body before any handler runs; over a real
// connection the refusal is still a 413 problem.
func TestOversizedBodyIs413Problem(t *testing.T) {
	app := testApp()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.Shutdown() }()
	resp, err := http.Post("http://"+ln.Addr().String()+"/echo", "application/json",
		strings.NewReader(`{"name":"`+strings.Repeat("a", 200)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var p Problem
	_ = json.Unmarshal(body, &p)
	if resp.StatusCode != 413 || p.Code != "body_too_large" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
}
