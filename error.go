package eventdesk

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Code classifies an error so that every interface (HTTP, HTML, CLI) can map
// it to its own vocabulary in exactly one place.
type Code string

// Error codes. Their string values are stable: they appear in problem types.
const (
	EInvalid        Code = "invalid"         // the request is malformed or breaks a rule of the input
	ENotFound       Code = "not_found"       // the thing does not exist (or the caller may not know it does)
	EConflict       Code = "conflict"        // the request contradicts the current state
	EPrecondition   Code = "precondition"    // an expected version did not match
	EUnauthorized   Code = "unauthorized"    // no or bad credentials
	EForbidden      Code = "forbidden"       // authenticated but not allowed
	ETooLarge       Code = "too_large"       // a payload exceeds a size limit
	EUnavailable    Code = "unavailable"     // a dependency is down or a wait timed out
	ENotImplemented Code = "not_implemented" // the adapter cannot do this (e.g. no global position)
	EInternal       Code = "internal"        // a bug or an unexpected failure
)

// Error is the application's error: a code, a message safe to show to the
// caller, and optional per-field problems.
type Error struct {
	Code    Code
	Message string
	// Fields maps a field name (as the caller spelled it, e.g. "title") to
	// what is wrong with it.
	Fields map[string]string
}

// Error implements error.
func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(e.Message)
	for i, k := range keys {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + e.Fields[k])
	}
	return b.String()
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error about one field.
func FieldError(field, problem string) *Error {
	return &Error{Code: EInvalid, Message: "invalid input", Fields: map[string]string{field: problem}}
}

// ErrorCode returns the code of the first *Error in err's chain
// (EPrecondition for a *WrongExpectedVersionError, EConflict for a
// *DuplicateAppendError), EInternal for any other non-nil error, and "" for
// nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var w *WrongExpectedVersionError
	if errors.As(err, &w) {
		return EPrecondition
	}
	var d *DuplicateAppendError
	if errors.As(err, &d) {
		// A reused idempotency key is the caller's doing, never a 5xx.
		return EConflict
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err: the message of an
// *Error, or a generic text for anything else (whose details belong in logs).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	var w *WrongExpectedVersionError
	if errors.As(err, &w) {
		return w.Error()
	}
	var d *DuplicateAppendError
	if errors.As(err, &d) {
		return d.Error()
	}
	return "internal error"
}

// ErrorFields returns the per-field problems of err, if any.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrWrongExpectedVersion is matched (errors.Is) by every
// *WrongExpectedVersionError.
var ErrWrongExpectedVersion = errors.New("wrong expected version")

// WrongExpectedVersionError reports an append whose expected version did not
// match the stream. Nothing was written.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's current version (0 if it does not exist).
	Actual int64
}

// Error implements error.
func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("wrong expected version for stream %s: expected %s, actual %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) true.
func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// ErrDuplicateAppend is matched (errors.Is) by every *DuplicateAppendError.
var ErrDuplicateAppend = errors.New("duplicate append")

// DuplicateAppendError reports an append whose idempotency key was already
// used. Nothing was written; the fields describe the earlier append.
type DuplicateAppendError struct {
	Key    string
	Stream string
	// FirstEventID is the id of the first event of the earlier append.
	FirstEventID string
	// Result is what the earlier append returned (Version: the version of
	// its last event).
	Result AppendResult
	// RequestHash is the earlier append's Metadata.RequestHash.
	RequestHash string
}

// Error implements error.
func (e *DuplicateAppendError) Error() string {
	return fmt.Sprintf("idempotency key %q was already used for stream %s", e.Key, e.Stream)
}

// Is makes errors.Is(err, ErrDuplicateAppend) true.
func (e *DuplicateAppendError) Is(target error) bool { return target == ErrDuplicateAppend }
