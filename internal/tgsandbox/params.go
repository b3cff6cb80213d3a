package tgsandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxUploadBytes is Telegram's 50 MB upload limit for bots.
const maxUploadBytes = 50 << 20

// params holds the parameters of one call, whatever encoding they arrived in.
// JSON bodies keep raw values; query, form and multipart fields are strings,
// so every getter accepts both ("42" and 42 are the same chat_id).
type params struct {
	json  map[string]json.RawMessage
	str   map[string]string
	files map[string]*upload
}

type upload struct {
	name string
	mime string
	data []byte
}

func newParams() *params {
	return &params{json: map[string]json.RawMessage{}, str: map[string]string{}, files: map[string]*upload{}}
}

// parseParams reads query, JSON, urlencoded or multipart parameters.
func parseParams(r *http.Request) (*params, error) {
	p := newParams()
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			p.str[k] = v[0]
		}
	}
	if r.Body == nil {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, fmt.Errorf("parse multipart: %w", err)
		}
		for k, v := range r.MultipartForm.Value {
			if len(v) > 0 {
				p.str[k] = v[0]
			}
		}
		for k, fhs := range r.MultipartForm.File {
			if len(fhs) == 0 {
				continue
			}
			up, err := readUpload(fhs[0])
			if err != nil {
				return nil, err
			}
			p.files[k] = up
		}
	default:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxUploadBytes))
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		body = bytes.TrimSpace(body)
		// telego sends the JSON literal null for calls without parameters.
		if len(body) == 0 || string(body) == "null" {
			return p, nil
		}
		// curl -d labels JSON as urlencoded; a body that starts like JSON is JSON.
		if ct == "application/x-www-form-urlencoded" && body[0] != '{' {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, fmt.Errorf("parse form: %w", err)
			}
			for k, v := range form {
				if len(v) > 0 {
					p.str[k] = v[0]
				}
			}
			return p, nil
		}
		if err := json.Unmarshal(body, &p.json); err != nil {
			return nil, fmt.Errorf("parse json: %w", err)
		}
	}
	return p, nil
}

func readUpload(fh *multipart.FileHeader) (*upload, error) {
	name, ct := fh.Filename, fh.Header.Get("Content-Type")
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUploadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read upload %s: %w", name, err)
	}
	return &upload{name: name, mime: ct, data: data}, nil
}

func (p *params) has(key string) bool {
	_, a := p.json[key]
	_, b := p.str[key]
	_, c := p.files[key]
	return a || b || c
}

// raw returns the value as JSON text; string fields that are not valid JSON
// are quoted so callers can always json.Unmarshal the result.
func (p *params) raw(key string) (json.RawMessage, bool) {
	if v, ok := p.json[key]; ok {
		if string(v) == "null" {
			return nil, false
		}
		return v, true
	}
	s, ok := p.str[key]
	if !ok {
		return nil, false
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s), true
	}
	q, _ := json.Marshal(s)
	return q, true
}

// String returns a text parameter.
func (p *params) String(key string) string {
	if v, ok := p.json[key]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		if string(v) == "null" {
			return ""
		}
		return string(v)
	}
	return p.str[key]
}

// Int returns an integer parameter; found is false when absent.
func (p *params) Int(key string) (v int64, found bool, err error) {
	s := p.String(key)
	if !p.has(key) || s == "" {
		return 0, false, nil
	}
	s = strings.Trim(s, `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return 0, true, badRequest(fmt.Sprintf("invalid %s specified", key))
		}
		n = int64(f)
	}
	return n, true, nil
}

// IntOr returns an integer parameter or def.
func (p *params) IntOr(key string, def int64) (int64, error) {
	v, ok, err := p.Int(key)
	if err != nil || !ok {
		return def, err
	}
	return v, nil
}

// Float returns a floating point parameter.
func (p *params) Float(key string) (float64, bool) {
	s := strings.Trim(p.String(key), `"`)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// Bool returns a boolean parameter, accepting the spellings forms use.
func (p *params) Bool(key string) bool {
	switch strings.ToLower(strings.Trim(p.String(key), `"`)) {
	case "true", "1", "yes", "on":
		return true
	}
	return false
}

// Decode unmarshals an object or array parameter. JSON strings holding JSON
// (how multipart carries reply_markup) are decoded one level deeper.
func (p *params) Decode(key string, dst any) (bool, error) {
	raw, ok := p.raw(key)
	if !ok {
		return false, nil
	}
	var inner string
	if json.Unmarshal(raw, &inner) == nil && json.Valid([]byte(inner)) {
		raw = json.RawMessage(inner)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, badRequest(fmt.Sprintf("can't parse %s JSON object", key))
	}
	return true, nil
}

// chatRef is a chat_id parameter: a number or "@username".
type chatRef struct {
	id       int64
	username string
}

func (p *params) Chat(key string) (chatRef, error) {
	s := strings.Trim(strings.TrimSpace(p.String(key)), `"`)
	if s == "" {
		return chatRef{}, badRequest(key + " is empty")
	}
	if strings.HasPrefix(s, "@") {
		return chatRef{username: s[1:]}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return chatRef{}, errChatNotFound()
	}
	return chatRef{id: n}, nil
}
