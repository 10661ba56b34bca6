package natsbus

import (
	"context"
	"fmt"

	"github.com/eventdesk/eventdesk"
	"github.com/nats-io/nats.go/jetstream"
)

// RelayName is the subscriber name (and checkpoint) of the Relay.
const RelayName = "natsbus-relay"

// Relay publishes every event of the store on JetStream, in position
// order, waiting for each acknowledgement: it makes the stream complete
// for external consumers, whatever the immediate, best-effort publication
// after commit dropped while NATS was down. Run it as a projection (one
// node at a time, under a lease) from RelayCheckpoints:
//
//	subscription.Projection{Name: natsbus.RelayName, Start: subscription.FromNow,
//		Store: natsbus.RelayCheckpoints(state), Projector: bus.Relay()}
//
// An event already published (by its node, or by the relay before a
// restart) within the de-duplication window is dropped by JetStream
// through its Nats-Msg-Id.
type Relay struct{ b *Bus }

// Relay returns the relay of b.
func (b *Bus) Relay() Relay { return Relay{b: b} }

// Apply publishes e and waits for JetStream's acknowledgement; it fails
// (and the subscription retries it, never skipping) while NATS is down.
func (r Relay) Apply(ctx context.Context, _ eventdesk.ProjectionTx, e eventdesk.Event) error {
	m, err := r.b.message(e)
	if err != nil {
		return err
	}
	if _, err := r.b.js.PublishMsg(ctx, m, jetstream.WithMsgID(e.ID)); err != nil {
		return fmt.Errorf("natsbus: relay event %s (position %d): %w", e.ID, e.Position, err)
	}
	return nil
}

// RelayCheckpoints adapts side-effect subscriber state to the projection
// store the Relay runs on: Project runs the publications, then saves the
// checkpoint. The relay's checkpoint thus lives with the side effects, so
// that rebuilding the read models never republishes.
func RelayCheckpoints(state eventdesk.SubscriberStore) eventdesk.ProjectionStore {
	return relayStore{state: state}
}

type relayStore struct{ state eventdesk.SubscriberStore }

func (s relayStore) Checkpoint(ctx context.Context, name string) (int64, bool, error) {
	return s.state.Checkpoint(ctx, name)
}

func (s relayStore) Project(ctx context.Context, name string, position int64, fn func(eventdesk.ProjectionTx) error) error {
	if err := fn(nil); err != nil {
		return err
	}
	return s.state.SaveCheckpoint(ctx, name, position)
}
