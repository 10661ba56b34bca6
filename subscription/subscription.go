// Package subscription is the catch-up runtime of the read side
// (ARCHITECTURE §5): named subscribers that follow the event store from
// their checkpoint, first catching up on stored events, then live.
//
// Two kinds of subscriber run here:
//
//   - Projections write a read model and their checkpoint in one
//     transaction (eventdesk.ProjectionStore.Project): exactly-once. A batch
//     that fails is retried, with exponential backoff and jitter, until it
//     succeeds: a projection never skips an event.
//   - Side effects (webhooks, email, sentiment…) are at-least-once: each
//     event is handled, then recorded in an inbox (eventdesk.SubscriberStore)
//     that deduplicates redeliveries; a failing event is retried with
//     backoff and jitter and, after MaxAttempts, parked as a dead letter so
//     that the subscriber moves on. Dead letters can be listed and redriven.
//
// Each subscriber declares where it starts the first time: from the
// beginning (backfill) or from now (the head at its first start); that
// start is recorded as its checkpoint, so a restart never jumps. Before a
// subscriber runs, the runner acquires its Lease (a no-op by default; a
// PostgreSQL advisory lock in a cluster), so that each runs on one node.
//
// The package imports the root package and the standard library only; the
// stores are passed in.
package subscription

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
)

// Source is the part of the event store the runtime reads.
type Source interface {
	// ReadAll returns up to limit events after a position, in order.
	ReadAll(ctx context.Context, after int64, limit int) ([]eventdesk.Event, error)
	// Subscribe yields the events after a position, catching up then live.
	Subscribe(ctx context.Context, after int64) iter.Seq2[eventdesk.Event, error]
	// Head returns the position of the last committed event.
	Head(ctx context.Context) (int64, error)
}

// Start says where a subscriber begins the first time it runs.
type Start int

const (
	// FromBeginning replays every stored event (a backfill).
	FromBeginning Start = iota
	// FromNow begins after the head of the store at the first start.
	FromNow
)

// String implements fmt.Stringer.
func (s Start) String() string {
	if s == FromNow {
		return "now"
	}
	return "beginning"
}

// Projector folds one event into a read model through a transaction.
// projection.Tickets is one.
type Projector interface {
	Apply(ctx context.Context, tx eventdesk.ProjectionTx, e eventdesk.Event) error
}

// Projection declares a projection subscriber.
type Projection struct {
	// Name identifies the subscriber and its checkpoint.
	Name      string
	Start     Start
	Store     eventdesk.ProjectionStore
	Projector Projector
	// BatchSize bounds how many events one transaction applies. Default
	// 1000; live, a batch is whatever has arrived.
	BatchSize int
}

