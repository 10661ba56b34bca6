package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// ProblemBase starts every problem type URI; the code follows it.
const ProblemBase = "https://eventdesk.dev/problems/"

// Codes of problems that only HTTP knows; the others are eventdesk codes.
const (
	codeRouteNotFound        eventdesk.Code = "route_not_found"
	codeMethodNotAllowed     eventdesk.Code = "method_not_allowed"
	codeUnsupportedMedia     eventdesk.Code = "unsupported_media_type"
	codePreconditionRequired eventdesk.Code = "precondition_required"
	codeNotReady             eventdesk.Code = "not_ready"
	codeNotAcceptable        eventdesk.Code = "not_acceptable"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request path the problem is about.
	Instance string `json:"instance,omitempty"`
	// Errors maps a field (or header / query parameter) to its problem.
	Errors map[string]string `json:"errors,omitempty"`
	// CurrentVersion is the ticket's version on a 412.
	CurrentVersion *int64 `json:"currentVersion,omitempty"`
	// RequestID lets an operator find the request in the logs.
	RequestID string `json:"requestId,omitempty"`
}

// status is the one map from error codes to HTTP statuses and titles.
// Every error response goes through it.
func status(code eventdesk.Code) (int, string) {
	switch code {
	case eventdesk.EInvalid:
		return http.StatusBadRequest, "Invalid request"
	case eventdesk.EUnauthorized:
		return http.StatusUnauthorized, "Authentication required"
	case eventdesk.EForbidden:
		return http.StatusForbidden, "Forbidden"
	case eventdesk.ENotFound:
		return http.StatusNotFound, "Not found"
	case codeRouteNotFound:
		return http.StatusNotFound, "No such route"
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed, "Method not allowed"
	case codeNotAcceptable:
		return http.StatusNotAcceptable, "Not acceptable"
	case eventdesk.EConflict:
		return http.StatusConflict, "Conflict"
	case eventdesk.EPrecondition:
		return http.StatusPreconditionFailed, "Precondition failed"
	case eventdesk.ETooLarge:
		return http.StatusRequestEntityTooLarge, "Request too large"
	case codeUnsupportedMedia:
		return http.StatusUnsupportedMediaType, "Unsupported media type"
	case app.EIdempotencyKeyReused:
		return http.StatusUnprocessableEntity, "Idempotency key reused"
	case codePreconditionRequired:
		return http.StatusPreconditionRequired, "Precondition required"
	case eventdesk.ENotImplemented:
		return http.StatusNotImplemented, "Not implemented"
	case codeNotReady:
		return http.StatusServiceUnavailable, "Not ready"
	case eventdesk.EUnavailable:
		return http.StatusGatewayTimeout, "Unavailable"
	}
	return http.StatusInternalServerError, "Internal error"
}

// newProblem builds the problem for err.
func newProblem(err error) problem {
	code := eventdesk.ErrorCode(err)
	st, title := status(code)
	if st == http.StatusInternalServerError {
		code = eventdesk.EInternal
	}
	p := problem{Type: ProblemBase + string(code), Title: title, Status: st, Detail: eventdesk.ErrorMessage(err), Errors: eventdesk.ErrorFields(err)}
	if w, ok := errors.AsType[*eventdesk.WrongExpectedVersionError](err); ok {
		v := w.Actual
		p.CurrentVersion = &v
		p.Detail = "the ticket is at version " + strconv.FormatInt(v, 10) + "; fetch it again and retry with If-Match: \"" + strconv.FormatInt(v, 10) + "\""
	}
	return p
}

// httpError returns an *eventdesk.Error for an HTTP-only problem.
func httpError(code eventdesk.Code, msg string) error {
	return &eventdesk.Error{Code: code, Message: msg}
}
