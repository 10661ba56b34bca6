package eventdesk_test

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/google/go-cmp/cmp"
)

// samplePayloads has one payload of every event type, every field set.
func samplePayloads() []eventdesk.Payload {
	c := created()
	c.Assignee = agent
	return []eventdesk.Payload{
		c,
		eventdesk.TitleChanged{From: "a", To: "b"},
		eventdesk.DescriptionChanged{Description: "text\nwith lines"},
		eventdesk.PriorityChanged{From: "low", To: "urgent", Reason: "negative sentiment"},
		eventdesk.TagsChanged{Added: []string{"a", "b"}, Removed: []string{"c"}},
		eventdesk.TicketAssigned{Assignee: agent, Previous: "carol"},
		eventdesk.TicketUnassigned{Previous: agent},
		eventdesk.StatusChanged{From: "open", To: "pending"},
		eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "<b>hi</b> & bye", Internal: true},
		eventdesk.SentimentScored{SourceEventID: eventID1, Score: -0.123456789, Label: "negative"},
	}
}

func TestEventTypes(t *testing.T) {
	want := []string{
		"ticket.assigned", "ticket.commented", "ticket.created", "ticket.description_changed", "ticket.priority_changed",
		"ticket.sentiment_scored", "ticket.status_changed", "ticket.tags_changed", "ticket.title_changed", "ticket.unassigned",
	}
	if diff := cmp.Diff(want, eventdesk.EventTypes()); diff != "" {
		t.Errorf("EventTypes (-want +got):\n%s", diff)
	}
	var covered []string
	for _, p := range samplePayloads() {
		covered = append(covered, p.EventType())
	}
	slices.Sort(covered)
	if diff := cmp.Diff(want, covered); diff != "" {
		t.Errorf("samplePayloads does not cover every type (-want +got):\n%s", diff)
	}
	for _, typ := range want {
		wantSchema := 1
		if typ == eventdesk.TypeTicketCreated {
			wantSchema = 2
		}
		if got := eventdesk.CurrentSchema(typ); got != wantSchema {
			t.Errorf("CurrentSchema(%s) = %d, want %d", typ, got, wantSchema)
		}
	}
	if got := eventdesk.CurrentSchema("ticket.nope"); got != 0 {
		t.Errorf("CurrentSchema of an unknown type = %d, want 0", got)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, p := range samplePayloads() {
		t.Run(p.EventType(), func(t *testing.T) {
			typ, schema, data, err := eventdesk.Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			if typ != p.EventType() || schema != eventdesk.CurrentSchema(typ) {
				t.Errorf("Encode = %s schema %d, want %s schema %d", typ, schema, p.EventType(), eventdesk.CurrentSchema(typ))
			}
			got, err := eventdesk.Decode(eventdesk.Event{ID: eventID1, Type: typ, Schema: schema, Data: data})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			// A pointer encodes like the value.
			_, _, pdata, err := eventdesk.Encode(pointerTo(p))
			if err != nil || !bytes.Equal(pdata, data) {
				t.Errorf("Encode(&p) = %s, %v; want %s", pdata, err, data)
			}
		})
	}
}

// pointerTo returns a pointer to a copy of the payload p (as a Payload).
func pointerTo(p eventdesk.Payload) eventdesk.Payload {
	switch v := p.(type) {
	case eventdesk.TicketCreated:
		return &v
	case eventdesk.TitleChanged:
		return &v
	case eventdesk.DescriptionChanged:
		return &v
	case eventdesk.PriorityChanged:
		return &v
	case eventdesk.TagsChanged:
		return &v
	case eventdesk.TicketAssigned:
		return &v
	case eventdesk.TicketUnassigned:
		return &v
	case eventdesk.StatusChanged:
		return &v
	case eventdesk.TicketCommented:
		return &v
	case eventdesk.SentimentScored:
		return &v
	}
	panic("unknown payload")
}

// TestEncodeWritesCurrentSchema pins the stored JSON of ticket.created: the
// text is "description", never schema 1's "text".
func TestEncodeWritesCurrentSchema(t *testing.T) {
	typ, schema, data, err := eventdesk.Encode(created())
	if err != nil {
		t.Fatal(err)
	}
	if typ != "ticket.created" || schema != 2 {
		t.Errorf("Encode = %s schema %d, want ticket.created schema 2", typ, schema)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"title": "Printer on fire", "description": "It smells of toner.", "priority": "normal",
		"requester": "alice", "tags": []any{"hardware", "printer"},
	}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("stored fields (-want +got):\n%s", diff)
	}
}