// Handler performs a side effect for one event. It should be idempotent on
// the event id (which, e.g., a webhook sends along): an event is handled at
// least once.
type Handler interface {
	Handle(ctx context.Context, e eventdesk.Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, e eventdesk.Event) error

// Handle implements Handler.
func (f HandlerFunc) Handle(ctx context.Context, e eventdesk.Event) error { return f(ctx, e) }

// SideEffect declares a side-effect subscriber.
type SideEffect struct {
	// Name identifies the subscriber, its checkpoint, inbox and dead
	// letters.
	Name    string
	Start   Start
	Handler Handler
	// Types lists the event types to handle; empty means all. The others
	// only move the checkpoint.
	Types []string
	// MaxAttempts is how many times an event is tried before it is parked
	// as a dead letter. Default 5.
	MaxAttempts int
	// Concurrency bounds how many events are handled at the same time.
	// Events of one stream (one ticket) are always handled one after the
	// other, in order; events of different streams may overlap. Default 1.
	Concurrency int
	// BatchSize bounds how many events (of those that have arrived) are
	// handled together before their outcome is recorded in one write of
	// the SubscriberStore (see BatchMarker). Default 1, or 4×Concurrency
	// when Concurrency is above 1.
	BatchSize int
}

// BatchMarker is implemented by a SubscriberStore that records the
// outcome of a batch of events in one transaction. Without it the runner
// calls MarkHandled once per event.
type BatchMarker interface {
	// MarkHandledBatch records, atomically, that name handled events
	// (inbox), removes their dead letters, and moves name's checkpoint
	// forward to checkpoint (never backwards), which may be below some of
	// the events.
	MarkHandledBatch(ctx context.Context, name string, events []eventdesk.Event, checkpoint int64) error
}

// InboxBound is implemented by a SubscriberStore that knows a position
// above which a subscriber's inbox holds nothing. The runner then reads
// the inbox only for the events up to it (those a crash may have left
// handled above the checkpoint) instead of for every event it follows.
type InboxBound interface {
	// InboxBound returns a position such that no event after it is in
	// name's inbox.
	InboxBound(ctx context.Context, name string) (int64, error)
}

// Lease gives a subscriber to one node of several. The runner acquires it
// before running the subscriber, and stops the subscriber when the lease
// is lost.
type Lease interface {
	// Acquire blocks until this node holds the lease for name or ctx ends.
	// held ends when the lease is lost (or ctx ends); release gives it up.
	Acquire(ctx context.Context, name string) (held context.Context, release func(), err error)
}

// NoLease is the embedded default: every subscriber always runs here.
type NoLease struct{}

// Acquire implements Lease.
func (NoLease) Acquire(ctx context.Context, _ string) (context.Context, func(), error) {
	return ctx, func() {}, nil
}

// Backoff is exponential with jitter: the nth retry waits a random time
// between half and all of min(Initial·2ⁿ⁻¹, Max).
type Backoff struct {
	Initial time.Duration // default 100ms
	Max     time.Duration // default 30s
}

// Delay returns the wait before retry attempt (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Options configure a Runner. The zero value is a sensible default.
type Options struct {
	Backoff Backoff
	// Lease defaults to NoLease.
	Lease Lease
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RedrivePoll is how often an idle side-effect subscriber looks for
	// dead letters redriven by another process (those redriven through
	// Runner.Redrive wake it at once). Default 5s.
	RedrivePoll time.Duration
	// Now is the clock behind time lags. Default time.Now.
	Now func() time.Time
}

// Runner runs subscribers. Declare them with AddProjection and
// AddSideEffect, then call Run.
type Runner struct {
	src   Source
	state eventdesk.SubscriberStore
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	subs    []*sub
	running bool

	redrive eventdesk.Signal
}

// NewRunner returns a runner reading src. state keeps side-effect
// subscribers' state; it may be nil if there are none.
func NewRunner(src Source, state eventdesk.SubscriberStore, opts Options) *Runner {
	if opts.Backoff.Initial <= 0 {
		opts.Backoff.Initial = 100 * time.Millisecond
	}
	if opts.Backoff.Max <= 0 {
		opts.Backoff.Max = 30 * time.Second
	}
	opts.Backoff.Max = max(opts.Backoff.Max, opts.Backoff.Initial)
	if opts.Lease == nil {
		opts.Lease = NoLease{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RedrivePoll <= 0 {
		opts.RedrivePoll = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runner{src: src, state: state, opts: opts, log: opts.Logger}
}

// Kinds of subscriber, as SubscriberStatus reports them.
const (
	KindProjection = "projection"
	KindSideEffect = "side-effect"
)

// sub is one declared subscriber and its live status.
type sub struct {
	name  string
	kind  string
	start Start
	proj  *Projection
	side  *SideEffect

	mu          sync.Mutex
	checkpoint  int64
	started     bool
	leaseHeld   bool
	attempts    int64
	failures    int64
	handled     int64
	deadLetters int
	lastErr     string
	lastErrAt   time.Time
}

func (r *Runner) add(s *sub) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return fmt.Errorf("subscription: add %s: the runner is already running", s.name)
	}
	if s.name == "" {
		return errors.New("subscription: a subscriber needs a name")
	}
	for _, o := range r.subs {
		if o.name == s.name {
			return fmt.Errorf("subscription: two subscribers are named %q", s.name)
		}
	}
	r.subs = append(r.subs, s)
	return nil
}

// AddProjection declares a projection.
func (r *Runner) AddProjection(p Projection) error {
	if p.Store == nil || p.Projector == nil {
		return fmt.Errorf("subscription: projection %q needs a Store and a Projector", p.Name)
	}
	if p.BatchSize <= 0 {
		p.BatchSize = 1000
	}
	return r.add(&sub{name: p.Name, kind: KindProjection, start: p.Start, proj: &p})
}

// AddSideEffect declares a side-effect subscriber.
func (r *Runner) AddSideEffect(s SideEffect) error {
	if s.Handler == nil {
		return fmt.Errorf("subscription: side effect %q needs a Handler", s.Name)
	}
	if r.state == nil {
		return fmt.Errorf("subscription: side effect %q needs the runner to have a SubscriberStore", s.Name)
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 5
	}
	s.Concurrency = max(s.Concurrency, 1)
	if s.BatchSize <= 0 {
		s.BatchSize = 1
		if s.Concurrency > 1 {
			s.BatchSize = 4 * s.Concurrency
		}
	}
	return r.add(&sub{name: s.Name, kind: KindSideEffect, start: s.Start, side: &s})
}

// Run runs every subscriber until ctx ends, then returns nil once they have
// all stopped. Errors of a subscriber are retried, logged and reported in
// Status; they do not stop the others.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("subscription: the runner is already running")
	}
	r.running = true
	subs := slices.Clone(r.subs)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { r.lead(ctx, s) })
	}
	wg.Wait()
	return nil
}

