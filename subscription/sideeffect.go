package subscription

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
)

// runSideEffect handles events in batches, at least once, until ctx ends
// or the subscription breaks.
func (r *Runner) runSideEffect(ctx context.Context, s *sub) error {
	se := s.side
	// Counted before the start position marks the subscriber running, so
	// that Status never shows it running with its parked events uncounted.
	r.countDeadLetters(ctx, s)
	pos, err := r.startPosition(ctx, s,
		func() (int64, bool, error) { return r.state.Checkpoint(ctx, se.Name) },
		func(at int64) error { return r.state.SaveCheckpoint(ctx, se.Name, at) })
	if err != nil {
		return unlessDone(ctx, err)
	}
	// Holding the lease, this runner is the only one to put events in the
	// inbox, and it follows each event once: above the store's bound an
	// event cannot be there (-1: no bound known, read the inbox each time).
	bound := int64(-1)
	if ib, ok := r.state.(InboxBound); ok {
		if err := r.retry(ctx, s, "read inbox bound", func() (err error) {
			bound, err = ib.InboxBound(ctx, se.Name)
			return err
		}); err != nil {
			return unlessDone(ctx, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := r.follow(ctx, pos, max(256, 2*se.BatchSize))
	poll := time.NewTicker(r.opts.RedrivePoll)
	defer poll.Stop()

	// Events the subscriber passes over (other types, or already in the
	// inbox) move the checkpoint in bulk, when it is idle or every so
	// many, not one write each.
	saved, skipped := pos, pos
	flush := func() {
		if skipped > saved {
			if err := r.state.SaveCheckpoint(context.WithoutCancel(ctx), se.Name, skipped); err != nil {
				s.fail(r, "save checkpoint", err)
				return
			}
			saved = skipped
			s.setCheckpoint(skipped)
		}
	}
	defer flush()
	batch := make([]eventdesk.Event, 0, se.BatchSize)
	checkRedrive := true
	for {
		woken := r.redrive.Wait()
		if checkRedrive {
			checkRedrive = false
			if err := r.redriveLetters(ctx, s); err != nil {
				return nil // ctx ended
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-woken:
			checkRedrive = true
		case <-poll.C:
			checkRedrive = true
		case it, ok := <-events:
			if !ok {
				return nil
			}
			if it.err != nil {
				return subscribeErr(ctx, it.err)
			}
			batch = append(batch[:0], it.e)
			var endErr error
			batch, endErr = drain(batch, events, se.BatchSize)
			cp, written, err := r.handleBatch(ctx, s, batch, bound)
			skipped = max(skipped, cp)
			saved = max(saved, written)
			if err != nil {
				return nil // ctx ended
			}
			if len(events) == 0 || skipped-saved >= 1000 {
				flush()
			}
			if endErr != nil {
				return subscribeErr(ctx, endErr)
			}
		}
	}
}

// Outcomes of an event in a batch.
const (
	pending = iota // not resolved: ctx ended first
	passed         // another type, or already in the inbox
	handled        // the handler succeeded
	failed         // every attempt failed: to be parked
)

// outcome is what became of one event of a batch.
type outcome struct {
	state int
	err   error
}

// handleBatch handles the events of batch that s wants, those of one
// stream one after the other and up to Concurrency streams at a time, then
// records the outcome: dead letters first, then the handled events and the
// checkpoint in one write when the store is a BatchMarker. Every effect of
// the batch has happened before anything is recorded, so a checkpoint
// never passes an event whose effect is still to come; a crash before the
// record repeats effects (at least once), never loses one.
//
// It returns the position up to which the batch is resolved (the
// subscriber may skip up to there), the checkpoint it wrote (0 if none),
// and an error only when ctx ended before the batch was resolved.
func (r *Runner) handleBatch(ctx context.Context, s *sub, batch []eventdesk.Event, bound int64) (resolved, written int64, err error) {
	se := s.side
	out := make([]outcome, len(batch))
	var streams []string
	groups := make(map[string][]int)
	for i, e := range batch {
		if len(se.Types) > 0 && !slices.Contains(se.Types, e.Type) {
			out[i].state = passed
			continue
		}
		if _, ok := groups[e.Stream]; !ok {
			streams = append(streams, e.Stream)
		}
		groups[e.Stream] = append(groups[e.Stream], i)
	}
	if len(streams) > 0 {
		work := make(chan []int)
		var wg sync.WaitGroup
		for range min(se.Concurrency, len(streams)) {
			wg.Go(func() {
				for g := range work {
					for _, i := range g {
						if ctx.Err() != nil {
							break
						}
						out[i] = r.try(ctx, s, batch[i], bound)
					}
				}
			})
		}
		for _, k := range streams {
			work <- groups[k]
		}
		close(work)
		wg.Wait()
	}

	// The batch is resolved up to the first pending event.
	resolved = -1
	var done []eventdesk.Event
	for i, e := range batch {
		if out[i].state == pending {
			break
		}
		resolved = e.Position
	}
	record := context.WithoutCancel(ctx)
	parked := false
	for i, e := range batch {
		switch {
		case out[i].state == failed && e.Position <= resolved:
			if err := r.park(ctx, s, e, out[i].err); err != nil {
				return resolved, written, err
			}
			parked, written = true, e.Position
		case out[i].state == handled:
			done = append(done, e)
		}
	}
	if parked {
		r.countDeadLetters(ctx, s)
	}
	if len(done) > 0 {
		if bm, ok := r.state.(BatchMarker); ok {
			cp := max(resolved, 0)
			if err := r.retry(ctx, s, "record handled events", func() error { return bm.MarkHandledBatch(record, se.Name, done, cp) }); err != nil {
				return resolved, written, err
			}
			written = cp
		} else {
			for _, e := range done {
				if e.Position > resolved {
					break // recorded, it would move the checkpoint past a pending event
				}
				if err := r.retry(ctx, s, "record handled event", func() error { return r.state.MarkHandled(record, se.Name, e) }); err != nil {
					return resolved, written, err
				}
				written = e.Position
			}
		}
		s.mu.Lock()
		s.handled += int64(len(done))
		s.mu.Unlock()
	}
	if resolved >= 0 {
		s.setCheckpoint(resolved)
	}
	if out[len(out)-1].state == pending {
		return resolved, written, ctx.Err()
	}
	return resolved, written, nil
}

// try handles e unless the inbox has it, with up to MaxAttempts attempts;
// an event after bound (≥ 0) is known not to be in the inbox.
func (r *Runner) try(ctx context.Context, s *sub, e eventdesk.Event, bound int64) outcome {
	se := s.side
	var done bool
	if bound < 0 || e.Position <= bound {
		if err := r.retry(ctx, s, "read inbox", func() (err error) {
			done, err = r.state.Handled(ctx, se.Name, e.ID)
			return err
		}); err != nil {
			return outcome{}
		}
	}
	if done {
		return outcome{state: passed}
	}
	var lastErr error
	for attempt := 1; attempt <= se.MaxAttempts; attempt++ {
		s.mu.Lock()
		s.attempts++
		s.mu.Unlock()
		lastErr = safeHandle(ctx, se.Handler, e)
		if lastErr == nil {
			return outcome{state: handled}
		}
		if ctx.Err() != nil {
			return outcome{}
		}
		s.fail(r, fmt.Sprintf("handle event %s (%s at position %d), attempt %d of %d", e.ID, e.Type, e.Position, attempt, se.MaxAttempts), lastErr)
		if attempt < se.MaxAttempts && !r.sleep(ctx, attempt) {
			return outcome{}
		}
	}
	return outcome{state: failed, err: lastErr}
}

// park records e as a dead letter of s after its last error cause.
func (r *Runner) park(ctx context.Context, s *sub, e eventdesk.Event, cause error) error {
	se := s.side
	var d eventdesk.DeadLetter
	if err := r.retry(ctx, s, "park event", func() (err error) {
		d, err = r.state.Park(context.WithoutCancel(ctx), se.Name, e, se.MaxAttempts, cause.Error())
		return err
	}); err != nil {
		return err
	}
	r.log.Warn("subscription: event parked as a dead letter", "subscriber", se.Name, "deadLetter", d.ID,
		"event", e.ID, "type", e.Type, "position", e.Position, "attempts", d.Attempts, "err", cause)
	s.setCheckpoint(e.Position)
	return nil
}

// deliver handles e with retries; after MaxAttempts failures it parks e as
// a dead letter. Either way the checkpoint moves past e. It fails only
// when ctx ends.
func (r *Runner) deliver(ctx context.Context, s *sub, e eventdesk.Event) error {
	se := s.side
	var lastErr error
	for attempt := 1; attempt <= se.MaxAttempts; attempt++ {
		s.mu.Lock()
		s.attempts++
		s.mu.Unlock()
		lastErr = safeHandle(ctx, se.Handler, e)
		if lastErr == nil {
			// The effect happened: record it even if ctx is ending, or it
			// would happen again after a restart.
			record := context.WithoutCancel(ctx)
			if err := r.retry(ctx, s, "record handled event", func() error { return r.state.MarkHandled(record, se.Name, e) }); err != nil {
				return err
			}
			s.mu.Lock()
			s.handled++
			s.mu.Unlock()
			s.setCheckpoint(e.Position)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.fail(r, fmt.Sprintf("handle event %s (%s at position %d), attempt %d of %d", e.ID, e.Type, e.Position, attempt, se.MaxAttempts), lastErr)
		if attempt < se.MaxAttempts && !r.sleep(ctx, attempt) {
			return ctx.Err()
		}
	}
	if err := r.park(ctx, s, e, lastErr); err != nil {
		return err
	}
	r.countDeadLetters(ctx, s)
	return nil
}

// safeHandle runs the handler, turning a panic into an error so that one
// bad event cannot take the process down.
func safeHandle(ctx context.Context, h Handler, e eventdesk.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h.Handle(ctx, e)
}

// redriveLetters delivers again the dead letters of s queued by Redrive.
func (r *Runner) redriveLetters(ctx context.Context, s *sub) error {
	var letters []eventdesk.DeadLetter
	if err := r.retry(ctx, s, "list redriven dead letters", func() (err error) {
		letters, err = r.state.Redriven(ctx, s.name)
		return err
	}); err != nil {
		return err
	}
	for _, d := range letters {
		r.log.Info("subscription: redriving dead letter", "subscriber", s.name, "deadLetter", d.ID, "event", d.Event.ID)
		if err := r.deliver(ctx, s, d.Event); err != nil {
			return err
		}
	}
	if len(letters) > 0 {
		r.countDeadLetters(ctx, s)
	}
	return nil
}

// countDeadLetters refreshes the dead-letter count that Status reports.
func (r *Runner) countDeadLetters(ctx context.Context, s *sub) {
	letters, err := r.state.DeadLetters(ctx, s.name)
	if err != nil {
		if ctx.Err() == nil {
			s.fail(r, "count dead letters", err)
		}
		return
	}
	s.mu.Lock()
	s.deadLetters = len(letters)
	s.mu.Unlock()
}

// DeadLetters lists the dead letters of a side-effect subscriber ("" for
// all), oldest first.
func (r *Runner) DeadLetters(ctx context.Context, subscriber string) ([]eventdesk.DeadLetter, error) {
	if r.state == nil {
		return nil, nil
	}
	if subscriber != "" && r.find(subscriber) == nil {
		return nil, eventdesk.Errorf(eventdesk.ENotFound, "no subscriber named %q", subscriber)
	}
	return r.state.DeadLetters(ctx, subscriber)
}

// Redrive queues dead letter id for another try by its subscriber, and
// wakes the subscriber. An unknown id is an ENotFound error.
func (r *Runner) Redrive(ctx context.Context, id int64) error {
	if r.state == nil {
		return eventdesk.Errorf(eventdesk.ENotFound, "dead letter %d not found", id)
	}
	if err := r.state.Redrive(ctx, id); err != nil {
		return err
	}
	r.redrive.Broadcast()
	return nil
}

func (r *Runner) find(name string) *sub {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}
