package httpx

import (
	"bufio"
	"io"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
)

// StreamIdle is how long a streamed body may go without the client taking
// a write before the connection is dropped (see StreamBody).
const StreamIdle = time.Minute

// StreamBody has write produce the response body after the handler
// returns, as the client reads it (fasthttp's body stream), for exports of
// any size. The server's write timeout (60 s) covers a whole response, so
// it would cut a long export; here the connection's write deadline slides
// instead: every write pushes it idle ahead (at most once a second), so a
// client that stops reading is still dropped, and one that reads gets the
// whole body however long it takes. The fiber context must not be used in
// write. An error from write is the caller's to log: the status line and
// headers are gone, and the client sees a truncated body.
func StreamBody(c *fiber.Ctx, idle time.Duration, write func(w io.Writer) error, failed func(error)) {
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		sw := &slidingWriter{conn: conn, w: w, idle: idle, every: min(idle/4, time.Second)}
		err := write(sw)
		if err == nil {
			err = w.Flush()
		}
		if err != nil && failed != nil {
			failed(err)
		}
	})
}

// slidingWriter pushes the connection's write deadline ahead on the first
// write and then at most every `every`. (The server sets its own deadline
// when it starts writing the response, after the stream has begun, so an
// extension made before that is overwritten; the next one comes soon.)
type slidingWriter struct {
	conn        net.Conn
	w           io.Writer
	idle, every time.Duration
	extended    time.Time
}

func (s *slidingWriter) Write(p []byte) (int, error) {
	if now := time.Now(); s.extended.IsZero() || now.Sub(s.extended) >= s.every {
		s.extend(now)
	}
	return s.w.Write(p)
}

func (s *slidingWriter) extend(now time.Time) {
	s.extended = now
	if s.conn != nil {
		_ = s.conn.SetWriteDeadline(now.Add(s.idle))
	}
}
