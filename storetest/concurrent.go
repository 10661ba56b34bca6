package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

// testConcurrent runs many writers at once, each appending one to three
// events at a time to its own streams (with exact expected versions) and
// now and then to a stream they all share (with AnyVersion), while a
// subscription follows the log. Afterwards ReadAll must hold every
// acknowledged event exactly once, gap-free and in position order, and the
// subscription must have seen exactly that sequence.
func (s *suite) testConcurrent(t *testing.T) {
	t.Run("Writers", func(t *testing.T) {
		st := s.store(t)
		writers, appends := s.cfg.writers, s.cfg.appends

		type appended struct {
			stream string
			ids    []string
			res    eventdesk.AppendResult
		}
		done := make([][]appended, writers)

		ctx, cancel := context.WithCancel(testContext(t))
		defer cancel()
		seen := make(chan eventdesk.Event, writers*appends*3)
		subErr := make(chan error, 1)
		if !s.cfg.noGlobal {
			go func() {
				for e, err := range st.Subscribe(ctx, 0) {
					if err != nil {
						subErr <- err
						return
					}
					seen <- e
				}
			}()
		}

		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				<-start
				versions := map[string]int64{}
				for i := range appends {
					stream, exp := fmt.Sprintf("w%d-%d", w, i%3), eventdesk.ExpectedVersion(0)
					if i%4 == 3 {
						stream, exp = "shared", eventdesk.AnyVersion
					} else {
						exp = eventdesk.ExactVersion(versions[stream])
					}
					evs := events(t, 1+(w+i)%3)
					res, err := st.Append(ctx, stream, exp, evs...)
					if err != nil {
						t.Errorf("writer %d append %d to %s: %v", w, i, stream, err)
						return
					}
					if stream != "shared" {
						versions[stream] = res.Version
					}
					a := appended{stream: stream, res: res}
					for _, e := range evs {
						a.ids = append(a.ids, e.ID)
					}
					done[w] = append(done[w], a)
				}
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}

		// Every acknowledged event, once, where its append said.
		want := map[string]bool{}
		streams := map[string]bool{}
		total := 0
		for _, as := range done {
			for _, a := range as {
				streams[a.stream] = true
				for _, id := range a.ids {
					want[id] = true
				}
				total += len(a.ids)
			}
		}
		byID := map[string]eventdesk.Event{}
		for stream := range streams {
			for _, e := range checkStream(t, st, stream) {
				if _, dup := byID[e.ID]; dup {
					t.Fatalf("event %s read twice", e.ID)
				}
				byID[e.ID] = e
			}
		}
		if len(byID) != total {
			t.Fatalf("streams hold %d events, %d were acknowledged", len(byID), total)
		}
		for _, as := range done {
			for _, a := range as {
				for k, id := range a.ids {
					e, ok := byID[id]
					if !ok {
						t.Fatalf("acknowledged event %s of stream %s is missing", id, a.stream)
					}
					wantVersion := a.res.Version - int64(len(a.ids)-1-k)
					if e.Stream != a.stream || e.Version != wantVersion {
						t.Fatalf("event %s is %s v%d, want %s v%d", id, e.Stream, e.Version, a.stream, wantVersion)
					}
					if k == len(a.ids)-1 && e.Position != a.res.Position {
						t.Fatalf("last event of an append has position %d, the append returned %d", e.Position, a.res.Position)
					}
				}
			}
		}
		if s.cfg.noGlobal {
			return
		}

		all := s.checkLog(t, st)
		if len(all) != total {
			t.Fatalf("ReadAll returned %d events, want %d", len(all), total)
		}
		for _, e := range all {
			if !want[e.ID] {
				t.Fatalf("ReadAll returned event %s that no writer appended", e.ID)
			}
			delete(want, e.ID)
		}

		// The subscription saw the same sequence, live.
		timeout := time.After(time.Minute)
		for i, w := range all {
			select {
			case e := <-seen:
				if !sameEvent(e, w) {
					t.Fatalf("subscription event %d = %s@%d, ReadAll has %s@%d", i, e.ID, e.Position, w.ID, w.Position)
				}
			case err := <-subErr:
				t.Fatalf("subscription failed after %d events: %v", i, err)
			case <-timeout:
				t.Fatalf("subscription saw %d of %d events within a minute", i, len(all))
			}
		}
		cancel()
		select {
		case e := <-seen:
			t.Fatalf("subscription yielded an extra event %s@%d", e.ID, e.Position)
		default:
		}
	})
}
