package support

import (
	"context"
	"net/http"
	"strings"
)

// newAPIRequest builds a parameterless Bot API call.
func newAPIRequest(ctx context.Context, apiURL, token, method string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(apiURL, "/")+"/bot"+token+"/"+method, strings.NewReader("{}"))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
