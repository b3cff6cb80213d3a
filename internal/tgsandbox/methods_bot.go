package tgsandbox

import (
	"context"
	"encoding/json"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) getMe(_ context.Context, b *bot, _ *params) (any, error) {
	return b.tg(), nil
}

type botCommand struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// commandsKey identifies a command list by scope and language, as Telegram stores them.
func commandsKey(p *params) (string, error) {
	scope := json.RawMessage(`{"type":"default"}`)
	if raw, ok := p.raw("scope"); ok {
		var v any
		if _, err := p.Decode("scope", &v); err != nil {
			return "", err
		}
		scope, _ = json.Marshal(v)
		_ = raw
	}
	return string(scope) + "|" + p.String("language_code"), nil
}

func (s *Server) setMyCommands(_ context.Context, b *bot, p *params) (any, error) {
	var cmds []botCommand
	if _, err := p.Decode("commands", &cmds); err != nil {
		return nil, err
	}
	if len(cmds) > 100 {
		return nil, badRequest("too many commands")
	}
	for _, c := range cmds {
		if c.Command == "" || len(c.Command) > 32 {
			return nil, badRequest("command must be non-empty")
		}
		if c.Description == "" || len(c.Description) > 256 {
			return nil, badRequest("command description must be non-empty")
		}
	}
	key, err := commandsKey(p)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(cmds)
	b.commands[key] = raw
	return true, nil
}

func (s *Server) getMyCommands(_ context.Context, b *bot, p *params) (any, error) {
	key, err := commandsKey(p)
	if err != nil {
		return nil, err
	}
	if raw, ok := b.commands[key]; ok {
		return raw, nil
	}
	return []botCommand{}, nil
}

func (s *Server) deleteMyCommands(_ context.Context, b *bot, p *params) (any, error) {
	key, err := commandsKey(p)
	if err != nil {
		return nil, err
	}
	delete(b.commands, key)
	return true, nil
}
