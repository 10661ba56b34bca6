package awslambda_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk/awslambda"
	"github.com/eventdesk/eventdesk/dynamodb"
)

// TestProjectorUpgrade: the read-model upgrade runs at the projector's
// first invocation, again at the next while it fails, and never after it
// succeeded; a failure does not fail the batch.
func TestProjectorUpgrade(t *testing.T) {
	// Never reached: an empty batch reads no table.
	db := dynamodb.Open(localAWS(), "http://127.0.0.1:1")
	p, err := awslambda.NewProjector(db.EventStore("events", dynamodb.EventStoreOptions{}), db.ReadModels("read"), nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	p.WithUpgrade(func(context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("throttled")
		}
		return 3, nil
	})
	for range 4 {
		res, err := p.Handle(t.Context(), events.SQSEvent{})
		if err != nil || len(res.BatchItemFailures) > 0 {
			t.Fatalf("Handle: %+v %v", res, err)
		}
	}
	if calls != 2 {
		t.Fatalf("upgrade ran %d times, want 2 (a failure, then a success)", calls)
	}
}
