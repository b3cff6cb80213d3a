package tgsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// controlFunc handles one /sandbox/<action>; p carries query, form or JSON fields.
type controlFunc func(p *params) (any, error)

// bind decodes the parameters into dst, accepting strings for numbers (query
// strings) and numbers for strings.
func bind(p *params, dst any) error {
	obj := map[string]json.RawMessage{}
	for k, v := range p.json {
		obj[k] = v
	}
	for k := range p.str {
		obj[k], _ = p.raw(k)
	}
	raw, _ := json.Marshal(obj)
	if err := json.Unmarshal(raw, dst); err == nil {
		return nil
	}
	for k, v := range p.str {
		obj[k], _ = json.Marshal(v)
	}
	raw, _ = json.Marshal(obj)
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("tgsandbox: control: bad parameters: %w", err)
	}
	return nil
}

func call[T any](fn func(T) (any, error)) controlFunc {
	return func(p *params) (any, error) {
		var in T
		if err := bind(p, &in); err != nil {
			return nil, err
		}
		return fn(in)
	}
}

type (
	idsIn struct {
		UserID    int64 `json:"user_id"`
		BotID     int64 `json:"bot_id"`
		ChatID    int64 `json:"chat_id"`
		MessageID int64 `json:"message_id"`
		ThreadID  int64 `json:"message_thread_id"`
	}
	textIn struct {
		idsIn
		Text     string  `json:"text"`
		Command  string  `json:"command"`
		Payload  string  `json:"payload"`
		Phone    string  `json:"phone"`
		Lat      float64 `json:"latitude"`
		Lon      float64 `json:"longitude"`
		Data     string  `json:"callback_data"`
		Link     string  `json:"invite_link"`
		QueryID  string  `json:"callback_query_id"`
		Name     string  `json:"name"`
		Refuse   bool    `json:"refuse"`
		N        int     `json:"n"`
		Method   string  `json:"method"`
		Duration string  `json:"duration"`
	}
	groupIn struct {
		Title     string  `json:"title"`
		MemberIDs []int64 `json:"member_ids"`
		Username  string  `json:"username"`
	}
	botIn struct {
		Token     string  `json:"token"`
		Username  string  `json:"username"`
		FirstName string  `json:"first_name"`
		ChatID    int64   `json:"chat_id"`
		BotID     int64   `json:"bot_id"`
		Rights    *Rights `json:"rights"`
	}
	albumIn struct {
		UserID int64    `json:"user_id"`
		ChatID int64    `json:"chat_id"`
		Items  []*Media `json:"items"`
	}
)

// StateView is what /sandbox/state returns: everything the web UI lists.
type StateView struct {
	Bots   []Bot  `json:"bots"`
	Users  []User `json:"users"`
	Groups []Chat `json:"groups"`
	Limits Limits `json:"limits"`
}

// State returns the bots, users and groups the sandbox knows.
func (s *Server) State() StateView {
	v := StateView{Bots: s.Bots(), Users: s.Users(), Limits: s.CurrentLimits()}
	s.mu.Lock()
	defer s.mu.Unlock()
	v.Groups = []Chat{}
	for _, c := range s.st.groups {
		if c.migrateTo == 0 {
			v.Groups = append(v.Groups, c.Chat)
		}
	}
	sortBy(v.Groups, func(c Chat) int64 { return -c.ID })
	return v
}

