package tgsandbox

import (
	"fmt"
	"strings"
	"time"
)

// Fault makes the next Times calls of Method fail with the given answer.
// BotID 0 matches every bot; Method is matched case-insensitively.
type Fault struct {
	BotID       int64  `json:"bot_id,omitempty"`
	Method      string `json:"method"`
	Times       int    `json:"times"`
	Code        int    `json:"error_code"`
	Description string `json:"description"`
	RetryAfter  int    `json:"retry_after,omitempty"`
}

type latencyKey struct {
	bot    int64
	method string
}

// faults is guarded by Server.mu.
type faults struct {
	fail    []*Fault
	latency map[latencyKey]time.Duration
}

func newFaults() *faults { return &faults{latency: map[latencyKey]time.Duration{}} }

// take consumes one matching fault, oldest first.
func (f *faults) take(botID int64, method string) *apiError {
	for i, ft := range f.fail {
		if (ft.BotID != 0 && ft.BotID != botID) || strings.ToLower(ft.Method) != method {
			continue
		}
		ft.Times--
		if ft.Times <= 0 {
			f.fail = append(f.fail[:i], f.fail[i+1:]...)
		}
		return &apiError{Code: ft.Code, Description: ft.Description, RetryAfter: ft.RetryAfter}
	}
	return nil
}

// FailNext arms a fault. A missing description is filled from the code the
// way Telegram words it ("Too Many Requests: retry after N" for 429).
func (s *Server) FailNext(f Fault) error {
	if f.Method == "" || f.Times <= 0 {
		return fmt.Errorf("tgsandbox: fail next: method and times > 0 are required")
	}
	if f.Code == 0 {
		f.Code = 500
	}
	if f.Description == "" {
		switch f.Code {
		case 429:
			f.RetryAfter = max(1, f.RetryAfter)
			f.Description = fmt.Sprintf("Too Many Requests: retry after %d", f.RetryAfter)
		case 400:
			f.Description = "Bad Request: injected fault"
		case 403:
			f.Description = "Forbidden: injected fault"
		default:
			f.Description = "Internal Server Error"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.fail = append(s.faults.fail, &f)
	return nil
}

// SetLatency delays every call of method (by botID, 0 for all) by d; d 0 removes it.
func (s *Server) SetLatency(botID int64, method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := latencyKey{botID, strings.ToLower(method)}
	if d <= 0 {
		delete(s.faults.latency, k)
		return
	}
	s.faults.latency[k] = d
}

func (s *Server) faultLatency(botID int64, method string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.faults.latency[latencyKey{botID, method}]; ok {
		return d
	}
	return s.faults.latency[latencyKey{0, method}]
}

// ClearFaults removes armed failures, latencies and webhook faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = newFaults()
	for _, b := range s.st.bots {
		b.dropDeliveries, b.refuseWebhook = 0, false
	}
}

// DropWebhookDeliveries loses the next n updates of a bot: they are never
// delivered, as if the network ate them (the delivery counts as successful).
func (s *Server) DropWebhookDeliveries(botID int64, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.bots[botID]
	if b == nil {
		return fmt.Errorf("tgsandbox: drop deliveries: bot %d not found", botID)
	}
	b.dropDeliveries = n
	return nil
}

// RefuseWebhook makes every delivery attempt fail with "Connection refused"
// until called with false; updates wait and are retried with back-off.
func (s *Server) RefuseWebhook(botID int64, refuse bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.bots[botID]
	if b == nil {
		return fmt.Errorf("tgsandbox: refuse webhook: bot %d not found", botID)
	}
	b.refuseWebhook = refuse
	s.wakeWebhookLocked(b)
	return nil
}
