package eventdesk_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/google/go-cmp/cmp"
)

// Fixed identifiers and times: the domain is deterministic, so are its tests.
const (
	ticketID   = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"
	commentID1 = "0190a5b2-7c3d-7e4f-8a1b-000000000001"
	commentID2 = "0190a5b2-7c3d-7e4f-8a1b-000000000002"
	eventID1   = "0190a5b2-7c3d-7e4f-8a1b-e00000000001"
	eventID2   = "0190a5b2-7c3d-7e4f-8a1b-e00000000002"
	requester  = "alice"
	agent      = "bob"
)

var (
	stream = eventdesk.TicketStream(ticketID)
	t0     = time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
)

// at returns the time of the i-th event of a test stream (one minute apart).
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

// created is the first event of every test ticket.
func created() eventdesk.TicketCreated {
	return eventdesk.TicketCreated{
		Title: "Printer on fire", Description: "It smells of toner.", Priority: eventdesk.PriorityNormal,
		Requester: requester, Tags: []string{"hardware", "printer"},
	}
}

// step is one event of a test stream: a payload and who caused it.
type step struct {
	actor string
	p     eventdesk.Payload
}

// events encodes payloads into a stored stream: versions from 1, positions
// from 100, one minute apart, caused by agent.
func events(tb testing.TB, ps ...eventdesk.Payload) []eventdesk.Event {
	tb.Helper()
	steps := make([]step, len(ps))
	for i, p := range ps {
		steps[i] = step{agent, p}
	}
	return eventsBy(tb, steps...)
}

// eventsBy is events with an actor per event.
func eventsBy(tb testing.TB, steps ...step) []eventdesk.Event {
	tb.Helper()
	return appendEvents(tb, nil, steps...)
}

// appendEvents continues a stored stream with more events.
func appendEvents(tb testing.TB, prior []eventdesk.Event, steps ...step) []eventdesk.Event {
	tb.Helper()
	out := append([]eventdesk.Event(nil), prior...)
	for _, s := range steps {
		n := len(out) + 1
		out = append(out, encodeEvent(tb, s.p, eventdesk.Event{
			ID: fmt.Sprintf("0190a5b2-0000-7000-8000-%012d", n), Stream: stream, Version: int64(n),
			Position: int64(100 + n), RecordedAt: at(n), Metadata: eventdesk.Metadata{Actor: s.actor},
		}))
	}
	return out
}

// encodeEvent fills type, schema and data of env from p.
func encodeEvent(tb testing.TB, p eventdesk.Payload, env eventdesk.Event) eventdesk.Event {
	tb.Helper()
	typ, schema, data, err := eventdesk.Encode(p)
	if err != nil {
		tb.Fatalf("Encode(%#v): %v", p, err)
	}
	env.Type, env.Schema, env.Data = typ, schema, data
	return env
}

// fold folds a stored stream and fails the test if it does not fold.
func fold(tb testing.TB, es []eventdesk.Event) eventdesk.Ticket {
	tb.Helper()
	t, err := eventdesk.Fold(es)
	if err != nil {
		tb.Fatalf("Fold: %v", err)
	}
	return t
}

// history returns the payloads that bring a ticket into status s.
func history(s eventdesk.Status) []eventdesk.Payload {
	ps := []eventdesk.Payload{created()}
	move := func(from, to eventdesk.Status) { ps = append(ps, eventdesk.StatusChanged{From: from, To: to}) }
	switch s {
	case eventdesk.StatusNew:
	case eventdesk.StatusOpen:
		move("new", "open")
	case eventdesk.StatusPending:
		move("new", "open")
		move("open", "pending")
	case eventdesk.StatusResolved:
		move("new", "open")
		move("open", "resolved")
	case eventdesk.StatusClosed:
		move("new", "open")
		move("open", "resolved")
		move("resolved", "closed")
	default:
		panic("no history for status " + s)
	}
	return ps
}

// ticketIn returns the folded ticket in status s ("" for none).
func ticketIn(tb testing.TB, s eventdesk.Status) eventdesk.Ticket {
	tb.Helper()
	if s == "" {
		return eventdesk.Ticket{}
	}
	return fold(tb, events(tb, history(s)...))
}

// activeStatuses are the statuses a ticket can be edited in.
var activeStatuses = []eventdesk.Status{eventdesk.StatusNew, eventdesk.StatusOpen, eventdesk.StatusPending, eventdesk.StatusResolved}

// wantErr describes an expected rejection: its code and, if not nil, its
// exact per-field problems.
type wantErr struct {
	code   eventdesk.Code
	fields map[string]string
}

// checkErr compares err with want (nil: no error expected).
func checkErr(tb testing.TB, err error, want *wantErr) {
	tb.Helper()
	if want == nil {
		if err != nil {
			tb.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("no error, want %s", want.code)
	}
	var e *eventdesk.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) is not an *eventdesk.Error", err, err)
	}
	if e.Code != want.code {
		tb.Fatalf("code %q, want %q (error: %v)", e.Code, want.code, err)
	}
	if e.Message == "" {
		tb.Errorf("error has no message: %#v", e)
	}
	if want.fields != nil {
		if diff := cmp.Diff(want.fields, e.Fields); diff != "" {
			tb.Fatalf("fields (-want +got):\n%s\nerror: %v", diff, err)
		}
	}
}

// invalid is a wantErr of EInvalid with the given field problems
// (alternating field name and message).
func invalid(kv ...string) *wantErr {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &wantErr{code: eventdesk.EInvalid, fields: m}
}

var (
	notFound = &wantErr{code: eventdesk.ENotFound}
	conflict = &wantErr{code: eventdesk.EConflict}
)

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
