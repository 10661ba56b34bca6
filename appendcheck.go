package eventdesk

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limits on what an append may carry. They are generous on purpose: they
// exist so that a store never keeps something it cannot index or read
// back, not to restrict the domain.
const (
	MaxStreamLen = 256 // bytes
	MaxEventID   = 128 // bytes
	MaxEventType = 128 // bytes
)

// ValidateAppend checks an append's arguments the same way in every
// adapter, before anything is written: a non-empty printable stream name, a
// known expected version, and for each event an id (unique within the
// append), a type, a schema ≥ 1 and data that is valid JSON. It returns an
// EInvalid *Error naming the offending field, e.g. "events[2].data".
func ValidateAppend(stream string, expected ExpectedVersion, events []EventData) error {
	if err := validName("stream", stream, MaxStreamLen); err != nil {
		return err
	}
	if expected < StreamExists {
		return FieldError("expectedVersion", fmt.Sprintf("%d is not a version (use ≥ 0, any or stream exists)", int64(expected)))
	}
	seen := make(map[string]struct{}, len(events))
	for i, e := range events {
		field := func(name string) string { return fmt.Sprintf("events[%d].%s", i, name) }
		if err := validName(field("id"), e.ID, MaxEventID); err != nil {
			return err
		}
		if _, dup := seen[e.ID]; dup {
			return FieldError(field("id"), fmt.Sprintf("%q appears twice in the append", e.ID))
		}
		seen[e.ID] = struct{}{}
		if err := validName(field("type"), e.Type, MaxEventType); err != nil {
			return err
		}
		if e.Schema < 1 {
			return FieldError(field("schema"), "must be at least 1")
		}
		if !json.Valid(e.Data) {
			return FieldError(field("data"), "must be valid JSON")
		}
	}
	return nil
}

// validName accepts non-empty UTF-8 without control characters, up to max
// bytes.
func validName(field, s string, max int) error {
	switch {
	case s == "":
		return FieldError(field, "must not be empty")
	case len(s) > max:
		return FieldError(field, fmt.Sprintf("must be at most %d bytes", max))
	case !utf8.ValidString(s):
		return FieldError(field, "must be valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return FieldError(field, "must not contain control characters")
		}
	}
	return nil
}
