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
	if err := validName("stream", -1, "", stream, MaxStreamLen); err != nil {
		return err
	}
	if expected < StreamExists {
		return FieldError("expectedVersion", fmt.Sprintf("%d is not a version (use ≥ 0, any or stream exists)", int64(expected)))
	}
	// Field names are formatted only for an error: this runs on every
	// append.
	field := func(i int, name string) string { return fmt.Sprintf("events[%d].%s", i, name) }
	var seen map[string]struct{}
	if len(events) > 1 {
		seen = make(map[string]struct{}, len(events))
	}
	for i, e := range events {
		if err := validName("events", i, "id", e.ID, MaxEventID); err != nil {
			return err
		}
		if seen != nil {
			if _, dup := seen[e.ID]; dup {
				return FieldError(field(i, "id"), fmt.Sprintf("%q appears twice in the append", e.ID))
			}
			seen[e.ID] = struct{}{}
		}
		if err := validName("events", i, "type", e.Type, MaxEventType); err != nil {
			return err
		}
		if e.Schema < 1 {
			return FieldError(field(i, "schema"), "must be at least 1")
		}
		if !json.Valid(e.Data) {
			return FieldError(field(i, "data"), "must be valid JSON")
		}
	}
	return nil
}

// validName accepts non-empty UTF-8 without control characters, up to max
// bytes. The field it names in an error is name, or name[i].sub when i ≥ 0.
func validName(name string, i int, sub, s string, max int) error {
	msg := ""
	switch {
	case s == "":
		msg = "must not be empty"
	case len(s) > max:
		msg = fmt.Sprintf("must be at most %d bytes", max)
	case !utf8.ValidString(s):
		msg = "must be valid UTF-8"
	default:
		for _, r := range s {
			if unicode.IsControl(r) {
				msg = "must not contain control characters"
				break
			}
		}
	}
	if msg == "" {
		return nil
	}
	if i >= 0 {
		name = fmt.Sprintf("%s[%d].%s", name, i, sub)
	}
	return FieldError(name, msg)
}