// lead acquires s's lease and runs s while it is held, again and again
// until ctx ends.
func (r *Runner) lead(ctx context.Context, s *sub) {
	failed := 0 // consecutive runs that ended in an error
	for attempt := 1; ctx.Err() == nil; {
		held, release, err := r.opts.Lease.Acquire(ctx, s.name)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.fail(r, "acquire lease", err)
			r.sleep(ctx, attempt)
			attempt++
			continue
		}
		attempt = 1
		s.setLease(true)
		var runErr error
		if s.proj != nil {
			runErr = r.runProjection(held, s)
		} else {
			runErr = r.runSideEffect(held, s)
		}
		s.setLease(false)
		release()
		if runErr != nil && ctx.Err() == nil {
			failed++
			s.fail(r, "run", runErr)
			r.sleep(ctx, failed)
		} else {
			failed = 0
		}
	}
}

// sleep waits the backoff of attempt, or until ctx ends (false).
func (r *Runner) sleep(ctx context.Context, attempt int) bool {
	t := time.NewTimer(r.opts.Backoff.Delay(attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *sub) fail(r *Runner, what string, err error) {
	s.mu.Lock()
	s.failures++
	s.lastErr = fmt.Sprintf("%s: %v", what, err)
	s.lastErrAt = r.opts.Now()
	s.mu.Unlock()
	r.log.Error("subscription: subscriber failed", "subscriber", s.name, "what", what, "err", err)
}

func (s *sub) setLease(held bool) {
	s.mu.Lock()
	s.leaseHeld = held
	s.mu.Unlock()
}

func (s *sub) setCheckpoint(pos int64) {
	s.mu.Lock()
	s.checkpoint = max(s.checkpoint, pos)
	s.started = true
	s.mu.Unlock()
}

// retry runs fn, a read or write of the subscriber's own state, until it
// succeeds or ctx ends, with backoff between tries. A failure counts as
// one of the subscriber's failures; the tries are not attempts (those
// count the subscriber's work, see work), or the attempts metric would
// grow with every checkpoint, inbox lookup and redrive poll.
func (r *Runner) retry(ctx context.Context, s *sub, what string, fn func() error) error {
	return r.tries(ctx, s, what, false, fn)
}

// work is retry for the subscriber's work (a projection batch): every try
// counts as an attempt.
func (r *Runner) work(ctx context.Context, s *sub, what string, fn func() error) error {
	return r.tries(ctx, s, what, true, fn)
}

func (r *Runner) tries(ctx context.Context, s *sub, what string, attempts bool, fn func() error) error {
	for attempt := 1; ; attempt++ {
		if attempts {
			s.mu.Lock()
			s.attempts++
			s.mu.Unlock()
		}
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.fail(r, what, err)
		if !r.sleep(ctx, attempt) {
			return ctx.Err()
		}
	}
}

// item is an event (or the error that ended a subscription) on its way
// from the reading goroutine to a subscriber.
type item struct {
	e   eventdesk.Event
	err error
}

// drain appends to batch, up to size events, whatever events has ready
// without waiting: a batch is what has arrived, not a quota to wait for. It
// returns the subscription's error if it ended with one.
func drain(batch []eventdesk.Event, events <-chan item, size int) ([]eventdesk.Event, error) {
	for len(batch) < size {
		select {
		case it, ok := <-events:
			if !ok {
				return batch, nil
			}
			if it.err != nil {
				return batch, it.err
			}
			batch = append(batch, it.e)
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// follow subscribes from after on a goroutine and delivers events on a
// buffered channel, so that the subscriber can take whatever has arrived
// as one batch. The channel closes after an error or when ctx ends.
func (r *Runner) follow(ctx context.Context, after int64, buffer int) <-chan item {
	ch := make(chan item, buffer)
	go func() {
		defer close(ch)
		for e, err := range r.src.Subscribe(ctx, after) {
			select {
			case ch <- item{e, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// startPosition returns where s begins: its checkpoint, or on the first
// start, 0 or the head (recorded by record).
func (r *Runner) startPosition(ctx context.Context, s *sub, load func() (int64, bool, error), record func(int64) error) (int64, error) {
	var pos int64
	err := r.retry(ctx, s, "load checkpoint", func() error {
		p, found, err := load()
		if err != nil {
			return err
		}
		if !found {
			if s.start == FromNow {
				if p, err = r.src.Head(ctx); err != nil {
					return err
				}
			}
			if err := record(p); err != nil {
				return err
			}
			r.log.Info("subscription: first start", "subscriber", s.name, "from", s.start.String(), "position", p)
		}
		pos = p
		return nil
	})
	if err != nil {
		return pos, err
	}
	s.setCheckpoint(pos)
	// A checkpoint beyond the head means the store was replaced by an
	// older copy: going on would skip the events that get those positions.
	head, err := r.src.Head(ctx)
	if err != nil {
		return pos, fmt.Errorf("subscription: %s: read head: %w", s.name, err)
	}
	if pos > head {
		return pos, fmt.Errorf("subscription: %s is at position %d but the event store ends at %d: the store was replaced by an older copy; rebuild the read models (eventdesk replay) or reset this subscriber", s.name, pos, head)
	}
	return pos, nil
}

// runProjection applies batches of events through the projection store
// until ctx ends or the subscription breaks.
func (r *Runner) runProjection(ctx context.Context, s *sub) error {
	p := s.proj
	noop := func(eventdesk.ProjectionTx) error { return nil }
	pos, err := r.startPosition(ctx, s,
		func() (int64, bool, error) { return p.Store.Checkpoint(ctx, p.Name) },
		func(at int64) error { return p.Store.Project(ctx, p.Name, at, noop) })
	if err != nil {
		return unlessDone(ctx, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := r.follow(ctx, pos, 2*p.BatchSize)
	batch := make([]eventdesk.Event, 0, p.BatchSize)
	for {
		batch = batch[:0]
		var endErr error
		select {
		case <-ctx.Done():
			return nil
		case it, ok := <-events:
			if !ok {
				return ctx.Err()
			}
			if it.err != nil {
				return subscribeErr(ctx, it.err)
			}
			batch = append(batch, it.e)
		}
		batch, endErr = drain(batch, events, p.BatchSize)
		last := batch[len(batch)-1].Position
		err := r.work(ctx, s, fmt.Sprintf("project events %d..%d", batch[0].Position, last), func() error {
			return p.Store.Project(ctx, p.Name, last, func(tx eventdesk.ProjectionTx) error {
				for _, e := range batch {
					if err := p.Projector.Apply(ctx, tx, e); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			return nil // ctx ended
		}
		s.mu.Lock()
		s.handled += int64(len(batch))
		s.mu.Unlock()
		s.setCheckpoint(last)
		if endErr != nil {
			return subscribeErr(ctx, endErr)
		}
	}
}

// unlessDone returns err unless ctx has ended.
func unlessDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// subscribeErr reports why a subscription ended: nil when ctx did.
func subscribeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("subscription: read events: %w", err)
}
