package eventdesk

import (
	"context"
	"time"
)

// ProjectionStore keeps read models together with the checkpoints of the
// projections that build them, so that a read model and "how far it got"
// can never disagree. Every read-model adapter passes
// storetest.RunProjections.
type ProjectionStore interface {
	// Checkpoint returns the position projection name has applied up to;
	// found is false if it never committed (a first start).
	Checkpoint(ctx context.Context, name string) (position int64, found bool, err error)
	// Project runs fn in one transaction and records position as name's
	// checkpoint in that same transaction: fn's writes and the checkpoint
	// commit together or not at all (exactly-once). If fn fails, nothing
	// is written. A checkpoint never moves backwards: a position below the
	// stored one leaves it as it is. Stores without a global order pass 0.
	//
	// Adapters may buffer fn's writes until commit; fn must not keep tx.
	Project(ctx context.Context, name string, position int64, fn func(tx ProjectionTx) error) error
}

// ProjectionTx is what a projection may read and write inside
// ProjectionStore.Project. Reads see the transaction's own writes.
type ProjectionTx interface {
	// Ticket returns the stored ticket row with its comments; found is
	// false if there is none.
	Ticket(ctx context.Context, id string) (t Ticket, found bool, err error)
	// SaveTicket inserts or replaces the ticket row (tags and comments
	// included).
	SaveTicket(ctx context.Context, t Ticket) error
	// AddCount adds delta (possibly negative) to the named counter; a new
	// counter starts at 0. See CounterTotal, StatusCounter, PriorityCounter.
	AddCount(ctx context.Context, counter string, delta int64) error
}

// Names of the counters behind Stats, kept by the ticket projection.
const CounterTotal = "tickets"

// StatusCounter names the counter of tickets in status s.
func StatusCounter(s Status) string { return "status:" + string(s) }

// PriorityCounter names the counter of tickets of priority p.
func PriorityCounter(p Priority) string { return "priority:" + string(p) }

// StatsFromCounters builds Stats from counter values as ProjectionTx.AddCount
// kept them; every status and priority is present, zero if never counted.
func StatsFromCounters(counters map[string]int64) Stats {
	s := Stats{
		Total:      int(counters[CounterTotal]),
		ByStatus:   make(map[Status]int, len(Statuses)),
		ByPriority: make(map[Priority]int, len(Priorities)),
	}
	for _, st := range Statuses {
		s.ByStatus[st] = int(counters[StatusCounter(st)])
	}
	for _, p := range Priorities {
		s.ByPriority[p] = int(counters[PriorityCounter(p)])
	}
	return s
}

// SubscriberStore keeps the state of side-effect subscribers (webhooks,
// email, sentiment…): checkpoints, the inbox of handled event ids, and
// dead letters. It lives apart from the read models so that rebuilding them
// never re-fires a side effect.
type SubscriberStore interface {
	// Checkpoint returns the position subscriber name has dealt with (handled
	// or parked) up to; found is false if it never started.
	Checkpoint(ctx context.Context, name string) (position int64, found bool, err error)
	// SaveCheckpoint moves name's checkpoint forward to position (never
	// backwards), e.g. past events the subscriber does not handle.
	SaveCheckpoint(ctx context.Context, name string, position int64) error
	// Handled reports whether name already handled the event with this id.
	Handled(ctx context.Context, name, eventID string) (bool, error)
	// MarkHandled records, atomically, that name handled e (inbox), moves
	// its checkpoint forward to e.Position and removes any dead letter of
	// (name, e.ID).
	MarkHandled(ctx context.Context, name string, e Event) error
	// Park records, atomically, that name gave up on e after attempts
	// tries with cause as the last error (a dead letter, replacing an
	// earlier one of (name, e.ID)), and moves its checkpoint forward to
	// e.Position.
	Park(ctx context.Context, name string, e Event, attempts int, cause string) (DeadLetter, error)
	// DeadLetters lists the dead letters of subscriber name ("" for all),
	// oldest first.
	DeadLetters(ctx context.Context, name string) ([]DeadLetter, error)
	// Redrive queues dead letter id for another try by its subscriber; an
	// unknown id is an ENotFound error.
	Redrive(ctx context.Context, id int64) error
	// Redriven lists the dead letters of name queued by Redrive, oldest
	// first.
	Redriven(ctx context.Context, name string) ([]DeadLetter, error)
}

// DeadLetter is an event a side-effect subscriber gave up on. It stays
// until redriven and handled.
type DeadLetter struct {
	ID         int64     `json:"id"`
	Subscriber string    `json:"subscriber"`
	Event      Event     `json:"event"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	FailedAt   time.Time `json:"failedAt"`
	// Redriven is set while the letter waits for its subscriber's next try.
	Redriven bool `json:"redriven"`
}
