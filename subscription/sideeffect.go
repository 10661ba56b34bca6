package subscription

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/eventdesk/eventdesk"
)

// runSideEffect handles events one by one, at least once, until ctx ends or
// the subscription breaks.
func (r *Runner) runSideEffect(ctx context.Context, s *sub) error {
	se := s.side
	pos, err := r.startPosition(ctx, s,
		func() (int64, bool, error) { return r.state.Checkpoint(ctx, se.Name) },
		func(at int64) error { return r.state.SaveCheckpoint(ctx, se.Name, at) })
	if err != nil {
		return unlessDone(ctx, err)
	}
	r.countDeadLetters(ctx, s)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := r.follow(ctx, pos, 256)
	poll := time.NewTicker(r.opts.RedrivePoll)
	defer poll.Stop()

	// Events the subscriber passes over move the checkpoint in bulk,
	// when it is idle or every so many, not one write each.
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
			e := it.e
			if len(se.Types) > 0 && !slices.Contains(se.Types, e.Type) {
				skipped = e.Position
				if len(events) == 0 || skipped-saved >= 1000 {
					flush()
				}
				continue
			}
			flush()
			var done bool
			if err := r.retry(ctx, s, "read inbox", func() (err error) {
				done, err = r.state.Handled(ctx, se.Name, e.ID)
				return err
			}); err != nil {
				return nil
			}
			if done {
				skipped = e.Position
				continue
			}
			if err := r.deliver(ctx, s, e); err != nil {
				return nil
			}
			saved, skipped = e.Position, e.Position
		}
	}
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
	var d eventdesk.DeadLetter
	if err := r.retry(ctx, s, "park event", func() (err error) {
		d, err = r.state.Park(context.WithoutCancel(ctx), se.Name, e, se.MaxAttempts, lastErr.Error())
		return err
	}); err != nil {
		return err
	}
	r.log.Warn("subscription: event parked as a dead letter", "subscriber", se.Name, "deadLetter", d.ID,
		"event", e.ID, "type", e.Type, "position", e.Position, "attempts", d.Attempts, "err", lastErr)
	s.setCheckpoint(e.Position)
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
