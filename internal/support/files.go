package support

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// Errors of the file proxy.
var (
	ErrNoFile       = errors.New("support: the message has no file")
	ErrFileTooLarge = errors.New("support: the file is larger than the bot may download")
	ErrTelegram     = errors.New("support: Telegram did not give the file")
)

// File is a message's media, streamed from Telegram. The caller closes Body.
type File struct {
	Name        string
	ContentType string
	Size        int64
	Body        io.ReadCloser
}

// fileRef is what a stored message says about its file.
type fileRef struct {
	FileID   string `json:"file_id"`
	FileName string `json:"file_name"`
	MimeType string `json:"mime_type"`
	FileSize int64  `json:"file_size"`
}

// defaultTypes are the content types of kinds whose messages carry none.
var defaultTypes = map[string]string{"photo": "image/jpeg", "voice": "audio/ogg", "video_note": "video/mp4",
	"video": "video/mp4", "animation": "video/mp4", "sticker": "image/webp", "audio": "audio/mpeg"}

// fileOf finds the file of a message's raw update (message or edit).
func fileOf(raw []byte, kind string) (fileRef, bool) {
	var u map[string]json.RawMessage
	if json.Unmarshal(raw, &u) != nil {
		return fileRef{}, false
	}
	msg := u["message"]
	if len(msg) == 0 {
		msg = u["edited_message"]
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(msg, &fields) != nil || len(fields[kind]) == 0 {
		return fileRef{}, false
	}
	var f fileRef
	if kind == "photo" {
		var sizes []fileRef
		if json.Unmarshal(fields[kind], &sizes) != nil || len(sizes) == 0 {
			return fileRef{}, false
		}
		f = sizes[len(sizes)-1] // the largest
	} else if json.Unmarshal(fields[kind], &f) != nil {
		return fileRef{}, false
	}
	return f, f.FileID != ""
}

// OpenFile streams a message's media from Telegram: getFile with the bot's
// token, then the download. The token and Telegram's file URL never leave
// this function (errors do not carry them).
func (s *Service) OpenFile(ctx context.Context, tenantID, messageID uuid.UUID) (*File, error) {
	var raw []byte
	var kind string
	var botID int64
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT COALESCE(m.raw::text, ''), m.kind, t.bot_id FROM support_messages m
			JOIN support_tickets t ON t.id = m.ticket_id WHERE m.id = $1`, messageID).Scan(&raw, &kind, &botID)
		if db.IsNotFound(err) {
			return ErrNotFound
		}
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("support: file: %w", err)
	}
	ref, ok := fileOf(raw, kind)
	if !ok {
		return nil, ErrNoFile
	}
	if ref.FileSize > s.opts.MaxFileBytes {
		return nil, ErrFileTooLarge
	}
	tok, err := s.tokens.BotToken(ctx, botID)
	if err != nil {
		return nil, fmt.Errorf("support: file: bot token: %w", err)
	}
	filePath, size, err := s.getFile(ctx, tok, ref.FileID)
	if err != nil {
		return nil, err
	}
	if size > s.opts.MaxFileBytes {
		return nil, ErrFileTooLarge
	}
	base := strings.TrimRight(s.opts.APIURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/file/bot"+tok+"/"+filePath, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: bad file path", ErrTelegram)
	}
	res, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: download failed", ErrTelegram) // the error text holds the URL (token)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("%w: download answered %d", ErrTelegram, res.StatusCode)
	}
	ct := ref.MimeType
	if ct == "" {
		ct = defaultTypes[kind]
	}
	if ct == "" {
		if t := mime.TypeByExtension(path.Ext(filePath)); t != "" {
			ct = t
		} else if t := res.Header.Get("Content-Type"); t != "" {
			ct = t
		} else {
			ct = "application/octet-stream"
		}
	}
	name := ref.FileName
	if name == "" {
		name = kind + path.Ext(filePath)
	}
	if size == 0 {
		size = res.ContentLength
	}
	// Never more than the cap, whatever the server sends.
	body := &limitedBody{r: io.LimitReader(res.Body, s.opts.MaxFileBytes), c: res.Body}
	return &File{Name: name, ContentType: ct, Size: size, Body: body}, nil
}

type limitedBody struct {
	r io.Reader
	c io.Closer
}

func (b *limitedBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *limitedBody) Close() error               { return b.c.Close() }

// getFile asks Telegram for a file's path and size.
func (s *Service) getFile(ctx context.Context, tok, fileID string) (string, int64, error) {
	body, _ := json.Marshal(map[string]string{"file_id": fileID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.opts.APIURL, "/")+"/bot"+tok+"/getFile",
		bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err != nil {
		return "", 0, fmt.Errorf("%w: getFile", ErrTelegram)
	}
	res, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("%w: getFile failed", ErrTelegram) // the error text holds the URL (token)
	}
	defer res.Body.Close()
	var out struct {
		OK     bool `json:"ok"`
		Result struct {
			FilePath string `json:"file_path"`
			FileSize int64  `json:"file_size"`
		} `json:"result"`
		Description string `json:"description"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || !out.OK || out.Result.FilePath == "" {
		if strings.Contains(strings.ToLower(out.Description), "too big") {
			return "", 0, ErrFileTooLarge
		}
		return "", 0, fmt.Errorf("%w: getFile %d %s", ErrTelegram, res.StatusCode, out.Description)
	}
	return out.Result.FilePath, out.Result.FileSize, nil
}
