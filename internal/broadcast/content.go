package broadcast

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/tgdesk/helpdesk/internal/broadcast/audience"
)

// Telegram's limits on what one message may carry.
const (
	MaxTextLen    = 4096 // characters of a text message after entity parsing
	MaxCaptionLen = 1024 // characters of a media caption
	MaxButtonText = 64
	MaxButtons    = 10
	// placeholderWorst is what a placeholder counts at validation: a
	// Telegram first name, last name or username is at most 64 characters,
	// so a text that fits with every placeholder at its longest always fits.
	placeholderWorst = 64
	// Files Telegram fetches by URL: photos up to 5 MB, other files up to 20 MB.
	MaxPhotoURLBytes = 5 << 20
	MaxFileURLBytes  = 20 << 20
)

// Content is what a campaign sends: a text message, or a photo, document,
// video or animation with the text as caption; URL buttons; an optional
// "read more" button revealing FullText; placeholders such as {first_name}.
// Text is HTML (Telegram's parse_mode HTML subset).
type Content struct {
	Text string `json:"text"`
	// FullText, when set, is revealed by a "read more" button (a view).
	FullText string   `json:"full_text,omitempty"`
	Media    *Media   `json:"media,omitempty"`
	Buttons  []Button `json:"buttons,omitempty"`
	// TrackClicks routes URL buttons through the platform's /r/ redirect so
	// clicks are counted (Telegram does not report URL button presses).
	TrackClicks           bool `json:"track_clicks,omitempty"`
	DisableWebPagePreview bool `json:"disable_web_page_preview,omitempty"`
}

// Media is one attachment, by URL (Telegram fetches it) or by file_id.
type Media struct {
	Kind   string `json:"kind"` // photo, document, video, animation
	URL    string `json:"url,omitempty"`
	FileID string `json:"file_id,omitempty"`
	// Size in bytes, when the caller knows it; a URL's size is also asked
	// with a HEAD request at validation.
	Size int64 `json:"size,omitempty"`
}

// Button is an inline URL button.
type Button struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

// Placeholders a campaign text may use; any other {name} is refused.
var Placeholders = []string{"first_name", "last_name", "full_name", "username"}

var placeholderRe = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// allowedTags is Telegram's HTML subset.
var allowedTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true, "strike": true, "del": true,
	"span": true, "tg-spoiler": true, "a": true, "code": true, "pre": true, "blockquote": true, "tg-emoji": true,
}

