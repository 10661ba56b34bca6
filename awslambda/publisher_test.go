package awslambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/awslambda"
)

// testRecord is a stream record whose "image" is the event as JSON, which
// testDecode reads (instead of package dynamodb's decoder).
func testRecord(i int, dataBytes int) awslambda.StreamRecord {
	e := eventdesk.Event{
		ID: fmt.Sprintf("e-%03d", i), Stream: fmt.Sprintf("ticket-%d", i%3), Version: int64(i/3 + 1),
		Type: "ticket.commented", Schema: 1, Data: json.RawMessage(`"` + strings.Repeat("x", dataBytes) + `"`),
		RecordedAt: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
	}
	b, _ := json.Marshal(e)
	var r awslambda.StreamRecord
	r.EventName = "INSERT"
	r.DynamoDB.NewImage = b
	r.DynamoDB.SequenceNumber = fmt.Sprintf("%021d", i)
	return r
}

func testDecode(image []byte) (eventdesk.Event, bool, error) {
	var e eventdesk.Event
	if string(image) == `"head"` {
		return e, false, nil
	}
	err := json.Unmarshal(image, &e)
	return e, err == nil, err
}

func TestPublisherBatches(t *testing.T) {
	b := newBus(t)
	p, err := awslambda.NewPublisher(awslambda.PublisherConfig{
		AWS: localAWS(), Endpoint: b.URL, Bus: "bus", Decode: testDecode,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ev awslambda.StreamEvent
	for i := range 25 {
		ev.Records = append(ev.Records, testRecord(i, 10))
		if i%7 == 0 { // records that are not events, and not inserts
			var head awslambda.StreamRecord
			head.EventName, head.DynamoDB.NewImage, head.DynamoDB.SequenceNumber = "MODIFY", json.RawMessage(`"head"`), "h"
			ev.Records = append(ev.Records, head)
			head.EventName = "INSERT"
			ev.Records = append(ev.Records, head)
		}
	}
	res, err := p.Handle(ctx, ev)
	if err != nil || len(res.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %+v, %v", res, err)
	}
	got := b.take()
	if len(got) != 25 || b.calls.Load() != 3 {
		t.Fatalf("%d entries in %d PutEvents calls, want 25 in 3 (at most 10 each)", len(got), b.calls.Load())
	}
	for i, e := range got {
		ce, err := awslambda.ParseMessage(e.Detail)
		if err != nil || ce.ID != fmt.Sprintf("e-%03d", i) || e.Source != "eventdesk" || e.EventBusName != "bus" {
			t.Fatalf("entry %d: %+v (%v)", i, e, err)
		}
		if int64(e.Time) != ce.Time.Unix() {
			t.Fatalf("entry %d: Time %v, event time %v", i, e.Time, ce.Time)
		}
	}

	// Entries are also batched by size (256 KB per request), and an event
	// too large for EventBridge fails its record, after the ones before.
	b.calls.Store(0)
	ev = awslambda.StreamEvent{Records: []awslambda.StreamRecord{
		testRecord(100, 100<<10), testRecord(101, 100<<10), testRecord(102, 100<<10), testRecord(103, 300<<10), testRecord(104, 10),
	}}
	res, _ = p.Handle(ctx, ev)
	if len(res.BatchItemFailures) != 1 || res.BatchItemFailures[0].ItemIdentifier != ev.Records[3].DynamoDB.SequenceNumber {
		t.Fatalf("failures %+v, want the oversized record", res.BatchItemFailures)
	}
	if got := b.take(); len(got) != 3 || b.calls.Load() != 2 {
		t.Fatalf("%d entries in %d calls, want 3 in 2", len(got), b.calls.Load())
	}

	// EventBridge down: the first record of the batch is reported, so
	// Lambda retries all of it.
	b.Close()
	res, _ = p.Handle(ctx, awslambda.StreamEvent{Records: []awslambda.StreamRecord{testRecord(200, 1), testRecord(201, 1)}})
	if len(res.BatchItemFailures) != 1 || res.BatchItemFailures[0].ItemIdentifier != testRecord(200, 1).DynamoDB.SequenceNumber {
		t.Fatalf("failures %+v with the bus down", res.BatchItemFailures)
	}
}
