package awslambda_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/awslambda"
)

// TestParseMessage covers the message bodies the projector and the
// subscribers accept (docs/aws.md, "Redrive"): the CloudEvent itself (what
// the rules' InputPath "$.detail" delivers), the whole EventBridge event
// around it (what BusDLQ holds, redriven as is), and the minimal CloudEvent
// written by hand to replay a stream after a PublisherDLQ entry — and the
// bodies they refuse, which fail alone as poison messages.
func TestParseMessage(t *testing.T) {
	e := eventdesk.Event{
		ID: "0195a1b2-0000-7000-8000-000000000001", Stream: "ticket-0195a1b2-0000-7000-8000-0000000000aa", Version: 3,
		Type: eventdesk.TypeTicketCommented, Schema: 1, Data: json.RawMessage(`{"body":"hi"}`),
		RecordedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Hash: "abc",
		Metadata: eventdesk.Metadata{Actor: "alice", CorrelationID: "c-1"},
	}
	ce := awslambda.ToCloudEvent(e, "eventdesk")
	detail, err := json.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	envelope, err := json.Marshal(map[string]any{
		"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": e.Type, "source": "eventdesk",
		"account": "111122223333", "time": "2026-03-01T12:00:00Z", "region": "eu-west-1", "resources": []string{},
		"detail": json.RawMessage(detail),
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"CloudEvent": string(detail), "EventBridge event": string(envelope)} {
		got, err := awslambda.ParseMessage(body)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		back := got.Event()
		if back.ID != e.ID || back.Stream != e.Stream || back.Version != e.Version || back.Type != e.Type ||
			!back.RecordedAt.Equal(e.RecordedAt) || back.Hash != e.Hash || back.Metadata != e.Metadata || string(back.Data) != string(e.Data) {
			t.Errorf("%s: event %+v, want %+v", name, back, e)
		}
	}
	handWritten := `{"specversion":"1.0","id":"x","source":"eventdesk","type":"ticket.created","subject":"` + e.Stream + `","streamversion":7}`
	if got, err := awslambda.ParseMessage(handWritten); err != nil || got.Subject != e.Stream || got.StreamVersion != 7 {
		t.Errorf("hand-written redrive message: %+v, %v", got, err)
	}
	for name, body := range map[string]string{
		"not JSON":             "{",
		"not a CloudEvent":     `{"hello":"world"}`,
		"other specversion":    `{"specversion":"0.3","id":"x","subject":"ticket-a","streamversion":1}`,
		"no subject":           `{"specversion":"1.0","id":"x","streamversion":1}`,
		"no version":           `{"specversion":"1.0","id":"x","subject":"ticket-a"}`,
		"detail not an object": `{"detail":"nope"}`,
	} {
		if _, err := awslambda.ParseMessage(body); err == nil {
			t.Errorf("%s: accepted %s", name, body)
		}
	}
}
