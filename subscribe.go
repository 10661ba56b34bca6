package eventdesk

import (
	"context"
	"iter"
	"sync"
	"time"
)

// Signal wakes every waiter when something changed. The zero value is ready
// to use. Adapters broadcast after each commit; followers wait on it instead
// of polling.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel that is closed by the next Broadcast. Take it
// before checking for new data, or a change between the check and the wait
// is missed.
func (s *Signal) Wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Broadcast wakes everyone waiting.
func (s *Signal) Broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// AllReader reads the store-wide log; it is the part of EventStore a
// follower needs.
type AllReader interface {
	ReadAll(ctx context.Context, after int64, limit int) ([]Event, error)
}

// CatchUp implements EventStore.Subscribe for any store: it reads pages of
// events after the given position and, once caught up, waits for wake (may
// be nil) or for poll to elapse before reading again. Polling covers writers
// in other processes whose commits no local signal announces.
func CatchUp(ctx context.Context, r AllReader, wake func() <-chan struct{}, after int64, page int, poll time.Duration) iter.Seq2[Event, error] {
	if page <= 0 {
		page = 512
	}
	if poll <= 0 {
		poll = time.Second
	}
	return func(yield func(Event, error) bool) {
		timer := time.NewTimer(poll)
		defer timer.Stop()
		for {
			var woken <-chan struct{}
			if wake != nil {
				woken = wake()
			}
			events, err := r.ReadAll(ctx, after, page)
			if err != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				yield(Event{}, err)
				return
			}
			for _, e := range events {
				if !yield(e, nil) {
					return
				}
				after = e.Position
			}
			if len(events) == page {
				continue
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(poll)
			select {
			case <-ctx.Done():
				yield(Event{}, ctx.Err())
				return
			case <-woken:
			case <-timer.C:
			}
		}
	}
}
