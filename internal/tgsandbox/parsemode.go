package tgsandbox

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

type entity struct {
	Type          string `json:"type"`
	Offset        int    `json:"offset"`
	Length        int    `json:"length"`
	URL           string `json:"url,omitempty"`
	Language      string `json:"language,omitempty"`
	CustomEmojiID string `json:"custom_emoji_id,omitempty"`
}

// parseMode turns formatted text into plain text plus entities, the way the
// Bot API does before storing a message. Unknown modes are passed through.
func parseMode(mode, text string) (string, json.RawMessage, error) {
	var (
		out  string
		ents []entity
		err  error
	)
	switch strings.ToLower(mode) {
	case "html":
		out, ents, err = parseHTML(text)
	case "markdownv2":
		out, ents, err = parseMarkdownV2(text)
	default:
		return text, nil, nil
	}
	if err != nil {
		return "", nil, badRequest("can't parse entities: " + err.Error())
	}
	if len(ents) == 0 {
		return out, nil, nil
	}
	raw, _ := json.Marshal(ents)
	return out, raw, nil
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// htmlTagType maps a supported HTML tag to its entity type.
func htmlTagType(tag string) (string, bool) {
	switch tag {
	case "b", "strong":
		return "bold", true
	case "i", "em":
		return "italic", true
	case "u", "ins":
		return "underline", true
	case "s", "strike", "del":
		return "strikethrough", true
	case "tg-spoiler", "span":
		return "spoiler", true
	case "a":
		return "text_link", true
	case "code", "pre", "blockquote":
		return tag, true
	case "tg-emoji":
		return "custom_emoji", true
	}
	return "", false
}

type openTag struct {
	name  string
	ent   entity
	start int
}

// parseHTML implements the subset of HTML the Bot API accepts.
func parseHTML(src string) (string, []entity, error) {
	var (
		b     strings.Builder
		pos   int // output length in UTF-16 units
		stack []openTag
		ents  []entity
	)
	for i := 0; i < len(src); {
		c := src[i]
		switch c {
		case '<':
			end := strings.IndexByte(src[i:], '>')
			if end < 0 {
				return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", i)
			}
			tag := src[i+1 : i+end]
			if strings.HasPrefix(tag, "/") {
				name := strings.ToLower(strings.TrimSpace(tag[1:]))
				if len(stack) == 0 {
					return "", nil, fmt.Errorf("Unexpected end tag at byte offset %d", i)
				}
				top := stack[len(stack)-1]
				if top.name != name {
					return "", nil, fmt.Errorf("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", i, top.name, name)
				}
				stack = stack[:len(stack)-1]
				top.ent.Offset, top.ent.Length = top.start, pos-top.start
				if top.ent.Length > 0 {
					ents = append(ents, top.ent)
				}
			} else {
				name, attrs, _ := strings.Cut(tag, " ")
				name = strings.ToLower(name)
				typ, ok := htmlTagType(name)
				if !ok || (name == "span" && !strings.Contains(attrs, "tg-spoiler")) {
					return "", nil, fmt.Errorf("Unsupported start tag \"%s\" at byte offset %d", name, i)
				}
				e := entity{Type: typ}
				switch name {
				case "a":
					e.URL = html.UnescapeString(attrValue(attrs, "href"))
				case "tg-emoji":
					e.CustomEmojiID = attrValue(attrs, "emoji-id")
				case "code":
					if lang := strings.TrimPrefix(attrValue(attrs, "class"), "language-"); lang != "" && len(stack) > 0 && stack[len(stack)-1].name == "pre" {
						stack[len(stack)-1].ent.Language = lang
					}
				case "blockquote":
					if strings.Contains(attrs, "expandable") {
						e.Type = "expandable_blockquote"
					}
				}
				stack = append(stack, openTag{name: name, ent: e, start: pos})
			}
			i += end + 1
		case '&':
			end := strings.IndexByte(src[i:], ';')
			if end > 0 && end < 10 {
				un := html.UnescapeString(src[i : i+end+1])
				if un != src[i:i+end+1] {
					b.WriteString(un)
					pos += utf16Len(un)
					i += end + 1
					continue
				}
			}
			b.WriteByte('&')
			pos++
			i++
		default:
			j := i + 1
			for j < len(src) && src[j] != '<' && src[j] != '&' {
				j++
			}
			b.WriteString(src[i:j])
			pos += utf16Len(src[i:j])
			i = j
		}
	}
	if len(stack) > 0 {
		return "", nil, fmt.Errorf("Can't find end tag corresponding to start tag \"%s\"", stack[len(stack)-1].name)
	}
	sortEntities(ents)
	return b.String(), ents, nil
}

func attrValue(attrs, name string) string {
	i := strings.Index(attrs, name+"=")
	if i < 0 {
		return ""
	}
	v := attrs[i+len(name)+1:]
	if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
		q := v[0]
		if j := strings.IndexByte(v[1:], q); j >= 0 {
			return v[1 : j+1]
		}
		return v[1:]
	}
	if j := strings.IndexAny(v, " >"); j >= 0 {
		return v[:j]
	}
	return v
}

