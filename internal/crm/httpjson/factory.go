package httpjson

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// Factory builds a tenant system's connector from its stored credentials
// (Config as JSON: base_url, token, webhook_secret) for the crm service's
// registry.
func Factory(raw []byte, deps crm.Deps) (crm.Connector, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%w: credentials: %v", crm.ErrInvalid, err)
	}
	return New(cfg, deps.HTTPClient, deps.Limiter)
}

var _ crm.Factory = Factory
