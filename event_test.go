package eventdesk_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

func TestExpectedVersion(t *testing.T) {
	cases := []struct {
		e       eventdesk.ExpectedVersion
		str     string
		matches []int64 // actual versions that match, of 0…3
	}{
		{eventdesk.AnyVersion, "any", []int64{0, 1, 2, 3}},
		{eventdesk.NoStream, "no stream", []int64{0}},
		{eventdesk.StreamExists, "stream exists", []int64{1, 2, 3}},
		{eventdesk.ExactVersion(0), "no stream", []int64{0}},
		{eventdesk.ExactVersion(1), "1", []int64{1}},
		{eventdesk.ExactVersion(3), "3", []int64{3}},
		{eventdesk.ExpectedVersion(-3), "-3", nil},
	}
	for _, tc := range cases {
		if got := tc.e.String(); got != tc.str {
			t.Errorf("ExpectedVersion(%d).String() = %q, want %q", int64(tc.e), got, tc.str)
		}
		for actual := int64(0); actual <= 3; actual++ {
			want := false
			for _, m := range tc.matches {
				want = want || m == actual
			}
			if got := tc.e.Matches(actual); got != want {
				t.Errorf("%s.Matches(%d) = %v, want %v", tc.e, actual, got, want)
			}
		}
	}
}

func TestNormalizeTime(t *testing.T) {
	in := time.Date(2025, 3, 4, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	got := eventdesk.NormalizeTime(in)
	want := time.Date(2025, 3, 4, 9, 0, 0, 123456000, time.UTC)
	if got != want { // == on purpose: location and monotonic reading matter
		t.Errorf("NormalizeTime = %v, want %v", got, want)
	}
	if again := eventdesk.NormalizeTime(got); again != got {
		t.Errorf("NormalizeTime is not idempotent: %v", again)
	}
	if got := eventdesk.NormalizeTime(time.Time{}); !got.IsZero() {
		t.Errorf("NormalizeTime(zero) = %v", got)
	}
	// Before 1970 truncation still rounds toward the earlier microsecond
	// boundary consistently.
	old := time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)
	if got := eventdesk.NormalizeTime(old); got.Nanosecond()%1000 != 0 || got.After(old) {
		t.Errorf("NormalizeTime(%v) = %v", old, got)
	}
}

// hashedEvent is a fixed event for ChainHash tests.
func hashedEvent() eventdesk.Event {
	return eventdesk.Event{
		ID: "id", Stream: "ticket-x", Version: 3, Position: 9, Type: "ticket.created", Schema: 1,
		Data:       json.RawMessage(`{"a": 1, "b":"<&>"}`),
		Metadata:   eventdesk.Metadata{Actor: "alice", CorrelationID: "c"},
		RecordedAt: time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.FixedZone("x", 3600)),
	}
}

func TestChainHash(t *testing.T) {
	e := hashedEvent()
	// The canonical bytes are a storage format: stored chains break if they
	// change. This value was computed when the format was fixed.
	const golden = "d612800c61ca9e3df56abc12c762171cfec91a8287ced2323f612e9be9d03a6b"
	if got := eventdesk.ChainHash("prev", e); got != golden {
		t.Fatalf("ChainHash = %s, want %s (the canonical format changed)", got, golden)
	}

	same := map[string]func(*eventdesk.Event){
		"position":           func(e *eventdesk.Event) { e.Position = 99 },
		"hash field":         func(e *eventdesk.Event) { e.Hash = "whatever" },
		"time zone":          func(e *eventdesk.Event) { e.RecordedAt = e.RecordedAt.UTC() },
		"insignificant JSON": func(e *eventdesk.Event) { e.Data = json.RawMessage("{\n  \"a\" : 1,\t\"b\": \"<&>\"\n}") },
	}
	for name, edit := range same {
		c := hashedEvent()
		edit(&c)
		if got := eventdesk.ChainHash("prev", c); got != golden {
			t.Errorf("%s changed the hash", name)
		}
	}
	differ := map[string]func(*eventdesk.Event){
		"id":             func(e *eventdesk.Event) { e.ID = "id2" },
		"stream":         func(e *eventdesk.Event) { e.Stream = "ticket-y" },
		"version":        func(e *eventdesk.Event) { e.Version = 4 },
		"type":           func(e *eventdesk.Event) { e.Type = "ticket.commented" },
		"schema":         func(e *eventdesk.Event) { e.Schema = 2 },
		"data":           func(e *eventdesk.Event) { e.Data = json.RawMessage(`{"a":2,"b":"<&>"}`) },
		"key order":      func(e *eventdesk.Event) { e.Data = json.RawMessage(`{"b":"<&>","a":1}`) },
		"no data":        func(e *eventdesk.Event) { e.Data = nil },
		"invalid data":   func(e *eventdesk.Event) { e.Data = json.RawMessage(`{"a":1,"b":"<&>"`) },
		"actor":          func(e *eventdesk.Event) { e.Metadata.Actor = "bob" },
		"causation":      func(e *eventdesk.Event) { e.Metadata.CausationID = "x" },
		"idempotency":    func(e *eventdesk.Event) { e.Metadata.IdempotencyKey = "k" },
		"request hash":   func(e *eventdesk.Event) { e.Metadata.RequestHash = "h" },
		"traceparent":    func(e *eventdesk.Event) { e.Metadata.TraceParent = "00-x" },
		"recorded at":    func(e *eventdesk.Event) { e.RecordedAt = e.RecordedAt.Add(time.Microsecond) },
		"zero time":      func(e *eventdesk.Event) { e.RecordedAt = time.Time{} },
		"correlation id": func(e *eventdesk.Event) { e.Metadata.CorrelationID = "" },
	}
	seen := map[string]string{golden: "original"}
	for name, edit := range differ {
		c := hashedEvent()
		edit(&c)
		got := eventdesk.ChainHash("prev", c)
		if other, dup := seen[got]; dup {
			t.Errorf("%s: same hash as %s", name, other)
		}
		seen[got] = name
	}
	if eventdesk.ChainHash("", e) == golden || eventdesk.ChainHash("prev2", e) == golden {
		t.Error("the previous hash does not change the hash")
	}
}

// TestChainHashInvalidData checks that events whose data is not JSON are
// still hashed by their content.
func TestChainHashInvalidData(t *testing.T) {
	a, b := hashedEvent(), hashedEvent()
	a.Data, b.Data = json.RawMessage(`{bad`), json.RawMessage(`{worse`)
	ha, hb := eventdesk.ChainHash("", a), eventdesk.ChainHash("", b)
	if ha == hb {
		t.Error("two events with different invalid data hash alike")
	}
	c := a
	c.ID = "other"
	if eventdesk.ChainHash("", c) == ha {
		t.Error("the id of an event with invalid data does not change its hash")
	}
	if ha != eventdesk.ChainHash("", a) {
		t.Error("ChainHash is not deterministic")
	}
	if len(ha) != 64 {
		t.Errorf("hash %q is not hex SHA-256", ha)
	}
}