func (s *Server) controlTable() map[string]controlFunc {
	sent := func(x Sent, err error) (any, error) { return x, err }
	done := func(err error) (any, error) { return true, err }
	return map[string]controlFunc{
		"state": func(*params) (any, error) { return s.State(), nil },
		"reset": func(*params) (any, error) { s.Reset(); return true, nil },
		"createbot": call(func(in botIn) (any, error) {
			if in.Token != "" {
				return s.CreateBotWithToken(in.Token, in.Username, in.FirstName)
			}
			return s.CreateBot(in.Username, in.FirstName), nil
		}),
		"createuser":  call(func(in User) (any, error) { return s.CreateUserWith(in), nil }),
		"creategroup": call(func(in groupIn) (any, error) { return s.CreateGroup(in.Title, in.MemberIDs...), nil }),
		"createsupergroup": call(func(in groupIn) (any, error) {
			return s.withUsername(s.CreateSupergroup(in.Title, in.MemberIDs...), in.Username)
		}),
		"createforumsupergroup": call(func(in groupIn) (any, error) {
			return s.withUsername(s.CreateForumSupergroup(in.Title, in.MemberIDs...), in.Username)
		}),
		"addbottochat":        call(func(in botIn) (any, error) { return done(s.AddBotToChat(in.BotID, in.ChatID, in.Rights)) }),
		"setbotrights":        call(func(in botIn) (any, error) { return done(s.SetBotRights(in.BotID, in.ChatID, in.Rights)) }),
		"removebotfromchat":   call(func(in botIn) (any, error) { return done(s.RemoveBotFromChat(in.BotID, in.ChatID)) }),
		"addusertochat":       call(func(in idsIn) (any, error) { return done(s.AddUserToChat(in.UserID, in.ChatID)) }),
		"migratetosupergroup": call(func(in idsIn) (any, error) { return s.MigrateToSupergroup(in.ChatID) }),
		"send":                call(func(in UserMessage) (any, error) { return sent(s.Send(in)) }),
		"sendtext": call(func(in textIn) (any, error) {
			return sent(s.Send(UserMessage{UserID: in.UserID, ChatID: in.ChatID, ThreadID: in.ThreadID, ReplyTo: in.MessageID, Text: in.Text}))
		}),
		"sendcommand":  call(func(in textIn) (any, error) { return sent(s.SendCommand(in.UserID, in.ChatID, in.Command, in.Payload)) }),
		"sendcontact":  call(func(in textIn) (any, error) { return sent(s.SendContact(in.UserID, in.ChatID, in.Phone)) }),
		"sendlocation": call(func(in textIn) (any, error) { return sent(s.SendLocation(in.UserID, in.ChatID, in.Lat, in.Lon)) }),
		"sendalbum":    call(func(in albumIn) (any, error) { return s.SendAlbum(in.UserID, in.ChatID, in.Items) }),
		"editmessage": call(func(in textIn) (any, error) {
			return done(s.EditMessage(in.UserID, in.ChatID, in.MessageID, in.Text))
		}),
		"deletemessage": call(func(in idsIn) (any, error) { return done(s.DeleteMessageAsUser(in.UserID, in.ChatID, in.MessageID)) }),
		"pressbutton": call(func(in textIn) (any, error) {
			id, err := s.PressButton(in.UserID, in.ChatID, in.MessageID, in.Data)
			return map[string]string{"callback_query_id": id}, err
		}),
		"callbackanswer": call(func(in textIn) (any, error) {
			a, ok := s.CallbackAnswer(in.QueryID)
			if !ok {
				return nil, fmt.Errorf("tgsandbox: callback query %q not found", in.QueryID)
			}
			return a, nil
		}),
		"joinchat": call(func(in textIn) (any, error) {
			req, err := s.JoinChat(in.UserID, in.Link)
			return map[string]bool{"requested": req}, err
		}),
		"leavechat":     call(func(in idsIn) (any, error) { return done(s.LeaveChat(in.UserID, in.ChatID)) }),
		"blockbot":      call(func(in idsIn) (any, error) { return done(s.BlockBot(in.UserID, in.BotID)) }),
		"unblockbot":    call(func(in idsIn) (any, error) { return done(s.UnblockBot(in.UserID, in.BotID)) }),
		"replykeyboard": call(func(in idsIn) (any, error) { return s.ReplyKeyboard(in.BotID, in.UserID), nil }),
		"transcript": call(func(in idsIn) (any, error) {
			if in.BotID != 0 && in.UserID != 0 {
				return nonNil(s.PrivateTranscript(in.BotID, in.UserID)), nil
			}
			return nonNil(s.Transcript(in.ChatID)), nil
		}),
		"topics":      call(func(in idsIn) (any, error) { return s.Topics(in.ChatID), nil }),
		"createtopic": call(func(in textIn) (any, error) { return s.CreateTopic(in.ChatID, in.Name) }),
		"deletetopic": call(func(in idsIn) (any, error) { return done(s.DeleteTopic(in.ChatID, in.ThreadID)) }),
		"failnext":    call(func(in Fault) (any, error) { return done(s.FailNext(in)) }),
		"setlatency": call(func(in textIn) (any, error) {
			d, err := time.ParseDuration(in.Duration)
			if err != nil {
				return nil, fmt.Errorf("tgsandbox: set latency: %w", err)
			}
			s.SetLatency(in.BotID, in.Method, d)
			return true, nil
		}),
		"dropwebhookdeliveries": call(func(in textIn) (any, error) { return done(s.DropWebhookDeliveries(in.BotID, in.N)) }),
		"refusewebhook":         call(func(in textIn) (any, error) { return done(s.RefuseWebhook(in.BotID, in.Refuse)) }),
		"clearfaults":           func(*params) (any, error) { s.ClearFaults(); return true, nil },
		"limits": func(p *params) (any, error) {
			if len(p.json) == 0 && len(p.str) == 0 {
				return s.CurrentLimits(), nil
			}
			l := s.CurrentLimits()
			if err := bind(p, &l); err != nil {
				return nil, err
			}
			s.SetLimits(l)
			return l, nil
		},
	}
}

func nonNil(e []Entry) []Entry {
	if e == nil {
		return []Entry{}
	}
	return e
}

func (s *Server) withUsername(c Chat, username string) (any, error) {
	if username == "" {
		return c, nil
	}
	if err := s.SetChatUsername(c.ID, username); err != nil {
		return nil, err
	}
	c.Username = username
	return c, nil
}

// serveControl answers /sandbox/<action> with {"ok":true,"result":...} or
// {"ok":false,"error":"..."} (HTTP 400).
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request, action string) {
	fn, ok := s.control[strings.ToLower(strings.Trim(action, "/"))]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "unknown control action " + action})
		return
	}
	p, err := parseParams(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	res, err := fn(p)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res})
}