type unknownPayload struct{}

func (unknownPayload) EventType() string { return "ticket.unknown" }

func TestEncodeErrors(t *testing.T) {
	for name, p := range map[string]eventdesk.Payload{
		"nil":          nil,
		"unknown type": unknownPayload{},
		"NaN score":    eventdesk.SentimentScored{SourceEventID: eventID1, Score: math.NaN()},
	} {
		t.Run(name, func(t *testing.T) {
			typ, schema, data, err := eventdesk.Encode(p)
			if err == nil {
				t.Fatalf("Encode accepted it: %s %d %s", typ, schema, data)
			}
			if eventdesk.ErrorCode(err) != eventdesk.EInternal {
				t.Errorf("code %s, want internal (a payload that cannot be written is a bug)", eventdesk.ErrorCode(err))
			}
		})
	}
}

// schema1Created is a ticket.created event as the original system wrote it.
const schema1Created = `{"title":"Printer on fire","text":"It smells of toner.","priority":"high","requester":"alice","tags":["printer"]}`

func TestUpcastTicketCreatedSchema1(t *testing.T) {
	stored := []byte(schema1Created)
	e := eventdesk.Event{ID: eventID1, Stream: stream, Version: 1, Type: "ticket.created", Schema: 1, Data: stored, RecordedAt: at(1)}
	got, err := eventdesk.Decode(e)
	if err != nil {
		t.Fatal(err)
	}
	want := eventdesk.TicketCreated{Title: "Printer on fire", Description: "It smells of toner.", Priority: "high", Requester: "alice", Tags: []string{"printer"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	if string(e.Data) != schema1Created || e.Schema != 1 {
		t.Errorf("stored event changed: schema %d, data %s", e.Schema, e.Data)
	}
	// A stream that starts with a schema-1 event folds like one written
	// today.
	ticket := fold(t, []eventdesk.Event{e})
	if ticket.Description != "It smells of toner." || ticket.Title != "Printer on fire" {
		t.Errorf("folded ticket %+v", ticket)
	}
	// The upcast event re-encodes as schema 2.
	typ, schema, data, err := eventdesk.Encode(got)
	if err != nil || typ != "ticket.created" || schema != 2 || !strings.Contains(string(data), `"description":"It smells of toner."`) || strings.Contains(string(data), `"text"`) {
		t.Errorf("re-encoded as %s schema %d %s (%v)", typ, schema, data, err)
	}
}

func TestUpcast(t *testing.T) {
	cases := []struct {
		name   string
		typ    string
		schema int
		data   string
		want   string // compared as JSON values; "" with err
		err    bool
	}{
		{name: "schema 1 renames text", typ: "ticket.created", schema: 1, data: `{"title":"t","text":"d"}`, want: `{"title":"t","description":"d"}`},
		{name: "schema 1 without text", typ: "ticket.created", schema: 1, data: `{"title":"t"}`, want: `{"title":"t"}`},
		{name: "schema 1 with both keeps description", typ: "ticket.created", schema: 1, data: `{"text":"old","description":"new"}`, want: `{"description":"new"}`},
		{name: "schema 1 keeps unknown fields", typ: "ticket.created", schema: 1, data: `{"text":"d","x":[1,{"y":null}]}`, want: `{"description":"d","x":[1,{"y":null}]}`},
		{name: "schema 1 with a non-string text", typ: "ticket.created", schema: 1, data: `{"text":42}`, want: `{"description":42}`},
		{name: "schema 1 empty object", typ: "ticket.created", schema: 1, data: `{}`, want: `{}`},
		{name: "schema 1 null", typ: "ticket.created", schema: 1, data: `null`, err: true},
		{name: "schema 1 array", typ: "ticket.created", schema: 1, data: `["text"]`, err: true},
		{name: "schema 1 malformed", typ: "ticket.created", schema: 1, data: `{"text":`, err: true},
		{name: "schema 1 empty", typ: "ticket.created", schema: 1, data: ``, err: true},
		{name: "schema 2 passes through", typ: "ticket.created", schema: 2, data: `{"text":"stays", "description":"d"}`, want: `{"text":"stays", "description":"d"}`},
		{name: "current schema of another type passes through", typ: "ticket.commented", schema: 1, data: `{"body":"b"}`, want: `{"body":"b"}`},
		{name: "schema 3 of ticket.created", typ: "ticket.created", schema: 3, data: `{}`, err: true},
		{name: "schema 0", typ: "ticket.created", schema: 0, data: `{}`, err: true},
		{name: "negative schema", typ: "ticket.created", schema: -1, data: `{}`, err: true},
		{name: "schema 2 of a type at schema 1", typ: "ticket.title_changed", schema: 2, data: `{}`, err: true},
		{name: "unknown type", typ: "ticket.deleted", schema: 1, data: `{}`, err: true},
		{name: "empty type", typ: "", schema: 1, data: `{}`, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.data)
			got, err := eventdesk.Upcast(tc.typ, tc.schema, in)
			if string(in) != tc.data {
				t.Errorf("Upcast changed its input to %s", in)
			}
			if tc.err {
				if err == nil {
					t.Fatalf("Upcast = %s, want an error", got)
				}
				if eventdesk.ErrorCode(err) != eventdesk.EInvalid {
					t.Errorf("code %s, want invalid: %v", eventdesk.ErrorCode(err), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var w, g any
			if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("Upcast returned invalid JSON %s: %v", got, err)
			}
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("upcast (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpcastErrorsAreClear(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		schema int
		want   []string
	}{
		{"ticket.deleted", 1, []string{`unknown event type "ticket.deleted"`}},
		{"ticket.created", 7, []string{`"ticket.created"`, "schema 7", "current is 2"}},
	} {
		_, err := eventdesk.Upcast(tc.typ, tc.schema, []byte(`{}`))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Upcast(%s, %d) error %v does not say %q", tc.typ, tc.schema, err, w)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		typ    string
		schema int
		data   string
	}{
		{"null payload", "ticket.title_changed", 1, `null`},
		{"empty payload", "ticket.title_changed", 1, ``},
		{"blank payload", "ticket.title_changed", 1, "  \n"},
		{"array payload", "ticket.status_changed", 1, `[]`},
		{"string payload", "ticket.status_changed", 1, `"open"`},
		{"malformed", "ticket.commented", 1, `{"body":"x"`},
		{"trailing garbage", "ticket.commented", 1, `{"body":"x"} {}`},
		{"wrong field type", "ticket.commented", 1, `{"internal":"yes"}`},
		{"wrong element type", "ticket.tags_changed", 1, `{"added":[1]}`},
		{"score out of float range", "ticket.sentiment_scored", 1, `{"score":1e999}`},
		{"unknown type", "ticket.deleted", 1, `{}`},
		{"unknown schema", "ticket.commented", 9, `{}`},
		{"schema-1 upcaster fails", "ticket.created", 1, `[1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := eventdesk.Decode(eventdesk.Event{ID: eventID1, Type: tc.typ, Schema: tc.schema, Data: json.RawMessage(tc.data)})
			if err == nil {
				t.Fatalf("Decode = %#v, want an error", p)
			}
			if eventdesk.ErrorCode(err) != eventdesk.EInvalid {
				t.Errorf("code %s, want invalid: %v", eventdesk.ErrorCode(err), err)
			}
		})
	}
}

// TestDecodeIsLenient documents what Decode accepts: unknown fields (a
// newer writer's additions) and missing ones (zero values).
func TestDecodeIsLenient(t *testing.T) {
	p, err := eventdesk.Decode(eventdesk.Event{Type: "ticket.status_changed", Schema: 1, Data: json.RawMessage(` {"from":"new","to":"open","by":"x"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(eventdesk.Payload(eventdesk.StatusChanged{From: "new", To: "open"}), p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	p, err = eventdesk.Decode(eventdesk.Event{Type: "ticket.unassigned", Schema: 1, Data: json.RawMessage(`{}`)})
	if err != nil || p != (eventdesk.TicketUnassigned{}) {
		t.Errorf("Decode({}) = %#v, %v", p, err)
	}
}
