package eventdesk_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/google/go-cmp/cmp"
)

func TestErrorFormatting(t *testing.T) {
	cases := []struct {
		err  *eventdesk.Error
		want string
	}{
		{eventdesk.Errorf(eventdesk.ENotFound, "ticket %s not found", "x"), "ticket x not found"},
		{eventdesk.FieldError("title", "must not be empty"), "invalid input: title: must not be empty"},
		{&eventdesk.Error{Code: eventdesk.EInvalid, Message: "invalid ticket", Fields: map[string]string{"tags": "t", "title": "x", "priority": "p"}},
			"invalid ticket: priority: p; tags: t; title: x"},
		{&eventdesk.Error{Code: eventdesk.EConflict, Message: "m", Fields: map[string]string{}}, "m"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	if e := eventdesk.FieldError("title", "bad"); e.Code != eventdesk.EInvalid || !cmp.Equal(e.Fields, map[string]string{"title": "bad"}) {
		t.Errorf("FieldError = %#v", e)
	}
	if e := eventdesk.Errorf(eventdesk.ETooLarge, "%d > %d", 2, 1); e.Code != eventdesk.ETooLarge || e.Message != "2 > 1" || e.Fields != nil {
		t.Errorf("Errorf = %#v", e)
	}
}

func TestErrorCodeMessageFields(t *testing.T) {
	field := eventdesk.FieldError("title", "must not be empty")
	wev := &eventdesk.WrongExpectedVersionError{Stream: stream, Expected: eventdesk.ExactVersion(3), Actual: 5}
	dup := &eventdesk.DuplicateAppendError{Key: "k1", Stream: stream, FirstEventID: eventID1, Result: eventdesk.AppendResult{Version: 2, Position: 9}}
	plain := errors.New("disk on fire")
	wrap := func(err error) error {
		return fmt.Errorf("app: open ticket: %w", fmt.Errorf("sqlite: append: %w", err))
	}

	cases := []struct {
		name    string
		err     error
		code    eventdesk.Code
		message string
		fields  map[string]string
	}{
		{"nil", nil, "", "internal error", nil},
		{"*Error", field, eventdesk.EInvalid, "invalid input", map[string]string{"title": "must not be empty"}},
		{"wrapped *Error", wrap(field), eventdesk.EInvalid, "invalid input", map[string]string{"title": "must not be empty"}},
		{"joined *Error", errors.Join(plain, eventdesk.Errorf(eventdesk.EForbidden, "no")), eventdesk.EForbidden, "no", nil},
		{"wrong expected version", wev, eventdesk.EPrecondition, wev.Error(), nil},
		{"wrapped wrong expected version", wrap(wev), eventdesk.EPrecondition, wev.Error(), nil},
		{"duplicate append", dup, eventdesk.EConflict, dup.Error(), nil},
		{"wrapped duplicate append", wrap(dup), eventdesk.EConflict, dup.Error(), nil},
		{"plain error", plain, eventdesk.EInternal, "internal error", nil},
		{"wrapped plain error", wrap(io.ErrUnexpectedEOF), eventdesk.EInternal, "internal error", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventdesk.ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.code)
			}
			if tc.err != nil {
				if got := eventdesk.ErrorMessage(tc.err); got != tc.message {
					t.Errorf("ErrorMessage = %q, want %q", got, tc.message)
				}
			}
			if diff := cmp.Diff(tc.fields, eventdesk.ErrorFields(tc.err)); diff != "" {
				t.Errorf("ErrorFields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWrongExpectedVersionError(t *testing.T) {
	var err error = fmt.Errorf("sqlite: append: %w", &eventdesk.WrongExpectedVersionError{Stream: stream, Expected: eventdesk.NoStream, Actual: 4})
	if !errors.Is(err, eventdesk.ErrWrongExpectedVersion) {
		t.Error("errors.Is(err, ErrWrongExpectedVersion) = false")
	}
	if errors.Is(err, eventdesk.ErrDuplicateAppend) {
		t.Error("errors.Is(err, ErrDuplicateAppend) = true")
	}
	var w *eventdesk.WrongExpectedVersionError
	if !errors.As(err, &w) || w.Actual != 4 || w.Expected != eventdesk.NoStream {
		t.Fatalf("errors.As = %+v", w)
	}
	want := "wrong expected version for stream " + stream + ": expected no stream, actual 4"
	if got := w.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	for _, e := range []eventdesk.ExpectedVersion{eventdesk.AnyVersion, eventdesk.StreamExists, eventdesk.ExactVersion(7)} {
		got := (&eventdesk.WrongExpectedVersionError{Stream: "s", Expected: e, Actual: 0}).Error()
		if want := "wrong expected version for stream s: expected " + e.String() + ", actual 0"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	}
}

func TestDuplicateAppendError(t *testing.T) {
	d := &eventdesk.DuplicateAppendError{Key: "abc", Stream: stream, FirstEventID: eventID1, Result: eventdesk.AppendResult{Version: 3, Position: 17}, RequestHash: "h"}
	var err error = fmt.Errorf("store: %w", d)
	if !errors.Is(err, eventdesk.ErrDuplicateAppend) {
		t.Error("errors.Is(err, ErrDuplicateAppend) = false")
	}
	if errors.Is(err, eventdesk.ErrWrongExpectedVersion) {
		t.Error("errors.Is(err, ErrWrongExpectedVersion) = true")
	}
	var got *eventdesk.DuplicateAppendError
	if !errors.As(err, &got) || got != d {
		t.Fatalf("errors.As = %+v", got)
	}
	if want := `idempotency key "abc" was already used for stream ` + stream; d.Error() != want {
		t.Errorf("Error() = %q, want %q", d.Error(), want)
	}
}
