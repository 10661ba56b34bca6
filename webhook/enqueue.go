package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventdesk/eventdesk"
)

// EnqueuerName is the subscriber name of the Enqueuer.
const EnqueuerName = "webhooks"

// Enqueuer is the side-effect subscriber that turns events into
// deliveries: one per endpoint that wants the event and was registered
// before it. Declare it with Types EventTypes. It only writes the outbox;
// the Dispatcher sends. Enqueueing twice is harmless (Store.Enqueue is
// idempotent), so redelivery by the runner is too.
type Enqueuer struct {
	store  Store
	notify func()
	now    func() time.Time
}

// NewEnqueuer returns an enqueuer writing to store; notify (may be nil) is
// called after deliveries were enqueued, e.g. Dispatcher.Notify.
func NewEnqueuer(store Store, notify func()) (*Enqueuer, error) {
	if store == nil {
		return nil, errors.New("webhook: an enqueuer needs a store")
	}
	if notify == nil {
		notify = func() {}
	}
	return &Enqueuer{store: store, notify: notify, now: time.Now}, nil
}

// Handle enqueues e for every endpoint that wants it.
func (q *Enqueuer) Handle(ctx context.Context, e eventdesk.Event) error {
	m, ok, err := BuildMessage(e)
	if err != nil || !ok {
		return err
	}
	eps, err := q.store.Endpoints(ctx)
	if err != nil {
		return fmt.Errorf("webhook: enqueue %s: %w", e.ID, err)
	}
	var body []byte
	var ds []Delivery
	now := q.now().UTC().Truncate(time.Microsecond)
	for _, ep := range eps {
		if !ep.Wants(e.Type) || e.Position <= ep.StartPosition {
			continue
		}
		if body == nil {
			if body, err = EncodeMessage(m); err != nil {
				return err
			}
		}
		ds = append(ds, Delivery{
			EndpointID: ep.ID, EventID: e.ID, EventType: e.Type, Stream: e.Stream,
			Position: e.Position, Version: e.Version, Payload: body,
			Status: StatusPending, CreatedAt: now, NextAttemptAt: now,
		})
	}
	if len(ds) == 0 {
		return nil
	}
	if err := q.store.Enqueue(ctx, ds); err != nil {
		return fmt.Errorf("webhook: enqueue %s: %w", e.ID, err)
	}
	q.notify()
	return nil
}