var tagRe = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>`)

// checkHTML reports the first problem of s as Telegram's HTML parser would
// (an unsupported or unbalanced tag, a stray '<') and the visible length in
// UTF-16 code units (how Telegram counts), placeholders at their longest.
func checkHTML(s string) (int, string) {
	var stack []string
	var visible strings.Builder
	rest := s
	for {
		loc := tagRe.FindStringSubmatchIndex(rest)
		chunk := rest
		if loc != nil {
			chunk = rest[:loc[0]]
		}
		if strings.ContainsAny(chunk, "<>") {
			return 0, "a '<' or '>' that is not part of a tag (write &lt; and &gt;)"
		}
		visible.WriteString(chunk)
		if loc == nil {
			break
		}
		closing, name := rest[loc[2]:loc[3]] == "/", strings.ToLower(rest[loc[4]:loc[5]])
		if !allowedTags[name] {
			return 0, fmt.Sprintf("tag <%s> is not supported by Telegram", name)
		}
		if closing {
			if len(stack) == 0 || stack[len(stack)-1] != name {
				return 0, fmt.Sprintf("</%s> does not close an open tag", name)
			}
			stack = stack[:len(stack)-1]
		} else {
			stack = append(stack, name)
		}
		rest = rest[loc[1]:]
	}
	if len(stack) > 0 {
		return 0, fmt.Sprintf("<%s> is not closed", stack[len(stack)-1])
	}
	text := placeholderRe.ReplaceAllString(html.UnescapeString(visible.String()), strings.Repeat("x", placeholderWorst))
	return len(utf16.Encode([]rune(text))), ""
}

func unknownPlaceholder(s string) string {
	for _, m := range placeholderRe.FindAllStringSubmatch(s, -1) {
		known := false
		for _, p := range Placeholders {
			known = known || m[1] == p
		}
		if !known {
			return m[0]
		}
	}
	return ""
}

// validate checks c against Telegram's limits; head asks a URL's size.
func (c *Content) validate(ctx context.Context, v *validator, head func(ctx context.Context, url string) (int64, error)) {
	c.Text = strings.TrimSpace(c.Text)
	c.FullText = strings.TrimSpace(c.FullText)
	limit, field := MaxTextLen, "content.text"
	if c.Media != nil {
		limit = MaxCaptionLen
	}
	if c.Text == "" && c.Media == nil {
		v.add(field, "required", "a text or a media attachment is required")
	}
	for _, f := range []struct {
		name, s string
		limit   int
	}{{field, c.Text, limit}, {"content.full_text", c.FullText, MaxTextLen}} {
		if f.s == "" {
			continue
		}
		if p := unknownPlaceholder(f.s); p != "" {
			v.add(f.name, "unknown_placeholder", fmt.Sprintf("unknown placeholder %s (known: {%s})", p, strings.Join(Placeholders, "}, {")))
			continue
		}
		n, problem := checkHTML(f.s)
		switch {
		case problem != "":
			v.add(f.name, "invalid_html", problem)
		case n > f.limit:
			v.add(f.name, "too_long", fmt.Sprintf("%d characters (placeholders counted at %d) over Telegram's limit of %d", n, placeholderWorst, f.limit))
		}
	}
	if len(c.Buttons) > MaxButtons {
		v.add("content.buttons", "too_many", fmt.Sprintf("at most %d buttons", MaxButtons))
	}
	for i, b := range c.Buttons {
		f := fmt.Sprintf("content.buttons[%d]", i)
		if n := len([]rune(strings.TrimSpace(b.Text))); n == 0 || n > MaxButtonText {
			v.add(f+".text", "invalid", fmt.Sprintf("1 to %d characters", MaxButtonText))
		}
		if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "tg") || (u.Scheme != "tg" && u.Host == "") {
			v.add(f+".url", "invalid", "an http(s):// or tg:// URL")
		}
	}
	if m := c.Media; m != nil {
		switch m.Kind {
		case "photo", "document", "video", "animation":
		default:
			v.add("content.media.kind", "invalid", "photo, document, video or animation")
			return
		}
		if (m.URL == "") == (m.FileID == "") {
			v.add("content.media", "invalid", "exactly one of url and file_id")
			return
		}
		if m.FileID != "" {
			return // already on Telegram's servers
		}
		if u, err := url.Parse(m.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.add("content.media.url", "invalid", "an http(s):// URL")
			return
		}
		max := int64(MaxFileURLBytes)
		if m.Kind == "photo" {
			max = MaxPhotoURLBytes
		}
		size := m.Size
		if size == 0 && head != nil {
			n, err := head(ctx, m.URL)
			if err != nil {
				v.add("content.media.url", "unreachable", "the file could not be fetched: "+err.Error())
				return
			}
			size = n
		}
		if size > max {
			v.add("content.media.size", "too_large", fmt.Sprintf("%d bytes over Telegram's limit of %d MB for a %s sent by URL", size, max>>20, m.Kind))
		}
	}
}

// headSize asks a URL's Content-Length (0 when the server does not say).
func headSize(client *http.Client) func(ctx context.Context, u string) (int64, error) {
	return func(ctx context.Context, u string) (int64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 400 {
			return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return max(0, resp.ContentLength), nil
	}
}

// Recipient is one member of a campaign's audience.
type Recipient = audience.Recipient

// fill replaces the placeholders of an HTML text with r's values, escaped.
func fill(s string, r Recipient) string {
	return placeholderRe.ReplaceAllStringFunc(s, func(m string) string {
		var v string
		switch m[1 : len(m)-1] {
		case "first_name":
			v = r.FirstName
		case "last_name":
			v = r.LastName
		case "full_name":
			v = strings.TrimSpace(r.FirstName + " " + r.LastName)
		case "username":
			v = r.Username
		default:
			return m
		}
		return html.EscapeString(v)
	})
}

// render builds the Bot API call of c for r. readMore is the button's
// label and callback data ("" for none); link maps button i's URL (click
// tracking).
func (c Content) render(r Recipient, readMore, readMoreData string, link func(i int, u string) string) (string, map[string]any) {
	p := map[string]any{"parse_mode": "HTML"}
	method := "sendMessage"
	text := fill(c.Text, r)
	if m := c.Media; m != nil {
		method = map[string]string{"photo": "sendPhoto", "document": "sendDocument", "video": "sendVideo", "animation": "sendAnimation"}[m.Kind]
		src := m.FileID
		if src == "" {
			src = m.URL
		}
		p[m.Kind] = src
		if text != "" {
			p["caption"] = text
		}
	} else {
		p["text"] = text
		if c.DisableWebPagePreview {
			p["link_preview_options"] = map[string]any{"is_disabled": true}
		}
	}
	var rows [][]map[string]string
	for i, b := range c.Buttons {
		rows = append(rows, []map[string]string{{"text": b.Text, "url": link(i, b.URL)}})
	}
	if c.FullText != "" && readMoreData != "" {
		rows = append(rows, []map[string]string{{"text": readMore, "callback_data": readMoreData}})
	}
	if len(rows) > 0 {
		p["reply_markup"] = map[string]any{"inline_keyboard": rows}
	}
	return method, p
}
