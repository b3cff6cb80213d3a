package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Options configure the app.
type Options struct {
	BodyLimit int
	Logger    *slog.Logger
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client; with none, the peer address is the client.
	TrustedProxies []string
	// WriteTimeout bounds writing one response (default 60 s); streamed
	// bodies slide it (StreamBody).
	WriteTimeout time.Duration
}

const localRequestID = "request_id"

// NewApp builds the fiber app with the shared middleware: request id,
// recover, access log and problem-JSON errors.
func NewApp(o Options) *fiber.App {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 60 * time.Second
	}
	app := fiber.New(fiber.Config{
		BodyLimit:             o.BodyLimit,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          o.WriteTimeout,
		IdleTimeout:           120 * time.Second,
		ErrorHandler:          errorHandler(o.Logger),
		// The handler copies what it keeps: fasthttp reuses buffers.
		Immutable:               false,
		EnableTrustedProxyCheck: len(o.TrustedProxies) > 0,
		TrustedProxies:          o.TrustedProxies,
		ProxyHeader:             proxyHeader(o.TrustedProxies),
	})
	// The access log sits outside the recoverer so panics are logged as 500s.
	app.Use(requestID, accessLog(o.Logger), recoverer(o.Logger))
	return app
}

func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}

// RequestID returns the request's id.
func RequestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

func requestID(c *fiber.Ctx) error {
	id := c.Get("X-Request-Id")
	if id == "" || len(id) > 64 || strings.ContainsAny(id, " \r\n\t") {
		id = ids.Token(12)
	}
	c.Locals(localRequestID, id)
	c.Set("X-Request-Id", id)
	return c.Next()
}

func recoverer(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in handler", "request_id", RequestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = NewProblem(http.StatusInternalServerError, "internal", "Something went wrong on our side.")
			}
		}()
		return c.Next()
	}
}

// LogAttrs lets handlers add fields (tenant_id, user_id, bot_id) to the
// request's access log line.
func LogAttrs(c *fiber.Ctx, attrs ...slog.Attr) {
	prev, _ := c.Locals("log_attrs").([]slog.Attr)
	c.Locals("log_attrs", append(prev, attrs...))
}

// accessLog writes one line per request. It logs the route path, never the
// query string or body, which may hold tokens.
func accessLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let the error handler write the response now, so the
			// status logged is the one sent.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
			err = nil
		}
		attrs := []slog.Attr{
			slog.String("request_id", RequestID(c)),
			slog.String("method", c.Method()),
			slog.String("route", c.Route().Path),
			slog.Int("status", c.Response().StatusCode()),
			slog.Duration("latency", time.Since(start)),
		}
		if extra, ok := c.Locals("log_attrs").([]slog.Attr); ok {
			attrs = append(attrs, extra...)
		}
		level := slog.LevelInfo
		if c.Response().StatusCode() >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(c.UserContext(), level, "http request", attrs...)
		return err
	}
}

func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		p, ok := AsProblem(err)
		if !ok {
			var fe *fiber.Error
			switch {
			case errors.As(err, &fe):
				p = fiberProblem(fe)
			case errors.Is(err, context.DeadlineExceeded):
				p = Unavailable("timeout", "The request took too long; please retry.")
			default:
				log.Error("unhandled error", "request_id", RequestID(c), "route", c.Route().Path, "error", err)
				p = NewProblem(http.StatusInternalServerError, "internal", "Something went wrong on our side.")
			}
		}
		out := *p
		out.RequestID = RequestID(c)
		out.Instance = c.Path()
		if out.RetryAfter > 0 {
			c.Set("Retry-After", fmt.Sprint(out.RetryAfter))
		}
		body, _ := json.Marshal(out)
		c.Set(fiber.HeaderContentType, "application/problem+json")
		return c.Status(out.Status).Send(body)
	}
}

func fiberProblem(fe *fiber.Error) *Problem {
	switch fe.Code {
	case http.StatusNotFound:
		return NewProblem(fe.Code, "route_not_found", "No such endpoint.")
	case http.StatusMethodNotAllowed:
		return NewProblem(fe.Code, "method_not_allowed", "This endpoint does not accept that method.")
	case http.StatusRequestEntityTooLarge:
		return NewProblem(fe.Code, "body_too_large", "The request body is larger than this endpoint accepts.")
	case http.StatusBadRequest:
		return NewProblem(fe.Code, "bad_request", fe.Message)
	case http.StatusUnsupportedMediaType:
		return NewProblem(fe.Code, "unsupported_media_type", fe.Message)
	default:
		return NewProblem(fe.Code, strings.ReplaceAll(strings.ToLower(http.StatusText(fe.Code)), " ", "_"), fe.Message)
	}
}

// DecodeJSON strictly decodes a JSON body into v: the content type must be
// JSON, unknown fields and trailing data are refused.
func DecodeJSON(c *fiber.Ctx, v any) error {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	if !strings.HasPrefix(ct, "application/json") {
		return NewProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
	}
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return Invalid(FieldError{Field: ute.Field, Code: "wrong_type", Message: "must be " + ute.Type.String()})
		}
		if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return Invalid(FieldError{Field: strings.Trim(msg, `"`), Code: "unknown_field", Message: "is not a field of this request"})
		}
		return BadRequest("invalid_json", "The body is not valid JSON for this endpoint: "+err.Error())
	}
	if dec.More() {
		return BadRequest("invalid_json", "The body has data after the JSON value.")
	}
	return nil
}
