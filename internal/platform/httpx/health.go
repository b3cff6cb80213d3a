package httpx

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Checker reports whether a dependency is usable.
type Checker func(ctx context.Context) error

// Health mounts /healthz (the process is up) and /readyz (every dependency
// answers within two seconds).
func Health(app *fiber.App, checks map[string]Checker) {
	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		result := fiber.Map{}
		ready := true
		for name, check := range checks {
			if err := check(ctx); err != nil {
				result[name] = "down"
				ready = false
				continue
			}
			result[name] = "ok"
		}
		status := fiber.StatusOK
		if !ready {
			status = fiber.StatusServiceUnavailable
		}
		return c.Status(status).JSON(fiber.Map{"ready": ready, "checks": result})
	})
}
