package tgsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an error answered to the bot in Telegram's envelope. The HTTP
// status equals ErrorCode, as with the real API.
type apiError struct {
	Code        int
	Description string
	RetryAfter  int
	MigrateTo   int64
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Description) }

func badRequest(desc string) *apiError {
	return &apiError{Code: 400, Description: "Bad Request: " + desc}
}
func forbidden(desc string) *apiError { return &apiError{Code: 403, Description: "Forbidden: " + desc} }

func tooManyRequests(retryAfter int) *apiError {
	if retryAfter < 1 {
		retryAfter = 1
	}
	return &apiError{Code: 429, Description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter), RetryAfter: retryAfter}
}

// Telegram's own descriptions for the errors clients branch on.
func errUnauthorized() *apiError   { return &apiError{Code: 401, Description: "Unauthorized"} }
func errNotFound() *apiError       { return &apiError{Code: 404, Description: "Not Found"} }
func errChatNotFound() *apiError   { return badRequest("chat not found") }
func errThreadNotFound() *apiError { return badRequest("message thread not found") }
func errTextEmpty() *apiError      { return badRequest("message text is empty") }
func errTextTooLong() *apiError    { return badRequest("message is too long") }
func errCaptionTooLong() *apiError { return badRequest("message caption is too long") }
func errBlocked() *apiError        { return forbidden("bot was blocked by the user") }
func errCantInitiate() *apiError   { return forbidden("bot can't initiate conversation with a user") }
func errNotModified() *apiError {
	return badRequest("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
}
func errMessageToEdit() *apiError     { return badRequest("message to edit not found") }
func errMessageCantEdit() *apiError   { return badRequest("message can't be edited") }
func errMessageToDelete() *apiError   { return badRequest("message to delete not found") }
func errMessageCantDelete() *apiError { return badRequest("message can't be deleted") }
func errReplyNotFound() *apiError     { return badRequest("message to be replied not found") }
func errWrongFileID() *apiError       { return badRequest("wrong file identifier/HTTP URL specified") }
func errQueryTooOld() *apiError {
	return badRequest("query is too old and response timeout expired or query ID is invalid")
}
func errWebhookConflict() *apiError {
	return &apiError{Code: 409, Description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"}
}
func errPollConflict() *apiError {
	return &apiError{Code: 409, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
}

type envelope struct {
	OK          bool            `json:"ok"`
	Result      any             `json:"result,omitempty"`
	ErrorCode   int             `json:"error_code,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  *envelopeParams `json:"parameters,omitempty"`
}

type envelopeParams struct {
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
	RetryAfter      int   `json:"retry_after,omitempty"`
}

// okResult carries a result plus the description Telegram adds to some
// successful answers ("Webhook was set").
type okResult struct {
	result      any
	description string
}

func writeResult(w http.ResponseWriter, res any) {
	env := envelope{OK: true, Result: res}
	if r, ok := res.(okResult); ok {
		env.Result, env.Description = r.result, r.description
	}
	writeJSON(w, http.StatusOK, env)
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	env := envelope{OK: false, ErrorCode: e.Code, Description: e.Description}
	if e.RetryAfter > 0 || e.MigrateTo != 0 {
		env.Parameters = &envelopeParams{RetryAfter: e.RetryAfter, MigrateToChatID: e.MigrateTo}
	}
	if e.Code == 429 {
		w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	writeJSON(w, e.Code, env)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
