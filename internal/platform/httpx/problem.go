// Package httpx holds the HTTP edge shared by every domain: the fiber app,
// RFC 9457 problem details with stable codes, request ids, access logs,
// body decoding and health endpoints. Domain packages return sentinel errors;
// their http.go maps them to a Problem once, here at the edge.
package httpx

import (
	"errors"
	"fmt"
	"net/http"
)

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details object with a stable machine code.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Code      string       `json:"code"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Code)
}

// NewProblem builds a problem; code is stable and documented in
// docs/errors.md, detail is a sentence for people.
func NewProblem(status int, code, detail string) *Problem {
	return &Problem{
		Type:   "https://docs.tgdesk.dev/errors/" + code,
		Title:  http.StatusText(status),
		Status: status,
		Code:   code,
		Detail: detail,
	}
}

// Common problems.
func BadRequest(code, detail string) *Problem { return NewProblem(http.StatusBadRequest, code, detail) }

// NotFound answers 404; it is also the answer for another tenant's object, so
// ids from other tenants are indistinguishable from ids that do not exist.
func NotFound(detail string) *Problem { return NewProblem(http.StatusNotFound, "not_found", detail) }

// Conflict answers 409.
func Conflict(code, detail string) *Problem { return NewProblem(http.StatusConflict, code, detail) }

// Forbidden answers 403.
func Forbidden(detail string) *Problem { return NewProblem(http.StatusForbidden, "forbidden", detail) }

// Unauthorized answers 401.
func Unauthorized(code, detail string) *Problem {
	return NewProblem(http.StatusUnauthorized, code, detail)
}

// Invalid answers 422 naming every bad field.
func Invalid(fields ...FieldError) *Problem {
	p := NewProblem(http.StatusUnprocessableEntity, "validation_failed", "Some fields are invalid.")
	p.Errors = fields
	return p
}

// TooManyRequests answers 429 with Retry-After.
func TooManyRequests(code, detail string, retryAfterSeconds int) *Problem {
	p := NewProblem(http.StatusTooManyRequests, code, detail)
	p.RetryAfter = retryAfterSeconds
	return p
}

// Unavailable answers 503 (a dependency is down; the caller should retry).
func Unavailable(code, detail string) *Problem {
	return NewProblem(http.StatusServiceUnavailable, code, detail)
}

// AsProblem extracts a Problem from err.
func AsProblem(err error) (*Problem, bool) {
	var p *Problem
	ok := errors.As(err, &p)
	return p, ok
}

// Validator collects field errors; the zero value is ready to use.
type Validator struct{ fields []FieldError }

// Check records a field error when ok is false.
func (v *Validator) Check(ok bool, field, code, message string) {
	if !ok {
		v.fields = append(v.fields, FieldError{Field: field, Code: code, Message: message})
	}
}

// Add records a field error.
func (v *Validator) Add(field, code, message string) { v.Check(false, field, code, message) }

// Err returns the collected errors as a 422 problem, or nil.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return Invalid(v.fields...)
}
