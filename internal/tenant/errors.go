package tenant

import (
	"errors"
	"strings"
)

// Stable problem codes of this package.
const (
	CodeValidation         = "validation_failed"
	CodeUnknownTextKey     = "unknown_text_key"
	CodeUnknownPlaceholder = "unknown_placeholder"
)

// ErrNotFound: no such tenant (or not visible to the caller).
var ErrNotFound = errors.New("tenant: not found")

// FieldIssue names one invalid field.
type FieldIssue struct {
	Field   string
	Code    string
	Message string
}

// InvalidError is bad input: it carries a stable code and the fields at
// fault, and nothing was changed.
type InvalidError struct {
	Code   string
	Detail string
	Fields []FieldIssue
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("tenant: ")
	b.WriteString(e.Code)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for _, f := range e.Fields {
		b.WriteString("; " + f.Field + ": " + f.Message)
	}
	return b.String()
}

func invalidField(field, code, msg string) *InvalidError {
	return &InvalidError{Code: CodeValidation, Fields: []FieldIssue{{Field: field, Code: code, Message: msg}}}
}

// validator collects field issues.
type validator struct{ fields []FieldIssue }

func (v *validator) check(ok bool, field, code, msg string) {
	if !ok {
		v.fields = append(v.fields, FieldIssue{Field: field, Code: code, Message: msg})
	}
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &InvalidError{Code: CodeValidation, Detail: "Some fields are invalid.", Fields: v.fields}
}
