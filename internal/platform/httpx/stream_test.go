package httpx

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// A streamed export that takes longer than the server's write timeout
// arrives whole through StreamBody (its deadline slides with each write);
// the same body written the plain way is cut at the timeout, which is what
// a long export met before.
func TestStreamBodyOutlivesTheWriteTimeout(t *testing.T) {
	app := NewApp(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WriteTimeout: 300 * time.Millisecond})
	chunk := strings.Repeat("x", 64<<10) + "\n"
	const chunks = 12 // 100 ms apart: 1.2 s in all, four times the timeout
	produce := func(w io.Writer) error {
		for range chunks {
			if _, err := io.WriteString(w, chunk); err != nil {
				return err
			}
			if f, ok := w.(interface{ Flush() error }); ok {
				_ = f.Flush()
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	}
	failed := make(chan error, 1)
	app.Get("/sliding", func(c *fiber.Ctx) error {
		StreamBody(c, time.Second, produce, func(err error) { failed <- err })
		return nil
	})
	app.Get("/plain", func(c *fiber.Ctx) error {
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) { _ = produce(w) })
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.ShutdownWithTimeout(time.Second) }()
	get := func(path string) int {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		n, _ := io.Copy(io.Discard, resp.Body)
		return int(n)
	}
	if n := get("/sliding"); n != chunks*len(chunk) {
		t.Fatalf("sliding deadline: got %d bytes, want %d", n, chunks*len(chunk))
	}
	select {
	case err := <-failed:
		t.Fatalf("the stream reported %v", err)
	default:
	}
	if n := get("/plain"); n >= chunks*len(chunk) {
		t.Fatalf("plain stream: got all %d bytes past the write timeout; the test does not exercise it", n)
	}
}
