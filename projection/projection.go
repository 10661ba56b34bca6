// Package projection builds read models from events. It is pure logic over
// eventdesk.ProjectionTx, which every read-model adapter (sqlite, postgres,
// dynamodb) implements; it imports only the root package and the standard
// library, and performs no I/O of its own.
//
// The ticket state is never computed here: each event is folded with
// eventdesk.Evolve, the domain's own fold, so a read model and a ticket
// loaded from its stream cannot disagree.
package projection

import (
	"context"
	"fmt"
	"strings"

	"github.com/eventdesk/eventdesk"
)

// TicketsName is the name (and checkpoint key) of the ticket projection,
// which builds the ticket list, the ticket detail with comments and the
// counts by status and priority.
const TicketsName = "tickets"

// Tickets is the ticket projection. It is idempotent on (stream, version):
// an event whose version the stored ticket already has is skipped, so that
// at-least-once delivery (DynamoDB Streams, a retried batch) is safe. It
// never skips anything else: an event it cannot fold (an unknown type, a
// gap in versions, a malformed payload) is an error, and the subscription
// retries it rather than moving past it.
type Tickets struct{}

// Apply folds e into the ticket read model and keeps the counters in step.
// Events of streams that are not ticket streams are ignored.
func (p Tickets) Apply(ctx context.Context, tx eventdesk.ProjectionTx, e eventdesk.Event) error {
	return p.ApplyDecoded(ctx, tx, e, nil)
}

// ApplyDecoded is Apply for an event whose payload, if pl is not nil, was
// decoded already (pl = eventdesk.Decode(e)); with nil it decodes it.
func (Tickets) ApplyDecoded(ctx context.Context, tx eventdesk.ProjectionTx, e eventdesk.Event, pl eventdesk.Payload) error {
	if !strings.HasPrefix(e.Stream, eventdesk.StreamPrefix) {
		return nil
	}
	id, ok := eventdesk.TicketIDFromStream(e.Stream)
	if !ok {
		return fmt.Errorf("projection: event %s at position %d: stream %q is not a valid ticket stream", e.ID, e.Position, e.Stream)
	}
	old, found, err := tx.Ticket(ctx, id)
	if err != nil {
		return fmt.Errorf("projection: load ticket %s: %w", id, err)
	}
	if found && e.Version <= old.Version {
		return nil // already applied: a redelivery
	}
	var t eventdesk.Ticket
	if pl != nil {
		t, err = eventdesk.EvolveDecoded(old, e, pl)
	} else {
		t, err = eventdesk.Evolve(old, e)
	}
	if err != nil {
		return fmt.Errorf("projection: event %s (%s v%d at position %d): %w", e.ID, e.Stream, e.Version, e.Position, err)
	}
	if err := tx.SaveTicket(ctx, t); err != nil {
		return fmt.Errorf("projection: save ticket %s: %w", id, err)
	}
	if err := count(ctx, tx, old, t); err != nil {
		return fmt.Errorf("projection: counters of ticket %s: %w", id, err)
	}
	return nil
}

// ApplyAll applies events in order, stopping at the first error.
func (p Tickets) ApplyAll(ctx context.Context, tx eventdesk.ProjectionTx, events []eventdesk.Event) error {
	for _, e := range events {
		if err := p.Apply(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}

// count moves the ticket from old's counters to t's, incrementally, so that
// Stats never scans the tickets.
func count(ctx context.Context, tx eventdesk.ProjectionTx, old, t eventdesk.Ticket) error {
	type delta struct {
		counter string
		n       int64
	}
	var ds []delta
	if !old.Exists() {
		ds = append(ds, delta{eventdesk.CounterTotal, 1},
			delta{eventdesk.StatusCounter(t.Status), 1},
			delta{eventdesk.PriorityCounter(t.Priority), 1})
	} else {
		if old.Status != t.Status {
			ds = append(ds, delta{eventdesk.StatusCounter(old.Status), -1}, delta{eventdesk.StatusCounter(t.Status), 1})
		}
		if old.Priority != t.Priority {
			ds = append(ds, delta{eventdesk.PriorityCounter(old.Priority), -1}, delta{eventdesk.PriorityCounter(t.Priority), 1})
		}
	}
	for _, d := range ds {
		if err := tx.AddCount(ctx, d.counter, d.n); err != nil {
			return err
		}
	}
	return nil
}
