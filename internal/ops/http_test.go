package ops

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// Task ids hold colons (asynq's periodic ids: "periodic:telegram:sweep:…");
// clients escape them and fiber leaves path parameters escaped.
func TestTaskIDIsDecoded(t *testing.T) {
	app := fiber.New()
	app.Get("/tasks/:id", func(c *fiber.Ctx) error { return c.SendString(taskID(c)) })
	for path, want := range map[string]string{
		"/tasks/periodic%3Atelegram%3Asweep%3A1795306026000": "periodic:telegram:sweep:1795306026000",
		"/tasks/periodic:telegram:sweep:1":                   "periodic:telegram:sweep:1",
		"/tasks/0190aaaa-0000-7000-8000-000000000001":        "0190aaaa-0000-7000-8000-000000000001",
	} {
		res, err := app.Test(httptest.NewRequest("GET", path, nil))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		if string(got) != want {
			t.Errorf("%s: got %q, want %q", path, got, want)
		}
	}
}
