package awslambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/awslambda"
	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

// flakyHandler fails an event as often as failures says, then succeeds;
// it counts the calls per event id.
type flakyHandler struct {
	mu       sync.Mutex
	failures map[string]int
	calls    map[string]int
}

func (h *flakyHandler) Handle(_ context.Context, e eventdesk.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls[e.ID]++
	if h.failures[e.ID] > 0 {
		h.failures[e.ID]--
		return errors.New("downstream unavailable")
	}
	return nil
}

// TestSubscriberPartialBatch covers the side-effect subscribers' failure
// handling on the real inbox (DynamoDB Local): an event whose effect fails
// (Slack or SMTP down) is reported alone in the partial batch response and
// left unmarked, so that SQS's redelivery runs it again; the messages
// around it are handled once, however often they come; events of other
// types and poison messages never reach the handler; a redelivered failure
// that now succeeds is then marked and never run again.
func TestSubscriberPartialBatch(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.Open(localAWS(), testenv.DynamoDB(t))
	state := fmt.Sprintf("sub-state-%d-%d", os.Getpid(), time.Now().UnixNano())
	if err := db.CreateStateTable(ctx, state); err != nil {
		t.Fatal(err)
	}
	h := &flakyHandler{failures: map[string]int{"e-down": 1}, calls: map[string]int{}}
	sub, err := awslambda.NewSubscriber("test", []string{eventdesk.TypeTicketCreated, eventdesk.TypeTicketCommented}, h, db.Inbox(state, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(msgID, eventID, typ string, version int64) events.SQSMessage {
		ce := awslambda.CloudEvent{SpecVersion: "1.0", ID: eventID, Source: "eventdesk", Type: typ, Subject: "ticket-" + eventID,
			Time: time.Now().UTC(), DataContentType: "application/json", Data: json.RawMessage(`{}`), StreamVersion: version, SchemaVersion: 1}
		b, err := json.Marshal(ce)
		if err != nil {
			t.Fatal(err)
		}
		return events.SQSMessage{MessageId: msgID, Body: string(b)}
	}
	handle := func(msgs ...events.SQSMessage) []string {
		t.Helper()
		res, err := sub.Handle(ctx, events.SQSEvent{Records: msgs})
		if err != nil {
			t.Fatalf("Handle returned an error (the whole batch would be retried): %v", err)
		}
		var failed []string
		for _, f := range res.BatchItemFailures {
			failed = append(failed, f.ItemIdentifier)
		}
		slices.Sort(failed)
		return failed
	}

	batch := []events.SQSMessage{
		msg("m1", "e-ok", eventdesk.TypeTicketCreated, 1),
		msg("m2", "e-down", eventdesk.TypeTicketCommented, 2),
		{MessageId: "m3", Body: `{"specversion":"1.0"`},
		msg("m4", "e-other", eventdesk.TypePriorityChanged, 3),
		msg("m5", "e-ok", eventdesk.TypeTicketCreated, 1), // a duplicate in the same batch
	}
	if failed := handle(batch...); !slices.Equal(failed, []string{"m2", "m3"}) {
		t.Fatalf("batch item failures %v, want the failed effect m2 and the poison m3", failed)
	}
	// SQS redelivers the failed messages (the poison one until its
	// maxReceiveCount sends it to the DLQ); the effect now succeeds.
	if failed := handle(batch[1], batch[2]); !slices.Equal(failed, []string{"m3"}) {
		t.Fatalf("redelivery: failures %v, want only the poison message", failed)
	}
	// Late duplicates of everything change nothing.
	if failed := handle(batch[0], batch[1], batch[3]); len(failed) != 0 {
		t.Fatalf("duplicates: failures %v", failed)
	}
	want := map[string]int{"e-ok": 1, "e-down": 2}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !maps.Equal(h.calls, want) {
		t.Fatalf("handler calls %v, want %v (e-down failed once, then succeeded; e-other is not a type of this subscriber)", h.calls, want)
	}
}
