// Package logging builds the process logger. Its handler scrubs anything
// shaped like a Telegram bot token from every message and attribute, as a
// last line of defence: code must never log secrets in the first place.
package logging

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// tokenPattern matches Telegram bot tokens anywhere in a string
// (including inside URLs such as https://api.telegram.org/bot<token>/...).
var tokenPattern = regexp.MustCompile(`\d{5,}:[A-Za-z0-9_-]{35}`)

// minTokenLen is the shortest string tokenPattern can match (5 digits, ':',
// 35 characters).
const minTokenLen = 5 + 1 + 35

// Redact replaces bot tokens in s. Most logged strings (ids, paths, short
// messages) cannot hold a token; they skip the regex, which every access
// log line would otherwise pay for each attribute.
func Redact(s string) string {
	if len(s) < minTokenLen || !strings.Contains(s, ":") {
		return s
	}
	return tokenPattern.ReplaceAllString(s, "[redacted-token]")
}

// New returns a logger writing JSON or text at level to w.
func New(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			a.Value = slog.StringValue(Redact(a.Value.String()))
		case slog.KindAny:
			if err, ok := a.Value.Any().(error); ok {
				a.Value = slog.StringValue(Redact(err.Error()))
			}
		}
		return a
	}}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(redactMessage{h})
}

// redactMessage scrubs the record's message, which ReplaceAttr does not see.
type redactMessage struct{ slog.Handler }

func (r redactMessage) Handle(ctx context.Context, rec slog.Record) error {
	rec.Message = Redact(rec.Message)
	return r.Handler.Handle(ctx, rec)
}

func (r redactMessage) WithAttrs(attrs []slog.Attr) slog.Handler {
	return redactMessage{r.Handler.WithAttrs(attrs)}
}

func (r redactMessage) WithGroup(name string) slog.Handler {
	return redactMessage{r.Handler.WithGroup(name)}
}