func sortEntities(ents []entity) {
	for i := 1; i < len(ents); i++ {
		for j := i; j > 0 && (ents[j].Offset < ents[j-1].Offset || (ents[j].Offset == ents[j-1].Offset && ents[j].Length > ents[j-1].Length)); j-- {
			ents[j], ents[j-1] = ents[j-1], ents[j]
		}
	}
}

// mdV2Reserved are the characters MarkdownV2 requires to be escaped.
const mdV2Reserved = "_*[]()~`>#+-=|{}.!"

// parseMarkdownV2 implements MarkdownV2 closely enough to reject what
// Telegram rejects (unescaped reserved characters, unclosed entities).
func parseMarkdownV2(src string) (string, []entity, error) {
	var (
		b     strings.Builder
		pos   int
		stack []openTag
		ents  []entity
	)
	markers := []struct{ tok, typ string }{{"||", "spoiler"}, {"__", "underline"}, {"*", "bold"}, {"_", "italic"}, {"~", "strikethrough"}}
	closeOrOpen := func(tok, typ string) {
		if n := len(stack); n > 0 && stack[n-1].name == tok {
			top := stack[n-1]
			stack = stack[:n-1]
			top.ent.Offset, top.ent.Length = top.start, pos-top.start
			if top.ent.Length > 0 {
				ents = append(ents, top.ent)
			}
			return
		}
		stack = append(stack, openTag{name: tok, ent: entity{Type: typ}, start: pos})
	}
	write := func(s string) { b.WriteString(s); pos += utf16Len(s) }
outer:
	for i := 0; i < len(src); {
		c := src[i]
		if c == '\\' && i+1 < len(src) {
			_, n := utf8.DecodeRuneInString(src[i+1:])
			write(src[i+1 : i+1+n])
			i += 1 + n
			continue
		}
		for _, m := range markers {
			if strings.HasPrefix(src[i:], m.tok) {
				closeOrOpen(m.tok, m.typ)
				i += len(m.tok)
				continue outer
			}
		}
		switch {
		case strings.HasPrefix(src[i:], "```"):
			end := strings.Index(src[i+3:], "```")
			if end < 0 {
				return "", nil, fmt.Errorf("Can't find end of Pre entity at byte offset %d", i)
			}
			body := src[i+3 : i+3+end]
			lang, rest, hasNL := strings.Cut(body, "\n")
			if !hasNL {
				lang, rest = "", body
			}
			start := pos
			write(rest)
			ents = append(ents, entity{Type: "pre", Offset: start, Length: pos - start, Language: lang})
			i += 6 + end
		case c == '`':
			end := strings.IndexByte(src[i+1:], '`')
			if end < 0 {
				return "", nil, fmt.Errorf("Can't find end of Code entity at byte offset %d", i)
			}
			start := pos
			write(src[i+1 : i+1+end])
			ents = append(ents, entity{Type: "code", Offset: start, Length: pos - start})
			i += end + 2
		case c == '[':
			closeBr := strings.Index(src[i:], "](")
			if closeBr < 0 {
				return "", nil, fmt.Errorf("Character '[' is reserved and must be escaped with the preceding '\\'")
			}
			closeP := strings.IndexByte(src[i+closeBr:], ')')
			if closeP < 0 {
				return "", nil, fmt.Errorf("Can't find end of a URL at byte offset %d", i+closeBr)
			}
			inner, _, err := parseMarkdownV2(src[i+1 : i+closeBr])
			if err != nil {
				return "", nil, err
			}
			start := pos
			write(inner)
			ents = append(ents, entity{Type: "text_link", Offset: start, Length: pos - start, URL: src[i+closeBr+2 : i+closeBr+closeP]})
			i += closeBr + closeP + 1
		case strings.IndexByte(mdV2Reserved, c) >= 0:
			return "", nil, fmt.Errorf("Character '%c' is reserved and must be escaped with the preceding '\\'", c)
		default:
			_, n := utf8.DecodeRuneInString(src[i:])
			write(src[i : i+n])
			i += n
		}
	}
	if len(stack) > 0 {
		return "", nil, fmt.Errorf("Can't find end of %s entity at byte offset %d", entityTitle(stack[len(stack)-1].ent.Type), len(src))
	}
	sortEntities(ents)
	return b.String(), ents, nil
}

func entityTitle(t string) string {
	switch t {
	case "bold":
		return "Bold"
	case "italic":
		return "Italic"
	case "underline":
		return "Underline"
	case "strikethrough":
		return "Strikethrough"
	}
	return "Spoiler"
}
