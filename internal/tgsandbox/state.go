package tgsandbox

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// state is everything Reset forgets. It is guarded by Server.mu.
type state struct {
	seq         int64
	nextUser    int64
	nextBot     int64
	nextGroup   int64
	nextSuper   int64
	bots        map[int64]*bot
	tokens      map[string]*bot
	users       map[int64]*user
	groups      map[int64]*chat
	privates    map[privKey]*chat
	files       map[string]*file
	filePaths   map[string]*file
	callbacks   map[string]*callbackQuery
	inviteLinks map[string]*inviteLink
}

func newState() *state {
	return &state{
		nextUser: 100000000, nextBot: 7000000000, nextGroup: 400000000, nextSuper: 1900000000,
		bots: map[int64]*bot{}, tokens: map[string]*bot{}, users: map[int64]*user{},
		groups: map[int64]*chat{}, privates: map[privKey]*chat{},
		files: map[string]*file{}, filePaths: map[string]*file{},
		callbacks: map[string]*callbackQuery{}, inviteLinks: map[string]*inviteLink{},
	}
}

func (st *state) next() int64 { st.seq++; return st.seq }

// randomString returns n characters of the token alphabet.
func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// CreateBot registers a bot with a fresh token "<id>:<35 chars>".
func (s *Server) CreateBot(username, firstName string) Bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.nextBot++
	token := fmt.Sprintf("%d:%s", s.st.nextBot, randomString(35))
	b, _ := s.createBotLocked(token, username, firstName)
	return b.Bot
}

// CreateBotWithToken registers a bot with a given token, for demos whose
// configuration already names one. The token must look like Telegram's.
func (s *Server) CreateBotWithToken(token, username, firstName string) (Bot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.createBotLocked(token, username, firstName)
	if err != nil {
		return Bot{}, err
	}
	return b.Bot, nil
}

func (s *Server) createBotLocked(token, username, firstName string) (*bot, error) {
	m := tokenRe.FindStringSubmatch(token)
	if m == nil {
		return nil, fmt.Errorf("tgsandbox: create bot: token %q does not match %s", token, tokenRe)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if b, ok := s.st.bots[id]; ok {
		return b, nil
	}
	if username == "" {
		username = fmt.Sprintf("sandbox%d_bot", id)
	}
	if firstName == "" {
		firstName = strings.TrimSuffix(strings.TrimSuffix(username, "_bot"), "bot")
	}
	b := &bot{
		Bot:      Bot{ID: id, Token: token, Username: username, FirstName: firstName},
		commands: map[string]json.RawMessage{}, nextUpd: 1, notify: make(chan struct{}), calls: map[string]int{},
	}
	s.st.bots[id] = b
	s.st.tokens[token] = b
	return b, nil
}

// Bots lists the registered bots.
func (s *Server) Bots() []Bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Bot, 0, len(s.st.bots))
	for _, b := range s.st.bots {
		out = append(out, b.Bot)
	}
	sortBy(out, func(b Bot) int64 { return b.ID })
	return out
}

// CreateUser registers a human user.
func (s *Server) CreateUser(firstName, username string) User {
	return s.CreateUserWith(User{FirstName: firstName, Username: username, LanguageCode: "en"})
}

// CreateUserWith registers a user with every field given; ID 0 picks one.
func (s *Server) CreateUserWith(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == 0 {
		s.st.nextUser++
		u.ID = s.st.nextUser
	}
	if u.FirstName == "" {
		u.FirstName = fmt.Sprintf("User%d", u.ID)
	}
	s.st.users[u.ID] = &user{User: u, blocked: map[int64]bool{}}
	return u
}

// Users lists the registered users.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.st.users))
	for _, u := range s.st.users {
		out = append(out, u.User)
	}
	sortBy(out, func(u User) int64 { return u.ID })
	return out
}

// CallCount reports how many times a bot called a method (any case), faults included.
func (s *Server) CallCount(botID int64, method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.st.bots[botID]; b != nil {
		return b.calls[strings.ToLower(method)]
	}
	return 0
}

// newFileID returns a file_id and file_unique_id pair shaped like Telegram's.
func (st *state) newFileID(prefix string) (string, string) {
	n := st.next()
	return fmt.Sprintf("%s%08d%s", prefix, n, randomString(40)), fmt.Sprintf("AQAD%06d%s", n, randomString(6))
}
