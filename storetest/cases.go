package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

func (s *suite) testAppend(t *testing.T) {
	t.Run("NoStream", func(t *testing.T) {
		st := s.store(t)
		evs := events(t, 2)
		res := mustAppend(t, st, "a", eventdesk.NoStream, evs...)
		if res.Version != 2 {
			t.Fatalf("Version = %d, want 2", res.Version)
		}
		got := checkStream(t, st, "a")
		if len(got) != 2 {
			t.Fatalf("read %d events, want 2", len(got))
		}
		for i, e := range got {
			if e.ID != evs[i].ID || e.Type != evs[i].Type || e.Schema != evs[i].Schema || e.Version != int64(i+1) {
				t.Errorf("event %d = %+v, want id %s version %d", i, e, evs[i].ID, i+1)
			}
		}
		s.wantPosition(t, res.Position, 2)
		s.wantPosition(t, got[1].Position, 2)
	})
	t.Run("Exact", func(t *testing.T) {
		st := s.store(t)
		mustAppend(t, st, "a", eventdesk.NoStream, events(t, 2)...)
		res := mustAppend(t, st, "a", eventdesk.ExactVersion(2), events(t, 1)...)
		if res.Version != 3 {
			t.Fatalf("Version = %d, want 3", res.Version)
		}
		if n := len(checkStream(t, st, "a")); n != 3 {
			t.Fatalf("stream has %d events, want 3", n)
		}
	})
	t.Run("Any", func(t *testing.T) {
		st := s.store(t)
		if res := mustAppend(t, st, "a", eventdesk.AnyVersion, events(t, 1)...); res.Version != 1 {
			t.Fatalf("Any on a new stream: Version = %d, want 1", res.Version)
		}
		if res := mustAppend(t, st, "a", eventdesk.AnyVersion, events(t, 2)...); res.Version != 3 {
			t.Fatalf("Any on an existing stream: Version = %d, want 3", res.Version)
		}
	})
	t.Run("StreamExists", func(t *testing.T) {
		st := s.store(t)
		_, err := st.Append(testContext(t), "a", eventdesk.StreamExists, events(t, 1)...)
		wantWrongVersion(t, err, "a", 0)
		if n := len(readStream(t, st, "a")); n != 0 {
			t.Fatalf("failed append wrote %d events", n)
		}
		mustAppend(t, st, "a", eventdesk.NoStream, events(t, 1)...)
		if res := mustAppend(t, st, "a", eventdesk.StreamExists, events(t, 1)...); res.Version != 2 {
			t.Fatalf("Version = %d, want 2", res.Version)
		}
	})
	t.Run("NoEvents", func(t *testing.T) {
		st := s.store(t)
		mustAppend(t, st, "a", eventdesk.NoStream, events(t, 2)...)
		res, err := st.Append(testContext(t), "a", eventdesk.ExactVersion(2))
		if err != nil || res.Version != 2 {
			t.Fatalf("empty append with matching version = %+v, %v; want version 2", res, err)
		}
		_, err = st.Append(testContext(t), "a", eventdesk.ExactVersion(1))
		wantWrongVersion(t, err, "a", 2)
		if _, err := st.Append(testContext(t), "new", eventdesk.NoStream); err != nil {
			t.Fatalf("empty append to a new stream with NoStream: %v", err)
		}
		if n := len(readStream(t, st, "new")); n != 0 {
			t.Fatalf("empty append created %d events", n)
		}
		if n := len(readStream(t, st, "a")); n != 2 {
			t.Fatalf("stream has %d events, want 2", n)
		}
	})
}

// wantPosition checks a position, which is 0 in stores without global order.
func (s *suite) wantPosition(tb testing.TB, got, want int64) {
	tb.Helper()
	if s.cfg.noGlobal {
		want = 0
	}
	if got != want {
		tb.Errorf("Position = %d, want %d", got, want)
	}
}

