package sqlite

import (
	"reflect"
	"testing"

	"github.com/eventdesk/eventdesk"
)

// checkDecode fails unless decodePayload(e) returns what eventdesk.Decode
// returns (an equal payload, or an error where it fails).
func checkDecode(tb testing.TB, e eventdesk.Event) {
	tb.Helper()
	want, wantErr := eventdesk.Decode(e)
	got, err := decodePayload(e)
	if (err != nil) != (wantErr != nil) {
		tb.Fatalf("%s %s: error %v, eventdesk.Decode's %v", e.Type, e.Data, err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s %s:\n got %#v\nwant %#v", e.Type, e.Data, got, want)
	}
}

// TestDecodePayloadFastMatchesDecode: what eventdesk.Encode writes takes
// the fast path and decodes to the same payload; everything else decodes
// as eventdesk.Decode decodes it (or fails where it fails).
func TestDecodePayloadFastMatchesDecode(t *testing.T) {
	payloads := []eventdesk.Payload{
		eventdesk.TicketCreated{Title: "Printer on fire", Description: "It smokes.", Priority: eventdesk.PriorityHigh, Requester: "alice", Tags: []string{"a", "b"}, Assignee: "bob"},
		eventdesk.TicketCreated{Title: "t", Requester: "r", Tags: []string{}},
		eventdesk.TicketCreated{Title: "Ärger über €", Requester: "Zoë"},
		eventdesk.TitleChanged{From: "a", To: "b"},
		eventdesk.DescriptionChanged{Description: "new"},
		eventdesk.PriorityChanged{From: eventdesk.PriorityLow, To: eventdesk.PriorityUrgent, Reason: "negative sentiment"},
		eventdesk.TagsChanged{Added: []string{"x"}, Removed: []string{"y", "z"}},
		eventdesk.TagsChanged{},
		eventdesk.TicketAssigned{Assignee: "bob", Previous: "carol"},
		eventdesk.TicketUnassigned{Previous: "bob"},
		eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen},
		eventdesk.TicketCommented{CommentID: "c1", Author: "bob", Body: "On it.", Internal: true},
		eventdesk.TicketCommented{CommentID: "c2", Author: "bob", Body: "Public"},
	}
	for _, p := range payloads {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		e := eventdesk.Event{ID: "e", Stream: "ticket-x", Type: typ, Schema: schema, Data: data}
		if _, ok := decodePayloadFast(e); !ok {
			t.Errorf("%s %s: not decoded by the fast path", typ, data)
		}
		checkDecode(t, e)
	}
	odd := []struct {
		typ    string
		schema int
		data   string
	}{
		{eventdesk.TypeTicketCreated, 2, `{"title":"a\"b","requester":"r"}`},         // escape
		{eventdesk.TypeTicketCreated, 2, `{"title":"a","Title":"b"}`},                // other case
		{eventdesk.TypeTicketCreated, 2, `{"title":"a","title":"b"}`},                // repeated
		{eventdesk.TypeTicketCreated, 2, `{"title":"a","extra":1}`},                  // unknown key
		{eventdesk.TypeTicketCreated, 2, `{"title":"a","tags":null}`},                // null
		{eventdesk.TypeTicketCreated, 2, `{"title":"a","tags":["x",]}`},              // bad array
		{eventdesk.TypeTicketCreated, 2, `{"title":"a","tags":["x" ,"y"]}`},          // white space
		{eventdesk.TypeTicketCreated, 2, ` {"title":"a"}`},                           // white space
		{eventdesk.TypeTicketCreated, 2, `{"title":"a"} `},                           // white space
		{eventdesk.TypeTicketCreated, 2, `{"title":"bad` + "\xff" + `"}`},            // invalid UTF-8
		{eventdesk.TypeTicketCreated, 2, `{"title":"ctl` + "\x01" + `"}`},            // control character
		{eventdesk.TypeTicketCreated, 2, `{"title":"a",}`},                           // trailing comma
		{eventdesk.TypeTicketCreated, 2, `{"title":"a"`},                             // truncated
		{eventdesk.TypeTicketCreated, 2, `{}`},                                       // empty
		{eventdesk.TypeTicketCreated, 2, `null`},                                     // not an object
		{eventdesk.TypeTicketCreated, 2, `[]`},                                       // not an object
		{eventdesk.TypeTicketCreated, 2, `{"title":1}`},                              // wrong type
		{eventdesk.TypeTicketCreated, 1, `{"title":"a","text":"old description"}`},   // upcast
		{eventdesk.TypeTicketCreated, 3, `{"title":"a"}`},                            // future schema
		{eventdesk.TypeTicketCommented, 1, `{"commentId":"c","internal":truex}`},     // bad literal
		{eventdesk.TypeTicketCommented, 1, `{"commentId":"c","internal":"true"}`},    // string for bool
		{eventdesk.TypeTicketCommented, 1, `{"commentId":"c","internal":false}`},     // plain
		{eventdesk.TypeSentimentScored, 1, `{"sourceEventId":"e","score":0.5}`},      // not a fast type
		{"ticket.unknown", 1, `{}`},                                                  // unknown type
		{eventdesk.TypeStatusChanged, 1, `{"from":"new","to":"open","to":"closed"}`}, // repeated
	}
	for _, c := range odd {
		checkDecode(t, eventdesk.Event{ID: "e", Stream: "ticket-x", Type: c.typ, Schema: c.schema, Data: []byte(c.data)})
	}
}

// FuzzDecodePayloadFast looks for a payload that the rebuild's decoder
// reads differently from eventdesk.Decode.
func FuzzDecodePayloadFast(f *testing.F) {
	types := eventdesk.EventTypes()
	f.Add(uint8(0), 2, []byte(`{"title":"a","description":"d","priority":"high","requester":"r","tags":["x","y"],"assignee":"b"}`))
	f.Add(uint8(1), 1, []byte(`{"commentId":"c","author":"a","body":"b","internal":true}`))
	f.Add(uint8(2), 1, []byte(`{"added":["x"],"removed":[]}`))
	f.Add(uint8(3), 1, []byte(`{"from":"new","to":"open"}`))
	f.Add(uint8(4), 2, []byte(`{"title":"\u00e9","tags":null}`))
	f.Fuzz(func(t *testing.T, typ uint8, schema int, data []byte) {
		checkDecode(t, eventdesk.Event{ID: "e", Stream: "ticket-x", Type: types[int(typ)%len(types)], Schema: schema, Data: data})
	})
}
