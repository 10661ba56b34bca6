package awslambda

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk"
)

// EventHandler is what a side-effect subscriber does with one event (the
// same method as package subscription's Handler, so the same handlers run
// under `eventdesk serve` and here).
type EventHandler interface {
	Handle(ctx context.Context, e eventdesk.Event) error
}

// Inbox remembers which events a subscriber has handled (package
// dynamodb's Inbox).
type Inbox interface {
	Handled(ctx context.Context, subscriber, eventID string) (bool, error)
	MarkHandled(ctx context.Context, subscriber, eventID string) (first bool, err error)
}

// Subscriber runs a side-effect subscriber (sentiment, escalation, …) on
// the SQS queue its EventBridge rule fills. Delivery is at least once: the
// inbox makes an event that was handled once a no-op when it comes again.
// A failed event is reported (partial batch response) and retried by SQS
// until the queue's maxReceiveCount moves it to the subscriber's DLQ — the
// dead letters of this deployment, redriven with SQS's own redrive.
type Subscriber struct {
	name  string
	types []string
	h     EventHandler
	inbox Inbox
	log   *slog.Logger
}

// NewSubscriber returns the subscriber name handling events of types
// (empty: all) with h.
func NewSubscriber(name string, types []string, h EventHandler, inbox Inbox, log *slog.Logger) (*Subscriber, error) {
	if name == "" || h == nil || inbox == nil {
		return nil, fmt.Errorf("awslambda: subscriber needs a name, a handler and an inbox")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Subscriber{name: name, types: slices.Clone(types), h: h, inbox: inbox, log: log.With("subscriber", name)}, nil
}

// Event returns the event a CloudEvent carries. Position is 0 (the DynamoDB
// store has none); the idempotency key and request hash never leave the
// store.
func (ce CloudEvent) Event() eventdesk.Event {
	return eventdesk.Event{
		ID: ce.ID, Stream: ce.Subject, Version: ce.StreamVersion, Type: ce.Type, Schema: ce.SchemaVersion,
		Data: ce.Data, RecordedAt: ce.Time.UTC(), Hash: ce.Hash,
		Metadata: eventdesk.Metadata{Actor: ce.Actor, CorrelationID: ce.CorrelationID, CausationID: ce.CausationID, TraceParent: ce.TraceParent},
	}
}

// Handle handles a batch of messages one by one and reports those that
// failed.
func (s *Subscriber) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var res events.SQSEventResponse
	for _, m := range ev.Records {
		if err := s.handle(ctx, m.Body); err != nil {
			s.log.ErrorContext(ctx, "subscriber: message failed", "messageId", m.MessageId, "err", err)
			res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return res, nil
}

func (s *Subscriber) handle(ctx context.Context, body string) error {
	ce, err := ParseMessage(body)
	if err != nil {
		return err
	}
	e := ce.Event()
	if len(s.types) > 0 && !slices.Contains(s.types, e.Type) {
		return nil
	}
	done, err := s.inbox.Handled(ctx, s.name, e.ID)
	if err != nil {
		return err
	}
	if done {
		return nil
	}
	if err := s.h.Handle(ctx, e); err != nil {
		return fmt.Errorf("event %s (%s v%d): %w", e.ID, e.Stream, e.Version, err)
	}
	// Should this write fail, the event is redelivered and handled again:
	// at least once, never lost.
	if _, err := s.inbox.MarkHandled(ctx, s.name, e.ID); err != nil {
		return err
	}
	return nil
}