func (s *suite) testOCC(t *testing.T) {
	t.Run("WrongExpectedVersion", func(t *testing.T) {
		st := s.store(t)
		mustAppend(t, st, "a", eventdesk.NoStream, events(t, 2)...)
		for _, tc := range []struct {
			name     string
			stream   string
			expected eventdesk.ExpectedVersion
			actual   int64
		}{
			{"NoStreamOnExisting", "a", eventdesk.NoStream, 2},
			{"ExactBehind", "a", eventdesk.ExactVersion(1), 2},
			{"ExactAhead", "a", eventdesk.ExactVersion(3), 2},
			{"ExactOnMissing", "b", eventdesk.ExactVersion(1), 0},
			{"StreamExistsOnMissing", "b", eventdesk.StreamExists, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := st.Append(testContext(t), tc.stream, tc.expected, events(t, 3)...)
				wantWrongVersion(t, err, tc.stream, tc.actual)
				var w *eventdesk.WrongExpectedVersionError
				if errors.As(err, &w) && w.Expected != tc.expected {
					t.Errorf("Expected = %s, want %s", w.Expected, tc.expected)
				}
				if code := eventdesk.ErrorCode(err); code != eventdesk.EPrecondition {
					t.Errorf("ErrorCode = %s, want %s", code, eventdesk.EPrecondition)
				}
				if n := len(readStream(t, st, tc.stream)); int64(n) != tc.actual {
					t.Fatalf("stream %s has %d events after a failed append, want %d", tc.stream, n, tc.actual)
				}
			})
		}
		if !s.cfg.noGlobal {
			if all := readAll(t, st); len(all) != 2 {
				t.Fatalf("log has %d events, want 2", len(all))
			}
		}
	})
	t.Run("OneWinner", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			before   int
			expected eventdesk.ExpectedVersion
		}{
			{"NoStream", 0, eventdesk.NoStream},
			{"Exact", 1, eventdesk.ExactVersion(1)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := s.store(t)
				if tc.before > 0 {
					mustAppend(t, st, "a", eventdesk.NoStream, events(t, tc.before)...)
				}
				const n = 16
				errs := make([]error, n)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range n {
					evs := events(t, 2)
					wg.Go(func() {
						<-start
						_, errs[i] = st.Append(testContext(t), "a", tc.expected, evs...)
					})
				}
				close(start)
				wg.Wait()
				winners := 0
				for _, err := range errs {
					if err == nil {
						winners++
						continue
					}
					wantWrongVersion(t, err, "a", int64(tc.before+2))
				}
				if winners != 1 {
					t.Fatalf("%d appends with the same expected version succeeded, want exactly 1", winners)
				}
				if n := len(checkStream(t, st, "a")); n != tc.before+2 {
					t.Fatalf("stream has %d events, want %d", n, tc.before+2)
				}
			})
		}
	})
}

