package dynamodb_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/dynamodb"
)

// TestStreamImages reads the events table's stream from DynamoDB Local and
// checks that every event comes back from its NEW_IMAGE exactly as
// ReadStream returns it, and that the other items (heads, ids, keys) are
// told apart.
func TestStreamImages(t *testing.T) {
	ctx := context.Background()
	db, table := newEventsTable(t)
	s := db.EventStore(table, dynamodb.EventStoreOptions{})
	first := data(1)
	first.Metadata = eventdesk.Metadata{Actor: "alice", IdempotencyKey: "k1", CorrelationID: "c"}
	if _, err := s.Append(ctx, "s-1", eventdesk.NoStream, first, data(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s-1", eventdesk.ExactVersion(2), data(3)); err != nil {
		t.Fatal(err)
	}
	want, err := s.ReadStream(ctx, "s-1", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	poller, err := db.StreamPoller(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	var got []eventdesk.Event
	others := 0
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		recs, err := poller.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			e, ok, err := dynamodb.EventFromImage(r.NewImage)
			if err != nil {
				t.Fatalf("record %s: %v", r.SequenceNumber, err)
			}
			if !ok {
				others++
				continue
			}
			if r.EventName != "INSERT" {
				t.Errorf("event record %s is a %s", e.ID, r.EventName)
			}
			got = append(got, e)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d events from the stream, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Stream != w.Stream || g.Version != w.Version || g.Type != w.Type || g.Schema != w.Schema ||
			string(g.Data) != string(w.Data) || g.Metadata != w.Metadata || !g.RecordedAt.Equal(w.RecordedAt) || g.Hash != w.Hash {
			t.Errorf("event %d from the stream\n got %+v\nwant %+v", i, g, w)
		}
	}
	if others == 0 {
		t.Errorf("no non-event records (heads, ids, keys) seen")
	}
}

func TestEventFromImagePoison(t *testing.T) {
	for name, image := range map[string]string{
		"not json":        `{`,
		"null":            `null`,
		"bad type":        `{"kind": {"Q": "event"}}`,
		"event no schema": `{"kind": {"S": "event"}, "stream": {"S": "s"}, "version": {"N": "1"}, "meta": {"S": "{}"}, "at": {"S": "2024-01-01T00:00:00Z"}}`,
		"bad metadata":    `{"kind": {"S": "event"}, "stream": {"S": "s"}, "version": {"N": "1"}, "schema": {"N": "1"}, "meta": {"S": "{"}, "at": {"S": "2024-01-01T00:00:00Z"}}`,
	} {
		if _, _, err := dynamodb.EventFromImage([]byte(image)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, ok, err := dynamodb.EventFromImage([]byte(`{"kind": {"S": "head"}, "stream": {"S": "s"}, "version": {"N": "0"}}`)); ok || err != nil {
		t.Errorf("head item: ok %t, err %v", ok, err)
	}
}
