package tgsandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // photo sizes are read from uploads
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"path"
	"strings"
)

const maxDownloadBytes = 20 << 20

func (s *Server) addMediaMethods(add func(string, methodFunc)) {
	for _, kind := range []string{"photo", "document", "video", "voice", "sticker", "audio", "animation"} {
		add("send"+strings.ToUpper(kind[:1])+kind[1:], s.sendMedia(kind))
	}
	add("sendMediaGroup", s.sendMediaGroup)
	add("sendContact", s.sendContact)
	add("sendLocation", s.sendLocation)
	add("getFile", s.getFile)
	add("getForumTopicIconStickers", s.getForumTopicIconStickers)
}

// fileKinds gives the file_id prefix and storage folder Telegram uses per kind.
func fileKind(kind string) (prefix, folder, ext string) {
	switch kind {
	case "photo":
		return "AgACAgIAAxkBAAI", "photos", ".jpg"
	case "video", "animation":
		return "BAACAgIAAxkBAAI", "videos", ".mp4"
	case "voice":
		return "AwACAgIAAxkBAAI", "voice", ".oga"
	case "sticker":
		return "CAACAgIAAxkBAAI", "stickers", ".webp"
	case "audio":
		return "CQACAgIAAxkBAAI", "music", ".mp3"
	}
	return "BQACAgIAAxkBAAI", "documents", ""
}

// newFileLocked stores bytes as a file of a kind and returns it.
func (s *Server) newFileLocked(kind, name, mime string, data []byte) *file {
	prefix, folder, ext := fileKind(kind)
	id, uid := s.st.newFileID(prefix)
	if e := path.Ext(name); e != "" && kind == "document" {
		ext = e
	}
	f := &file{id: id, uniqueID: uid, kind: kind, data: data, size: int64(len(data)), name: name, mime: mime}
	f.path = fmt.Sprintf("%s/file_%d%s", folder, s.st.next(), ext)
	switch kind {
	case "photo":
		f.width, f.height = 1280, 720
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
			f.width, f.height = cfg.Width, cfg.Height
		}
		f.photo = s.photoLadderLocked(f)
	case "video", "animation":
		f.width, f.height, f.duration = 1280, 720, 5
		if f.mime == "" {
			f.mime = "video/mp4"
		}
	case "voice":
		f.duration = max(1, len(data)/2000)
		f.mime = "audio/ogg"
	case "sticker":
		f.width, f.height = 512, 512
	}
	s.st.files[f.id] = f
	s.st.filePaths[f.path] = f
	return f
}

// photoLadderLocked makes the sizes Telegram returns for a photo: small
// thumbnails first, the original last, each a downloadable file of its own.
func (s *Server) photoLadderLocked(orig *file) []tgPhotoSize {
	var sizes []tgPhotoSize
	for _, side := range []int{90, 320} {
		if side >= max(orig.width, orig.height) {
			break
		}
		w, h := scale(orig.width, orig.height, side)
		id, uid := s.st.newFileID("AgACAgIAAxkBAAI")
		th := &file{id: id, uniqueID: uid, kind: "photo", data: orig.data, size: orig.size, width: w, height: h,
			path: fmt.Sprintf("photos/file_%d.jpg", s.st.next())}
		th.photo = nil
		s.st.files[id] = th
		s.st.filePaths[th.path] = th
		sizes = append(sizes, tgPhotoSize{FileID: id, FileUniqueID: uid, Width: w, Height: h, FileSize: th.size})
	}
	return append(sizes, tgPhotoSize{FileID: orig.id, FileUniqueID: orig.uniqueID, Width: orig.width, Height: orig.height, FileSize: orig.size})
}

func scale(w, h, side int) (int, int) {
	if w >= h {
		return side, max(1, h*side/max(w, 1))
	}
	return max(1, w*side/max(h, 1)), side
}