func (s *suite) testAtomic(t *testing.T) {
	t.Run("MultiEvent", func(t *testing.T) {
		st := s.store(t)
		mustAppend(t, st, "other", eventdesk.NoStream, events(t, 1)...)
		res := mustAppend(t, st, "a", eventdesk.NoStream, events(t, 5)...)
		got := checkStream(t, st, "a")
		if len(got) != 5 || res.Version != 5 {
			t.Fatalf("append of 5: Version %d, %d events read", res.Version, len(got))
		}
		if !s.cfg.noGlobal {
			for i, e := range got {
				if e.Position != int64(2+i) {
					t.Errorf("event %d: position %d, want %d (an append's events are contiguous)", i, e.Position, 2+i)
				}
			}
			s.wantPosition(t, res.Position, 6)
		}
	})
	// Appends fail in the middle of concurrent successful ones (a taken
	// event id in their third event, or a wrong expected version): each
	// must write nothing while the others commit whole.
	t.Run("FailuresWriteNothing", func(t *testing.T) {
		st := s.store(t)
		taken := newEvent(t, "test.taken", `{}`)
		mustAppend(t, st, "taken", eventdesk.NoStream, taken)
		const writers, appends = 16, 12
		type outcome struct {
			ok     bool
			stream string
			ids    []string
		}
		results := make([][]outcome, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				stream := fmt.Sprintf("w%d", w)
				var version int64
				for i := range appends {
					evs := events(t, 4)
					exp := eventdesk.ExactVersion(version)
					want := "ok"
					switch {
					case i%3 == 1:
						evs[2].ID = taken.ID
						want = "conflict"
					case i%5 == 4:
						exp = eventdesk.ExactVersion(version + 7)
						want = "version"
					}
					res, err := st.Append(testContext(t), stream, exp, evs...)
					o := outcome{ok: err == nil, stream: stream}
					for _, e := range evs {
						o.ids = append(o.ids, e.ID)
					}
					results[w] = append(results[w], o)
					switch want {
					case "ok":
						if err != nil {
							t.Errorf("%s append %d: %v", stream, i, err)
							return
						}
						version = res.Version
					case "conflict":
						if code := eventdesk.ErrorCode(err); code != eventdesk.EConflict {
							t.Errorf("%s append %d reusing event id %s: err %v (code %q), want %s", stream, i, taken.ID, err, code, eventdesk.EConflict)
						}
					case "version":
						checkWrongVersion(t, err, stream, version)
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		for w, outs := range results {
			var want []string
			for _, o := range outs {
				if o.ok {
					want = append(want, o.ids...)
				}
			}
			got := checkStream(t, st, fmt.Sprintf("w%d", w))
			if len(got) != len(want) {
				t.Fatalf("stream w%d has %d events, want %d (events of failed appends leaked?)", w, len(got), len(want))
			}
			for i, e := range got {
				if e.ID != want[i] {
					t.Fatalf("stream w%d event %d: id %s, want %s", w, i, e.ID, want[i])
				}
			}
		}
		if evs := readStream(t, st, "taken"); len(evs) != 1 {
			t.Fatalf("stream taken has %d events, want 1", len(evs))
		}
		if !s.cfg.noGlobal {
			want := 1
			for _, outs := range results {
				for _, o := range outs {
					if o.ok {
						want += len(o.ids)
					}
				}
			}
			if all := s.checkLog(t, st); len(all) != want {
				t.Fatalf("log has %d events, want %d", len(all), want)
			}
		}
	})
}

func (s *suite) testRead(t *testing.T) {
	t.Run("StreamFromVersionWithLimit", func(t *testing.T) {
		st := s.store(t)
		mustAppend(t, st, "other", eventdesk.NoStream, events(t, 3)...)
		for range 5 {
			mustAppend(t, st, "a", eventdesk.AnyVersion, events(t, 2)...)
		}
		for _, tc := range []struct {
			from        int64
			limit       int
			first, last int64
		}{
			{0, 0, 1, 10}, {1, 0, 1, 10}, {4, 3, 4, 6}, {9, 5, 9, 10}, {10, 1, 10, 10},
			{11, 0, 0, 0}, {1, 1, 1, 1}, {3, -1, 3, 10},
		} {
			evs, err := st.ReadStream(testContext(t), "a", tc.from, tc.limit)
			if err != nil {
				t.Fatalf("ReadStream(from %d, limit %d): %v", tc.from, tc.limit, err)
			}
			var want int
			if tc.first > 0 {
				want = int(tc.last - tc.first + 1)
			}
			if len(evs) != want {
				t.Fatalf("ReadStream(from %d, limit %d): %d events, want %d", tc.from, tc.limit, len(evs), want)
			}
			for i, e := range evs {
				if e.Stream != "a" || e.Version != tc.first+int64(i) {
					t.Fatalf("ReadStream(from %d, limit %d)[%d] = %s v%d, want a v%d", tc.from, tc.limit, i, e.Stream, e.Version, tc.first+int64(i))
				}
			}
		}
	})
	t.Run("MissingStream", func(t *testing.T) {
		st := s.store(t)
		mustAppend(t, st, "a", eventdesk.NoStream, events(t, 1)...)
		evs, err := st.ReadStream(testContext(t), "missing", 1, 10)
		if err != nil || len(evs) != 0 {
			t.Fatalf("ReadStream(missing) = %d events, %v; want none and no error", len(evs), err)
		}
	})
	if !s.global() {
		return
	}
	t.Run("AllPages", func(t *testing.T) {
		st := s.store(t)
		var ids []string
		for i := range 10 {
			evs := events(t, 1+i%3)
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			mustAppend(t, st, fmt.Sprintf("s%d", i%3), eventdesk.AnyVersion, evs...)
		}
		var got []eventdesk.Event
		var after int64
		for pages := 0; ; pages++ {
			if pages > len(ids) {
				t.Fatal("ReadAll never returns a short page")
			}
			page, err := st.ReadAll(testContext(t), after, 7)
			if err != nil {
				t.Fatalf("ReadAll(%d, 7): %v", after, err)
			}
			if len(page) > 7 {
				t.Fatalf("ReadAll(%d, 7) returned %d events", after, len(page))
			}
			got = append(got, page...)
			if len(page) < 7 {
				break
			}
			after = page[len(page)-1].Position
		}
		if len(got) != len(ids) {
			t.Fatalf("paged ReadAll returned %d events, want %d", len(got), len(ids))
		}
		for i, e := range got {
			if e.ID != ids[i] || e.Position != int64(i+1) {
				t.Fatalf("event %d: id %s position %d, want id %s position %d", i, e.ID, e.Position, ids[i], i+1)
			}
		}
		mid, err := st.ReadAll(testContext(t), 5, 3)
		if err != nil || len(mid) != 3 || mid[0].Position != 6 || mid[2].Position != 8 {
			t.Fatalf("ReadAll(5, 3) = %d events, %v; want positions 6..8", len(mid), err)
		}
		if end, err := st.ReadAll(testContext(t), int64(len(ids)), 10); err != nil || len(end) != 0 {
			t.Fatalf("ReadAll(head) = %d events, %v; want none", len(end), err)
		}
		if all, err := st.ReadAll(testContext(t), 0, 0); err != nil || len(all) != len(ids) {
			t.Fatalf("ReadAll(0, 0) = %d events, %v; want all %d", len(all), err, len(ids))
		}
	})
}

func (s *suite) testPositions(t *testing.T) {
	if !s.global() {
		t.Run("NotImplemented", s.testNotImplemented)
		return
	}
	t.Run("GapFreeAcrossStreams", s.testGapFree)
}

// testNotImplemented: a store without global order says so.
func (s *suite) testNotImplemented(t *testing.T) {
	st := s.store(t)
	mustAppend(t, st, "a", eventdesk.NoStream, events(t, 1)...)
	_, err := st.ReadAll(testContext(t), 0, 10)
	wantCode(t, err, eventdesk.ENotImplemented, "ReadAll")
	_, err = st.Head(testContext(t))
	wantCode(t, err, eventdesk.ENotImplemented, "Head")
	for _, err := range st.Subscribe(testContext(t), 0) {
		wantCode(t, err, eventdesk.ENotImplemented, "Subscribe")
		break
	}
	for _, e := range readStream(t, st, "a") {
		if e.Position != 0 {
			t.Fatalf("Position = %d in a store without global order", e.Position)
		}
	}
}

// testGapFree: positions run 1, 2, 3, … across streams.
func (s *suite) testGapFree(t *testing.T) {
	st := s.store(t)
	if h, err := st.Head(testContext(t)); err != nil || h != 0 {
		t.Fatalf("Head of an empty store = %d, %v; want 0", h, err)
	}
	var want int64
	for i := range 12 {
		n := 1 + i%4
		res := mustAppend(t, st, fmt.Sprintf("s%d", i%5), eventdesk.AnyVersion, events(t, n)...)
		want += int64(n)
		if res.Position != want {
			t.Fatalf("append %d: Position = %d, want %d", i, res.Position, want)
		}
		if h, err := st.Head(testContext(t)); err != nil || h != want {
			t.Fatalf("Head = %d, %v; want %d", h, err, want)
		}
	}
	all := s.checkLog(t, st)
	if int64(len(all)) != want {
		t.Fatalf("log has %d events, want %d", len(all), want)
	}
}

func (s *suite) testSubscribe(t *testing.T) {
	t.Run("CatchUpThenLive", func(t *testing.T) {
		st := s.store(t)
		for i := range 5 {
			mustAppend(t, st, fmt.Sprintf("s%d", i%2), eventdesk.AnyVersion, events(t, 1)...)
		}
		ctx, cancel := context.WithCancel(testContext(t))
		defer cancel()
		got := make(chan eventdesk.Event, 100)
		done := make(chan error, 1)
		go func() {
			defer close(done)
			for e, err := range st.Subscribe(ctx, 0) {
				if err != nil {
					done <- err
					return
				}
				got <- e
			}
		}()
		next := func(want int64) {
			t.Helper()
			select {
			case e := <-got:
				if e.Position != want {
					t.Fatalf("subscription yielded position %d, want %d", e.Position, want)
				}
			case err := <-done:
				t.Fatalf("subscription ended early: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatalf("no event at position %d from the subscription within 30s", want)
			}
		}
		for p := int64(1); p <= 5; p++ {
			next(p)
		}
		for i := range 5 {
			mustAppend(t, st, "live", eventdesk.AnyVersion, events(t, 1+i%2)...)
		}
		for p := int64(6); p <= 12; p++ {
			next(p)
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("subscription ended with %v, want context.Canceled", err)
			}
		case e := <-got:
			t.Fatalf("unexpected event at position %d", e.Position)
		case <-time.After(30 * time.Second):
			t.Fatal("subscription did not stop within 30s of its context ending")
		}
	})
	t.Run("FromPosition", func(t *testing.T) {
		st := s.store(t)
		mustAppend(t, st, "a", eventdesk.NoStream, events(t, 6)...)
		ctx, cancel := context.WithCancel(testContext(t))
		defer cancel()
		want := int64(4)
		for e, err := range st.Subscribe(ctx, 3) {
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			if e.Position != want {
				t.Fatalf("Subscribe(after 3) yielded position %d, want %d", e.Position, want)
			}
			if want == 6 {
				break
			}
			want++
		}
	})
	t.Run("StopsWhenContextEnds", func(t *testing.T) {
		st := s.store(t)
		ctx, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
		defer cancel()
		var errs []error
		for e, err := range st.Subscribe(ctx, 0) {
			if err == nil {
				t.Fatalf("event %+v from an empty store", e)
			}
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], context.DeadlineExceeded) {
			t.Fatalf("Subscribe on an ended context yielded %v, want one context.DeadlineExceeded", errs)
		}
	})
}

func (s *suite) testIdempotency(t *testing.T) {
	keyed := func(tb testing.TB, n int, key, reqHash string) []eventdesk.EventData {
		evs := events(tb, n)
		evs[0].Metadata.IdempotencyKey = key
		evs[0].Metadata.RequestHash = reqHash
		return evs
	}
	wantDup := func(tb testing.TB, err error, want eventdesk.DuplicateAppendError) {
		tb.Helper()
		var d *eventdesk.DuplicateAppendError
		if !errors.As(err, &d) {
			tb.Fatalf("error = %v (%T), want *DuplicateAppendError", err, err)
		}
		if !errors.Is(err, eventdesk.ErrDuplicateAppend) {
			tb.Fatalf("errors.Is(%v, ErrDuplicateAppend) = false", err)
		}
		if *d != want {
			tb.Fatalf("DuplicateAppendError = %+v, want %+v", *d, want)
		}
	}
	t.Run("Duplicate", func(t *testing.T) {
		st := s.store(t)
		first := keyed(t, 2, "key-1", "hash-1")
		res := mustAppend(t, st, "a", eventdesk.NoStream, first...)
		mustAppend(t, st, "a", eventdesk.AnyVersion, events(t, 1)...)
		head := s.head(t, st)
		want := eventdesk.DuplicateAppendError{Key: "key-1", Stream: "a", FirstEventID: first[0].ID, Result: res, RequestHash: "hash-1"}

		// A retry (same expected version as the first time, now stale)
		// is told it is a duplicate, not a conflict.
		_, err := st.Append(testContext(t), "a", eventdesk.NoStream, keyed(t, 2, "key-1", "hash-1")...)
		wantDup(t, err, want)
		// Keys are store-wide: the same key on another stream, with another
		// request hash, is still the earlier append.
		_, err = st.Append(testContext(t), "b", eventdesk.AnyVersion, keyed(t, 1, "key-1", "other")...)
		wantDup(t, err, want)
		if n := len(readStream(t, st, "a")); n != 3 {
			t.Fatalf("stream a has %d events, want 3", n)
		}
		if n := len(readStream(t, st, "b")); n != 0 {
			t.Fatalf("duplicate append created stream b with %d events", n)
		}
		if got := s.head(t, st); got != head {
			t.Fatalf("Head moved from %d to %d on duplicates", head, got)
		}
	})
	t.Run("FailedAppendKeepsKeyFree", func(t *testing.T) {
		st := s.store(t)
		mustAppend(t, st, "a", eventdesk.NoStream, events(t, 1)...)
		_, err := st.Append(testContext(t), "a", eventdesk.NoStream, keyed(t, 1, "key-2", "h")...)
		wantWrongVersion(t, err, "a", 1)
		taken := newEvent(t, "test.taken", `{}`)
		mustAppend(t, st, "taken", eventdesk.NoStream, taken)
		evs := keyed(t, 2, "key-2", "h")
		evs[1].ID = taken.ID
		_, err = st.Append(testContext(t), "a", eventdesk.ExactVersion(1), evs...)
		wantCode(t, err, eventdesk.EConflict, "append reusing an event id")
		if res := mustAppend(t, st, "a", eventdesk.ExactVersion(1), keyed(t, 1, "key-2", "h")...); res.Version != 2 {
			t.Fatalf("Version = %d, want 2", res.Version)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		st := s.store(t)
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			evs := keyed(t, 2, "key-3", fmt.Sprint(i))
			wg.Go(func() {
				<-start
				_, errs[i] = st.Append(testContext(t), fmt.Sprintf("s%d", i%3), eventdesk.AnyVersion, evs...)
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for _, err := range errs {
			if err == nil {
				winners++
			} else if !errors.Is(err, eventdesk.ErrDuplicateAppend) {
				t.Fatalf("concurrent append with a used key: %v, want a duplicate", err)
			}
		}
		if winners != 1 {
			t.Fatalf("%d appends with one idempotency key succeeded, want exactly 1", winners)
		}
		total := 0
		for i := range 3 {
			total += len(readStream(t, st, fmt.Sprintf("s%d", i)))
		}
		if total != 2 {
			t.Fatalf("%d events written, want 2", total)
		}
	})
}

func (s *suite) head(tb testing.TB, st eventdesk.EventStore) int64 {
	tb.Helper()
	if s.cfg.noGlobal {
		return 0
	}
	h, err := st.Head(testContext(tb))
	if err != nil {
		tb.Fatalf("Head: %v", err)
	}
	return h
}

func (s *suite) testIntegrity(t *testing.T) {
	t.Run("HashChain", func(t *testing.T) {
		st := s.store(t)
		for i := range 6 {
			mustAppend(t, st, fmt.Sprintf("s%d", i%2), eventdesk.AnyVersion, events(t, 1+i%3)...)
		}
		// Streams opened with NoStream (one event, and several), also
		// with metadata and data that JSON encoders escape or reformat,
		// then continued.
		odd := events(t, 3)
		odd[1].Metadata.Actor = `"quoted" <actor> & co`
		odd[2].Data = json.RawMessage(`{ "spaced" : "<b>" }`)
		mustAppend(t, st, "s2", eventdesk.NoStream, odd...)
		mustAppend(t, st, "s2", eventdesk.ExpectedVersion(3), events(t, 2)...)
		mustAppend(t, st, "s3", eventdesk.NoStream, events(t, 1)...)
		more := events(t, 1)
		more[0].Metadata.Actor = odd[1].Metadata.Actor
		mustAppend(t, st, "s3", eventdesk.AnyVersion, more...)
		for _, stream := range []string{"s0", "s1", "s2", "s3"} {
			prev := ""
			for _, e := range readStream(t, st, stream) {
				if want := eventdesk.ChainHash(prev, e); e.Hash != want {
					t.Fatalf("%s v%d: Hash = %q, want ChainHash(previous, event) = %q", stream, e.Version, e.Hash, want)
				}
				prev = e.Hash
			}
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		st := s.store(t)
		at := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("IST", 5*3600+1800))
		e := eventdesk.EventData{
			ID: newID(t), Type: "ticket.created", Schema: 3,
			Data: json.RawMessage("{ \"b\": [1, 2.50, \"é\\u00e9\\n\"],\n \"a\": null, \"big\": 12345678901234567890 }"),
			Metadata: eventdesk.Metadata{
				Actor: "alice", CorrelationID: "corr", CausationID: "cause", IdempotencyKey: "idem",
				RequestHash: "rh", TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			},
			RecordedAt: at,
		}
		mustAppend(t, st, "a", eventdesk.NoStream, e)
		got := readStream(t, st, "a")
		if len(got) != 1 {
			t.Fatalf("read %d events, want 1", len(got))
		}
		g := got[0]
		if g.ID != e.ID || g.Type != e.Type || g.Schema != e.Schema || g.Metadata != e.Metadata {
			t.Fatalf("read %+v, want %+v", g, e)
		}
		if !jsonEqual(g.Data, e.Data) {
			t.Fatalf("Data = %s, want %s (compacted equal)", g.Data, e.Data)
		}
		want := eventdesk.NormalizeTime(at)
		if !g.RecordedAt.Equal(want) || g.RecordedAt.Location() != time.UTC || g.RecordedAt.Nanosecond()%1000 != 0 {
			t.Fatalf("RecordedAt = %v (%v), want %v in UTC", g.RecordedAt, g.RecordedAt.Location(), want)
		}
		if h := eventdesk.ChainHash("", g); g.Hash != h {
			t.Fatalf("Hash = %s, want %s", g.Hash, h)
		}
		if !s.cfg.noGlobal {
			all := readAll(t, st)
			if len(all) != 1 || !sameEvent(all[0], g) {
				t.Fatalf("ReadAll returned %+v, ReadStream %+v", all, g)
			}
		}
	})
	t.Run("ZeroRecordedAtUsesStoreClock", func(t *testing.T) {
		st := s.store(t)
		before := time.Now().Truncate(time.Microsecond)
		mustAppend(t, st, "a", eventdesk.NoStream, events(t, 2)...)
		after := time.Now()
		for _, e := range readStream(t, st, "a") {
			if e.RecordedAt.Before(before) || e.RecordedAt.After(after) || e.RecordedAt.Location() != time.UTC {
				t.Fatalf("RecordedAt = %v, want the store's clock between %v and %v, in UTC", e.RecordedAt, before, after)
			}
		}
	})
	t.Run("EventIDsUnique", func(t *testing.T) {
		st := s.store(t)
		e := newEvent(t, "test.happened", `{}`)
		mustAppend(t, st, "a", eventdesk.NoStream, e)
		head := s.head(t, st)
		_, err := st.Append(testContext(t), "b", eventdesk.NoStream, e)
		wantCode(t, err, eventdesk.EConflict, "append of an id used in another stream")
		evs := events(t, 3)
		evs[1].ID = e.ID
		_, err = st.Append(testContext(t), "a", eventdesk.AnyVersion, evs...)
		wantCode(t, err, eventdesk.EConflict, "append of an id used in the same stream")
		if n := len(readStream(t, st, "b")); n != 0 {
			t.Fatalf("stream b has %d events", n)
		}
		if n := len(readStream(t, st, "a")); n != 1 {
			t.Fatalf("stream a has %d events, want 1", n)
		}
		if got := s.head(t, st); got != head {
			t.Fatalf("Head moved from %d to %d", head, got)
		}
		// The store is still usable and numbers on without a gap.
		res := mustAppend(t, st, "b", eventdesk.NoStream, events(t, 1)...)
		s.wantPosition(t, res.Position, 2)
	})
}

func (s *suite) testInvalid(t *testing.T) {
	ok := func(tb testing.TB) eventdesk.EventData { return newEvent(tb, "test.happened", `{"x":1}`) }
	for _, tc := range []struct {
		name     string
		stream   string
		expected eventdesk.ExpectedVersion
		events   func(tb testing.TB) []eventdesk.EventData
	}{
		{"EmptyStream", "", eventdesk.AnyVersion, nil},
		{"ControlCharInStream", "a\nb", eventdesk.AnyVersion, nil},
		{"StreamTooLong", string(make([]byte, eventdesk.MaxStreamLen+1)), eventdesk.AnyVersion, nil},
		{"BadExpectedVersion", "a", eventdesk.ExpectedVersion(-3), nil},
		{"EmptyID", "a", eventdesk.AnyVersion, func(tb testing.TB) []eventdesk.EventData {
			e := ok(tb)
			e.ID = ""
			return []eventdesk.EventData{e}
		}},
		{"EmptyType", "a", eventdesk.AnyVersion, func(tb testing.TB) []eventdesk.EventData {
			e := ok(tb)
			e.Type = ""
			return []eventdesk.EventData{e}
		}},
		{"SchemaZero", "a", eventdesk.AnyVersion, func(tb testing.TB) []eventdesk.EventData {
			e := ok(tb)
			e.Schema = 0
			return []eventdesk.EventData{e}
		}},
		{"DataNotJSON", "a", eventdesk.AnyVersion, func(tb testing.TB) []eventdesk.EventData {
			e := ok(tb)
			e.Data = json.RawMessage(`{"x":`)
			return []eventdesk.EventData{ok(tb), e}
		}},
		{"DataEmpty", "a", eventdesk.AnyVersion, func(tb testing.TB) []eventdesk.EventData {
			e := ok(tb)
			e.Data = nil
			return []eventdesk.EventData{e}
		}},
		{"DuplicateIDInAppend", "a", eventdesk.AnyVersion, func(tb testing.TB) []eventdesk.EventData {
			e := ok(tb)
			return []eventdesk.EventData{e, ok(tb), e}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.store(t)
			evs := []eventdesk.EventData{ok(t)}
			if tc.events != nil {
				evs = tc.events(t)
			}
			_, err := st.Append(testContext(t), tc.stream, tc.expected, evs...)
			wantCode(t, err, eventdesk.EInvalid, "invalid append")
			if tc.stream != "" {
				if n := len(readStream(t, st, tc.stream)); n != 0 {
					t.Fatalf("invalid append wrote %d events", n)
				}
			}
			if h := s.head(t, st); h != 0 {
				t.Fatalf("invalid append moved Head to %d", h)
			}
		})
	}
}

func (s *suite) testContext(t *testing.T) {
	st := s.store(t)
	mustAppend(t, st, "a", eventdesk.NoStream, events(t, 1)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t.Run("Append", func(t *testing.T) {
		_, err := st.Append(ctx, "a", eventdesk.AnyVersion, events(t, 1)...)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Append with a cancelled context: %v, want context.Canceled", err)
		}
		if n := len(readStream(t, st, "a")); n != 1 {
			t.Fatalf("Append with a cancelled context wrote: stream has %d events, want 1", n)
		}
	})
	t.Run("ReadStream", func(t *testing.T) {
		if _, err := st.ReadStream(ctx, "a", 1, 0); err == nil {
			t.Fatal("ReadStream with a cancelled context: no error")
		}
	})
	if !s.global() {
		return
	}
	t.Run("ReadAll", func(t *testing.T) {
		if _, err := st.ReadAll(ctx, 0, 0); err == nil {
			t.Fatal("ReadAll with a cancelled context: no error")
		}
		if _, err := st.Head(ctx); err == nil {
			t.Fatal("Head with a cancelled context: no error")
		}
	})
}

func (s *suite) testClose(t *testing.T) {
	st := s.open(t)
	mustAppend(t, st, "a", eventdesk.NoStream, events(t, 1)...)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := st.Append(testContext(t), "a", eventdesk.AnyVersion, events(t, 1)...); err == nil {
		t.Fatal("Append after Close: no error")
	}
	if _, err := st.ReadStream(testContext(t), "a", 1, 0); err == nil {
		t.Fatal("ReadStream after Close: no error")
	}
	if !s.cfg.noGlobal {
		if _, err := st.ReadAll(testContext(t), 0, 0); err == nil {
			t.Fatal("ReadAll after Close: no error")
		}
		for _, err := range st.Subscribe(testContext(t), 0) {
			if err == nil {
				t.Fatal("Subscribe after Close yielded an event")
			}
			break
		}
	}
	_ = st.Close() // a second Close must not panic
}

// testReopen checks that a closed store reopens with everything in it:
// events, positions, hashes and idempotency keys, and numbers on.
func (s *suite) testReopen(t *testing.T) {
	st := s.open(t)
	first := events(t, 2)
	first[0].Metadata.IdempotencyKey = "reopen-key"
	res := mustAppend(t, st, "a", eventdesk.NoStream, first...)
	for i := range 5 {
		mustAppend(t, st, fmt.Sprintf("s%d", i%2), eventdesk.AnyVersion, events(t, 1+i%2)...)
	}
	before := map[string][]eventdesk.Event{}
	for _, stream := range []string{"a", "s0", "s1"} {
		before[stream] = readStream(t, st, stream)
	}
	head := s.head(t, st)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st = s.cfg.reopen(t, st)
	t.Cleanup(func() { _ = st.Close() })
	for stream, want := range before {
		got := checkStream(t, st, stream)
		if len(got) != len(want) {
			t.Fatalf("after reopen stream %s has %d events, want %d", stream, len(got), len(want))
		}
		for i := range got {
			if !sameEvent(got[i], want[i]) {
				t.Fatalf("after reopen %s[%d] = %+v, want %+v", stream, i, got[i], want[i])
			}
		}
	}
	if got := s.head(t, st); got != head {
		t.Fatalf("Head after reopen = %d, want %d", got, head)
	}
	_, err := st.Append(testContext(t), "a", eventdesk.AnyVersion, events(t, 1)...)
	if err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
	dup := events(t, 1)
	dup[0].Metadata.IdempotencyKey = "reopen-key"
	_, err = st.Append(testContext(t), "a", eventdesk.AnyVersion, dup...)
	var d *eventdesk.DuplicateAppendError
	if !errors.As(err, &d) || d.Result != res || d.FirstEventID != first[0].ID {
		t.Fatalf("idempotency key after reopen: %v, want a duplicate of %+v", err, res)
	}
	_, err = st.Append(testContext(t), "a", eventdesk.ExactVersion(2), events(t, 1)...)
	wantWrongVersion(t, err, "a", 3)
	if !s.cfg.noGlobal {
		all := s.checkLog(t, st)
		if int64(len(all)) != head+1 {
			t.Fatalf("log has %d events after reopen and one append, want %d", len(all), head+1)
		}
	}
}
