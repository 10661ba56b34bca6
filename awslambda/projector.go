package awslambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// projectBatch is how many events one ticket projection transaction
// applies: each may add a comment item, and DynamoDB takes at most 100
// items per transaction (ticket, comments, counters).
const projectBatch = 40

// dashboardBatch is the same for the dashboard projection, where one event
// may change up to seven counters.
const dashboardBatch = 12

// target is one read model the projector keeps: a projection and the
// store it writes.
type target struct {
	name  string
	store eventdesk.ProjectionStore
	apply func(ctx context.Context, tx eventdesk.ProjectionTx, events []eventdesk.Event) error
	batch int
}

// Projector keeps the ticket read models up to date from SQS messages that
// carry the publisher's CloudEvents (the EventBridge event, or its detail
// alone when the rule's target sets InputPath "$.detail").
//
// A message is a wake-up for one stream, not the record: the projector
// reads the stream from the event store, from the version the read model
// has reached up to (at least) the message's version, and applies what is
// missing. So messages may arrive twice, late or out of order (EventBridge
// and standard SQS queues promise neither order nor exactly-once) and the
// read model still advances version by version, never skipping one.
type Projector struct {
	store   eventdesk.EventStore
	targets []target
	log     *slog.Logger
	// upgrade, until it succeeds once, runs before a batch is projected.
	upgrade func(ctx context.Context) (int, error)
}

// NewProjector returns a Projector reading store and writing rm.
func NewProjector(store eventdesk.EventStore, rm eventdesk.ProjectionStore, log *slog.Logger) (*Projector, error) {
	if store == nil || rm == nil {
		return nil, fmt.Errorf("awslambda: projector: no event store or read models")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Projector{store: store, log: log, targets: []target{{
		name: projection.TicketsName, store: rm, apply: projection.Tickets{}.ApplyAll, batch: projectBatch,
	}}}, nil
}

// WithDashboard makes the projector keep the dashboard read model
// (projection.Dashboard) in dash as well, after the ticket read models.
// Each read model follows the stream from its own version, so one that
// fails (the message comes back) never holds the other back.
func (p *Projector) WithDashboard(dash eventdesk.ProjectionStore) *Projector {
	p.targets = append(p.targets, target{
		name: projection.DashboardName, store: dash, apply: projection.Dashboard{}.ApplyAll, batch: dashboardBatch,
	})
	return p
}

// WithUpgrade makes the projector bring the read models up to date with
// this build (package dynamodb's ReadModels.Upgrade: run the migrations a
// table written by an older eventdesk needs, guarded by a schema-version
// item so that it runs once) at its first invocation rather than at init,
// whose 10 seconds a large table could exceed. Until it succeeds, each
// invocation tries again first; a failure is logged and the batch is
// projected anyway (new items are written in the current layout).
func (p *Projector) WithUpgrade(upgrade func(ctx context.Context) (int, error)) *Projector {
	p.upgrade = upgrade
	return p
}

func (p *Projector) runUpgrade(ctx context.Context) {
	if p.upgrade == nil {
		return
	}
	n, err := p.upgrade(ctx)
	if err != nil {
		p.log.ErrorContext(ctx, "projector: read-model upgrade failed; tried again at the next invocation", "err", err)
		return
	}
	if n > 0 {
		p.log.InfoContext(ctx, "projector: read models upgraded", "items", n)
	}
	p.upgrade = nil
}

// ParseMessage reads the CloudEvent of an SQS message body: an EventBridge
// event whose detail is the CloudEvent, or the CloudEvent itself.
func ParseMessage(body string) (CloudEvent, error) {
	var envelope struct {
		Detail json.RawMessage `json:"detail"`
	}
	raw := []byte(body)
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return CloudEvent{}, fmt.Errorf("awslambda: message is not JSON: %w", err)
	}
	if len(envelope.Detail) > 0 {
		raw = envelope.Detail
	}
	var ce CloudEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		return CloudEvent{}, fmt.Errorf("awslambda: message is not a CloudEvent: %w", err)
	}
	if ce.SpecVersion != "1.0" || ce.ID == "" || ce.Subject == "" || ce.StreamVersion < 1 {
		return CloudEvent{}, fmt.Errorf("awslambda: message is not an eventdesk CloudEvent (specversion %q, id %q, subject %q, streamversion %d)",
			ce.SpecVersion, ce.ID, ce.Subject, ce.StreamVersion)
	}
	return ce, nil
}

// Handle projects the streams named by a batch of messages and reports the
// messages it could not handle (partial batch response): SQS makes them
// visible again after the visibility timeout and, after the queue's
// maxReceiveCount, moves them to its dead-letter queue. A message that is
// not an eventdesk CloudEvent (a poison message) fails alone; a stream
// that cannot be projected fails the messages of that stream only.
func (p *Projector) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	p.runUpgrade(ctx)
	var res events.SQSEventResponse
	fail := func(id string) {
		res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	type wanted struct {
		upTo int64
		ids  []string
	}
	targets := map[string]*wanted{}
	var order []string
	for _, m := range ev.Records {
		ce, err := ParseMessage(m.Body)
		if err != nil {
			p.log.ErrorContext(ctx, "projector: poison message", "messageId", m.MessageId, "err", err)
			fail(m.MessageId)
			continue
		}
		t := targets[ce.Subject]
		if t == nil {
			t = &wanted{}
			targets[ce.Subject] = t
			order = append(order, ce.Subject)
		}
		t.upTo = max(t.upTo, ce.StreamVersion)
		t.ids = append(t.ids, m.MessageId)
	}
	for _, stream := range order {
		t := targets[stream]
		if err := p.CatchUp(ctx, stream, t.upTo); err != nil {
			p.log.ErrorContext(ctx, "projector: stream failed", "stream", stream, "version", t.upTo, "err", err)
			for _, id := range t.ids {
				fail(id)
			}
		}
	}
	return res, nil
}

// CatchUp applies the events of stream that the read models lack, up to
// version upTo at least (and whatever else is there by then).
func (p *Projector) CatchUp(ctx context.Context, stream string, upTo int64) error {
	var errs []error
	for _, t := range p.targets {
		if err := p.catchUp(ctx, t, stream, upTo); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Projector) catchUp(ctx context.Context, tg target, stream string, upTo int64) error {
	if !strings.HasPrefix(stream, eventdesk.StreamPrefix) {
		return nil // no read model is built from other streams
	}
	id, ok := eventdesk.TicketIDFromStream(stream)
	if !ok {
		return fmt.Errorf("awslambda: %q is not a valid ticket stream", stream)
	}
	for {
		var reached int64
		err := tg.store.Project(ctx, tg.name, 0, func(tx eventdesk.ProjectionTx) error {
			t, _, err := tx.Ticket(ctx, id)
			if err != nil {
				return err
			}
			reached = t.Version
			if reached >= upTo {
				return nil
			}
			evs, err := p.store.ReadStream(ctx, stream, t.Version+1, tg.batch)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				return eventdesk.Errorf(eventdesk.EUnavailable, "awslambda: %s has no version %d in the event store yet", stream, t.Version+1)
			}
			if err := tg.apply(ctx, tx, evs); err != nil {
				return err
			}
			reached = evs[len(evs)-1].Version
			return nil
		})
		if err != nil {
			return fmt.Errorf("awslambda: project %s into %s: %w", stream, tg.name, err)
		}
		if reached >= upTo {
			return nil
		}
	}
}