// applyMedia puts a file into a message as the given kind.
func applyMedia(tg *tgMessage, kind string, f *file) {
	switch kind {
	case "photo":
		if f.photo != nil {
			tg.Photo = f.photo
		} else {
			tg.Photo = []tgPhotoSize{{FileID: f.id, FileUniqueID: f.uniqueID, Width: f.width, Height: f.height, FileSize: f.size}}
		}
	case "video", "animation":
		tg.Video = &tgVideo{FileID: f.id, FileUniqueID: f.uniqueID, Width: f.width, Height: f.height, Duration: f.duration, FileName: f.name, MimeType: f.mime, FileSize: f.size}
	case "voice":
		tg.Voice = &tgVoice{FileID: f.id, FileUniqueID: f.uniqueID, Duration: f.duration, MimeType: f.mime, FileSize: f.size}
	case "sticker":
		tg.Sticker = &tgSticker{FileID: f.id, FileUniqueID: f.uniqueID, Type: "regular", Width: f.width, Height: f.height, Emoji: f.emoji, SetName: "SandboxStickers", FileSize: f.size}
	default:
		tg.Document = &tgDocument{FileID: f.id, FileUniqueID: f.uniqueID, FileName: f.name, MimeType: f.mime, FileSize: f.size}
	}
}

// attachMediaLocked stores a user's attachment and puts it into tg.
func (s *Server) attachMediaLocked(tg *tgMessage, m *Media) error {
	kind := m.Kind
	switch kind {
	case "photo", "video", "voice", "document", "sticker":
	default:
		return fmt.Errorf("tgsandbox: media kind %q is not one of photo, video, voice, document, sticker", kind)
	}
	name := m.FileName
	if name == "" && kind == "document" {
		name = "file.bin"
	}
	f := s.newFileLocked(kind, name, m.MIMEType, m.Data)
	f.emoji = m.Emoji
	if kind == "sticker" && f.emoji == "" {
		f.emoji = "👍"
	}
	applyMedia(tg, kind, f)
	return nil
}

// inputFileLocked resolves an InputFile parameter: an upload, attach://name,
// an http(s) URL (stored empty: the sandbox is offline) or a file_id.
func (s *Server) inputFileLocked(p *params, value, kind string) (*file, error) {
	if up := p.files[value]; up != nil {
		return s.uploadLocked(up, kind)
	}
	if name, ok := strings.CutPrefix(value, "attach://"); ok {
		up := p.files[name]
		if up == nil {
			return nil, badRequest("wrong file identifier/HTTP URL specified")
		}
		return s.uploadLocked(up, kind)
	}
	if strings.HasPrefix(value, "http://") || strings.HasPrefix(value, "https://") {
		return s.newFileLocked(kind, path.Base(value), "", nil), nil
	}
	f := s.st.files[value]
	if f == nil {
		return nil, errWrongFileID()
	}
	return f, nil
}

func (s *Server) uploadLocked(up *upload, kind string) (*file, error) {
	if len(up.data) > maxUploadBytes {
		return nil, &apiError{Code: 413, Description: "Request Entity Too Large"}
	}
	return s.newFileLocked(kind, up.name, up.mime, up.data), nil
}

// sendMedia implements sendPhoto, sendDocument, sendVideo, sendVoice, sendSticker...
func (s *Server) sendMedia(kind string) methodFunc {
	return func(_ context.Context, b *bot, p *params) (any, error) {
		o, err := s.prepareSendLocked(b, p)
		if err != nil {
			return nil, err
		}
		value := kind
		if !p.has(kind) || (p.files[kind] == nil && strings.Trim(p.String(kind), `"`) == "") {
			return nil, badRequest("there is no " + kind + " in the request")
		}
		if p.files[kind] == nil {
			value = p.String(kind)
		}
		var content tgMessage
		if kind != "sticker" {
			cap, ents, err := textParams(p, "caption", "caption_entities")
			if err != nil {
				return nil, err
			}
			if textLen(cap) > maxCaptionLen {
				return nil, errCaptionTooLong()
			}
			content.Caption, content.CaptionEntities = cap, ents
		}
		if err := s.admitLocked(b, o.c, 1); err != nil {
			return nil, err
		}
		f, err := s.inputFileLocked(p, value, kind)
		if err != nil {
			return nil, err
		}
		if kind == "sticker" && f.emoji == "" {
			f.emoji = p.String("emoji")
		}
		applyMedia(&content, kind, f)
		return s.renderLocked(s.commitLocked(b, o, content)), nil
	}
}

type inputMedia struct {
	Type            string          `json:"type"`
	Media           string          `json:"media"`
	Caption         string          `json:"caption"`
	ParseMode       string          `json:"parse_mode"`
	CaptionEntities json.RawMessage `json:"caption_entities"`
}

