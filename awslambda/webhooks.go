package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/webhook"
)

// WebhookOutbox is the webhook store of the deployment (package dynamodb's
// Webhooks), with a mark per stream of the version up to which its events
// were enqueued.
type WebhookOutbox interface {
	webhook.Store
	EnqueuedUpTo(ctx context.Context, stream string) (int64, error)
	SetEnqueuedUpTo(ctx context.Context, stream string, version int64) error
}

// WebhookDispatcher sends the deliveries due now (*webhook.Dispatcher).
type WebhookDispatcher interface {
	DispatchDue(ctx context.Context) (int, error)
}

// dispatchMargin is the time left to an invocation when the dispatcher
// stops: more than one attempt's timeout (webhook.DefaultTimeout).
const dispatchMargin = 20 * time.Second

// WebhookTick is the body of the message an EventBridge schedule puts on
// the webhook queue every minute (deploy/aws/template.yaml): it carries no
// event and only makes the function send what is due, i.e. the retries
// whose backoff has run out and dead letters redriven through the API.
const WebhookTick = `{"eventdesk":"webhook-tick"}`

// Webhooks runs the webhook subscriber on its SQS queue: the enqueuer and
// the dispatcher of `eventdesk serve` in one function.
//
// A message is a wake-up for one ticket stream, as for the projector: the
// function reads the stream from the event store from the version up to
// which it enqueued deliveries before, and enqueues one delivery per
// endpoint that wants each event and was registered before it was
// recorded (there is no global position to compare on DynamoDB). So a
// ticket's deliveries are enqueued in version order even when EventBridge
// and SQS deliver its messages out of order or twice, and the store sends
// them in that order (a ticket's next event waits while one before it is
// retried). Enqueueing is idempotent (a guard item per endpoint and
// event), so a redelivered message changes nothing.
//
// Then it sends every delivery that is due. A failed attempt is retried by
// the store's schedule (webhook.DefaultSchedule: exponential backoff with
// ±20% jitter over about 28 hours, then a dead letter), not by SQS: the
// store keeps the next attempt's time, and the schedule's tick (every
// minute) sends what has come due, so on Lambda a retry is at least the
// backoff and at most about a minute later. SQS redelivery (visibility
// timeout, then the DLQ) is only for messages that could not be enqueued.
type Webhooks struct {
	outbox     WebhookOutbox
	events     StreamReader
	dispatcher WebhookDispatcher
	log        *slog.Logger
	now        func() time.Time
	retention  time.Duration
	lastPrune  time.Time
}

// StreamReader reads a stream's events (eventdesk.EventStore is one).
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error)
}

// NewWebhooks returns the webhook subscriber.
func NewWebhooks(outbox WebhookOutbox, events StreamReader, dispatcher WebhookDispatcher, log *slog.Logger) (*Webhooks, error) {
	if outbox == nil || events == nil || dispatcher == nil {
		return nil, fmt.Errorf("awslambda: webhooks need an outbox, an event store and a dispatcher")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhooks{outbox: outbox, events: events, dispatcher: dispatcher, log: log.With("subscriber", webhook.EnqueuerName),
		now: time.Now, retention: webhook.DefaultRetention}, nil
}

// isTick reports whether body is the schedule's tick (as sent, or wrapped
// in an EventBridge event).
func isTick(body string) bool {
	var m struct {
		EventDesk string `json:"eventdesk"`
	}
	return json.Unmarshal([]byte(body), &m) == nil && m.EventDesk == "webhook-tick"
}

// Handle enqueues the events of a batch, reports the messages it could not
// enqueue (partial batch response), then sends what is due.
func (w *Webhooks) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var res events.SQSEventResponse
	var eps []webhook.Endpoint
	loaded := false
	for _, m := range ev.Records {
		if isTick(m.Body) {
			continue
		}
		err := func() error {
			ce, err := ParseMessage(m.Body)
			if err != nil {
				return err
			}
			if !loaded {
				if eps, err = w.outbox.Endpoints(ctx); err != nil {
					return err
				}
				loaded = true
			}
			if len(eps) == 0 {
				return nil // nobody to deliver to; a later endpoint wants only later events
			}
			return w.enqueue(ctx, eps, ce.Subject, ce.StreamVersion)
		}()
		if err != nil {
			w.log.ErrorContext(ctx, "webhooks: message failed", "messageId", m.MessageId, "err", err)
			res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	// Deliveries are durable once enqueued: a failure to send them now is
	// retried by the next message or tick, not by failing the messages.
	// Stop starting attempts well before Lambda's deadline: an attempt
	// cut off is not recorded and is made again (same webhook-id), but
	// needlessly.
	dctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		dctx, cancel = context.WithDeadline(ctx, dl.Add(-min(dispatchMargin, time.Until(dl)/2)))
		defer cancel()
	}
	if n, err := w.dispatcher.DispatchDue(dctx); err != nil && ctx.Err() == nil && dctx.Err() == nil {
		w.log.ErrorContext(ctx, "webhooks: dispatch", "attempts", n, "err", err)
	} else if n > 0 {
		w.log.DebugContext(ctx, "webhooks: dispatched", "attempts", n)
	}
	if now := w.now(); now.Sub(w.lastPrune) >= time.Hour {
		w.lastPrune = now
		if n, err := w.outbox.Prune(ctx, now.Add(-w.retention)); err != nil {
			w.log.WarnContext(ctx, "webhooks: prune delivery log", "err", err)
		} else if n > 0 {
			w.log.InfoContext(ctx, "webhooks: pruned delivery log", "deliveries", n)
		}
	}
	return res, nil
}

// enqueue turns the events of stream after its mark, up to at least
// version upTo, into deliveries.
func (w *Webhooks) enqueue(ctx context.Context, eps []webhook.Endpoint, stream string, upTo int64) error {
	from, err := w.outbox.EnqueuedUpTo(ctx, stream)
	if err != nil {
		return err
	}
	for from < upTo {
		evs, err := w.events.ReadStream(ctx, stream, from+1, 100)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return eventdesk.Errorf(eventdesk.EUnavailable, "awslambda: %s has no version %d in the event store yet", stream, from+1)
		}
		var ds []webhook.Delivery
		now := w.now().UTC().Truncate(time.Microsecond)
		for _, e := range evs {
			m, ok, err := webhook.BuildMessage(e)
			if err != nil {
				return fmt.Errorf("awslambda: webhook message of %s v%d: %w", stream, e.Version, err)
			}
			if !ok {
				continue
			}
			var body []byte
			for _, ep := range eps {
				if !ep.Wants(e.Type) || e.RecordedAt.Before(ep.CreatedAt) {
					continue
				}
				if body == nil {
					if body, err = webhook.EncodeMessage(m); err != nil {
						return err
					}
				}
				ds = append(ds, webhook.Delivery{
					EndpointID: ep.ID, EventID: e.ID, EventType: e.Type, Stream: e.Stream,
					Position: e.Position, Version: e.Version, Payload: body,
					Status: webhook.StatusPending, CreatedAt: now, NextAttemptAt: now,
				})
			}
		}
		if err := w.outbox.Enqueue(ctx, ds); err != nil {
			return err
		}
		from = evs[len(evs)-1].Version
		if err := w.outbox.SetEnqueuedUpTo(ctx, stream, from); err != nil {
			return err
		}
	}
	return nil
}
