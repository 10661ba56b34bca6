package dynamodb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/dynamodb"
)

func data(i int) eventdesk.EventData {
	return eventdesk.EventData{ID: fmt.Sprintf("e-%d", i), Type: "test.happened", Schema: 1, Data: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))}
}

func TestAppendAndRead(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(t, dynamodb.EventStoreOptions{})
	res, err := s.Append(ctx, "s-1", eventdesk.NoStream, data(1), data(2))
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || res.Position != 0 {
		t.Fatalf("result = %+v, want version 2, position 0", res)
	}
	_, err = s.Append(ctx, "s-1", eventdesk.ExactVersion(1), data(3))
	var wrong *eventdesk.WrongExpectedVersionError
	if !errors.As(err, &wrong) || wrong.Actual != 2 {
		t.Fatalf("append at stale version: err = %v, want wrong expected version with actual 2", err)
	}
	if _, err := s.Append(ctx, "s-1", eventdesk.AnyVersion, data(3)); err != nil {
		t.Fatal(err)
	}
	events, err := s.ReadStream(ctx, "s-1", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Fatalf("read %d events, want 3", len(events))
	}
	prev := ""
	for i, e := range events {
		if e.Version != int64(i+1) || e.ID != fmt.Sprintf("e-%d", i+1) {
			t.Errorf("event %d = %s v%d", i, e.ID, e.Version)
		}
		if want := eventdesk.ChainHash(prev, e); e.Hash != want {
			t.Errorf("event %d hash %s, want %s", i, e.Hash, want)
		}
		prev = e.Hash
	}
	if _, err := s.ReadAll(ctx, 0, 10); eventdesk.ErrorCode(err) != eventdesk.ENotImplemented {
		t.Errorf("ReadAll err = %v, want not implemented", err)
	}
}

func TestAppendLimits(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(t, dynamodb.EventStoreOptions{})
	many := make([]eventdesk.EventData, dynamodb.MaxAppendEvents+1)
	for i := range many {
		many[i] = data(1000 + i)
	}
	if _, err := s.Append(ctx, "big", eventdesk.NoStream, many...); eventdesk.ErrorCode(err) != eventdesk.ETooLarge {
		t.Fatalf("append of %d events: %v, want too large", len(many), err)
	}
	// The most events an append may carry go through in one transaction,
	// with an idempotency key.
	many = many[:dynamodb.MaxAppendEvents]
	many[0].Metadata.IdempotencyKey = "k-max"
	if res, err := s.Append(ctx, "big", eventdesk.NoStream, many...); err != nil || res.Version != int64(len(many)) {
		t.Fatalf("append of %d events: %+v, %v", len(many), res, err)
	}
	huge := data(1)
	huge.ID = "huge"
	huge.Data = json.RawMessage(`"` + strings.Repeat("x", 400<<10) + `"`)
	if _, err := s.Append(ctx, "huge", eventdesk.NoStream, huge); eventdesk.ErrorCode(err) != eventdesk.ETooLarge {
		t.Fatalf("append of a 400 KB event: %v, want too large", err)
	}
	if evs, err := s.ReadStream(ctx, "huge", 1, 0); err != nil || len(evs) != 0 {
		t.Fatalf("refused append wrote %d events, %v", len(evs), err)
	}
	if _, err := s.Append(ctx, "$idempotency/x", eventdesk.NoStream, data(2)); eventdesk.ErrorCode(err) != eventdesk.EInvalid {
		t.Fatalf("append to a reserved stream: %v, want invalid", err)
	}
}