func (s *Server) sendMediaGroup(_ context.Context, b *bot, p *params) (any, error) {
	o, err := s.prepareSendLocked(b, p)
	if err != nil {
		return nil, err
	}
	var items []inputMedia
	if _, err := p.Decode("media", &items); err != nil {
		return nil, err
	}
	if len(items) < 2 || len(items) > 10 {
		return nil, badRequest("wrong number of media specified: must be between 2 and 10")
	}
	docs := 0
	for _, it := range items {
		switch it.Type {
		case "photo", "video", "document", "audio":
		default:
			return nil, badRequest("unsupported media type \"" + it.Type + "\" in a media group")
		}
		if it.Type == "document" {
			docs++
		}
		if textLen(it.Caption) > maxCaptionLen {
			return nil, errCaptionTooLong()
		}
	}
	if docs != 0 && docs != len(items) {
		return nil, badRequest("document can't be mixed with other media types")
	}
	files := make([]*file, len(items))
	for i, it := range items {
		if files[i], err = s.inputFileLocked(p, it.Media, it.Type); err != nil {
			return nil, err
		}
	}
	// Every message of the album counts against the chat's budget.
	if err := s.admitLocked(b, o.c, len(items)); err != nil {
		return nil, err
	}
	group := s.newMediaGroupIDLocked()
	out := make([]tgMessage, 0, len(items))
	for i, it := range items {
		content := tgMessage{MediaGroupID: group}
		cap, ents, err := parseMode(it.ParseMode, it.Caption)
		if err != nil {
			return nil, err
		}
		if it.CaptionEntities != nil {
			cap, ents = it.Caption, it.CaptionEntities
		}
		content.Caption, content.CaptionEntities = cap, ents
		applyMedia(&content, it.Type, files[i])
		step := *o
		step.markup = nil
		out = append(out, s.renderLocked(s.commitLocked(b, &step, content)))
	}
	return out, nil
}

func (s *Server) sendContact(_ context.Context, b *bot, p *params) (any, error) {
	o, err := s.prepareSendLocked(b, p)
	if err != nil {
		return nil, err
	}
	if p.String("phone_number") == "" || p.String("first_name") == "" {
		return nil, badRequest("phone_number and first_name are required")
	}
	if err := s.admitLocked(b, o.c, 1); err != nil {
		return nil, err
	}
	content := tgMessage{Contact: &tgContact{PhoneNumber: p.String("phone_number"), FirstName: p.String("first_name"), LastName: p.String("last_name")}}
	return s.renderLocked(s.commitLocked(b, o, content)), nil
}

func (s *Server) sendLocation(_ context.Context, b *bot, p *params) (any, error) {
	o, err := s.prepareSendLocked(b, p)
	if err != nil {
		return nil, err
	}
	lat, ok1 := p.Float("latitude")
	lon, ok2 := p.Float("longitude")
	if !ok1 || !ok2 || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return nil, badRequest("wrong location specified")
	}
	if err := s.admitLocked(b, o.c, 1); err != nil {
		return nil, err
	}
	return s.renderLocked(s.commitLocked(b, o, tgMessage{Location: &tgLocation{Latitude: lat, Longitude: lon}})), nil
}

func (s *Server) getFile(_ context.Context, _ *bot, p *params) (any, error) {
	id := p.String("file_id")
	f := s.st.files[id]
	if f == nil {
		return nil, badRequest("invalid file_id")
	}
	if f.size > maxDownloadBytes {
		return nil, badRequest("file is too big")
	}
	return tgFile{FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size, FilePath: f.path}, nil
}

// serveFile answers /file/bot<token>/<file_path> with the stored bytes.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, rest string) {
	token, fp, _ := strings.Cut(rest, "/")
	fp = strings.TrimPrefix(fp, "test/")
	s.mu.Lock()
	b := s.botByTokenLocked(token)
	f := s.st.filePaths[fp]
	var data []byte
	var mime string
	if f != nil {
		data, mime = f.data, f.mime
	}
	s.mu.Unlock()
	if b == nil {
		writeAPIError(w, errUnauthorized())
		return
	}
	if f == nil {
		writeAPIError(w, errNotFound())
		return
	}
	if mime == "" {
		mime = http.DetectContentType(data)
	}
	w.Header().Set("Content-Type", mime)
	_, _ = w.Write(data)
}
