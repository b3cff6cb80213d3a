package bitrix24

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// Factory builds a portal's connector from its stored credentials (Config
// as JSON: webhook_url, application_token) for the crm service's registry.
func Factory(raw []byte, deps crm.Deps) (crm.Connector, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%w: credentials: %v", crm.ErrInvalid, err)
	}
	if cfg.ApplicationToken == "" {
		return nil, fmt.Errorf("%w: application_token is required (the outgoing events' token)", crm.ErrInvalid)
	}
	return New(cfg, deps.HTTPClient, deps.Limiter)
}

var _ crm.Factory = Factory
