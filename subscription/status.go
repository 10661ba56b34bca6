package subscription

import (
	"context"
	"time"
)

// SubscriberStatus is the state of one subscriber, for /metrics and
// operators.
type SubscriberStatus struct {
	Name string `json:"name"`
	// Kind is KindProjection or KindSideEffect.
	Kind string `json:"kind"`
	// Start is where the subscriber began ("beginning" or "now").
	Start string `json:"start"`
	// Running is false until the subscriber has loaded its checkpoint.
	Running bool `json:"running"`
	// LeaseHeld tells whether this node runs the subscriber now.
	LeaseHeld bool `json:"leaseHeld"`
	// Checkpoint is the position the subscriber has dealt with.
	Checkpoint int64 `json:"checkpoint"`
	// Head is the store's last position when Status was called.
	Head int64 `json:"head"`
	// Lag is Head − Checkpoint: events not dealt with yet.
	Lag int64 `json:"lag"`
	// TimeLag is how long the oldest event not dealt with has waited (0
	// when caught up).
	TimeLag time.Duration `json:"timeLag"`
	// Handled counts events applied (projections) or handled (side
	// effects) since start.
	Handled int64 `json:"handled"`
	// Attempts counts tries of the subscriber's work (a projection
	// batch's transaction, a side effect's handler call); Failures those
	// that failed, and failed reads or writes of its own state
	// (checkpoint, inbox, dead letters).
	Attempts int64 `json:"attempts"`
	Failures int64 `json:"failures"`
	// DeadLetters counts the parked events of a side-effect subscriber.
	DeadLetters int       `json:"deadLetters"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// statusTimeout bounds the reads Status makes of the store.
const statusTimeout = 2 * time.Second

// Status reports every subscriber, in the order they were declared. It
// reads the store's head (and, for a subscriber that lags, the time of its
// next event) to compute lags.
func (r *Runner) Status() []SubscriberStatus {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	head, headErr := r.src.Head(ctx)
	now := r.opts.Now()
	r.mu.Lock()
	subs := append([]*sub(nil), r.subs...)
	r.mu.Unlock()
	out := make([]SubscriberStatus, 0, len(subs))
	for _, s := range subs {
		s.mu.Lock()
		st := SubscriberStatus{
			Name: s.name, Kind: s.kind, Start: s.start.String(), Running: s.started, LeaseHeld: s.leaseHeld,
			Checkpoint: s.checkpoint, Handled: s.handled, Attempts: s.attempts, Failures: s.failures,
			DeadLetters: s.deadLetters, LastError: s.lastErr, LastErrorAt: s.lastErrAt,
		}
		s.mu.Unlock()
		if headErr == nil {
			st.Head = head
			st.Lag = max(head-st.Checkpoint, 0)
			if st.Lag > 0 {
				if next, err := r.src.ReadAll(ctx, st.Checkpoint, 1); err == nil && len(next) == 1 {
					st.TimeLag = max(now.Sub(next[0].RecordedAt), 0)
				}
			}
		}
		out = append(out, st)
	}
	return out
}
