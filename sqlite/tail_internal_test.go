package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/eventdesk/eventdesk"
)

func tailEvent(pos int64, data string) *eventdesk.Event {
	return &eventdesk.Event{Position: pos, ID: fmt.Sprint("e", pos), Stream: "s", Version: pos, Type: "t", Schema: 1, Data: json.RawMessage(data)}
}

// openQuietDB opens a store in a temporary directory, logging nowhere,
// closed when tb ends.
func openQuietDB(tb testing.TB) *DB {
	db, err := Open(tb.TempDir(), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// eventNumbers returns f of every event (nil for none).
func eventNumbers(evs []eventdesk.Event, f func(*eventdesk.Event) int64) []int64 {
	var ns []int64
	for i := range evs {
		ns = append(ns, f(&evs[i]))
	}
	return ns
}

func positions(evs []eventdesk.Event) []int64 {
	return eventNumbers(evs, func(e *eventdesk.Event) int64 { return e.Position })
}

// TestTailRing covers the ring's bounds: what it holds after wrapping,
// after outgrowing its byte budget, and after events that do not follow.
func TestTailRing(t *testing.T) {
	tl := newTail(4)
	if _, ok := tl.read(0, 10); ok {
		t.Fatal("an empty tail answered a read")
	}
	var evs []*eventdesk.Event
	for p := int64(1); p <= 6; p++ {
		evs = append(evs, tailEvent(p, `{}`))
	}
	tl.add(evs[:3])
	tl.add(evs[3:]) // wraps: holds 3..6
	cases := []struct {
		after int64
		limit int
		want  []int64
		ok    bool
	}{
		{after: 0, limit: 10, ok: false}, // 1 was dropped
		{after: 1, limit: 10, ok: false}, // 2 was dropped
		{after: 2, limit: 10, want: []int64{3, 4, 5, 6}, ok: true},
		{after: 2, limit: 2, want: []int64{3, 4}, ok: true},
		{after: 4, limit: 0, want: []int64{5, 6}, ok: true},
		{after: 5, limit: 1, want: []int64{6}, ok: true},
		{after: 6, limit: 10, ok: false}, // nothing after the head: the file says so
		{after: -3, limit: 10, ok: false},
	}
	for _, c := range cases {
		got, ok := tl.read(c.after, c.limit)
		if ok != c.ok || !reflect.DeepEqual(positions(got), c.want) {
			t.Errorf("read(%d, %d) = %v, %v; want %v, %v", c.after, c.limit, positions(got), ok, c.want, c.ok)
		}
	}

	// Events that do not follow the held ones replace them.
	tl.add([]*eventdesk.Event{tailEvent(10, `{}`)})
	if got, ok := tl.read(9, 0); !ok || !reflect.DeepEqual(positions(got), []int64{10}) {
		t.Errorf("after a gap: read(9) = %v, %v; want [10], true", positions(got), ok)
	}
	if _, ok := tl.read(5, 0); ok {
		t.Error("after a gap the tail still answered for the events before it")
	}

	// The byte budget drops the oldest events first.
	quoted, _ := json.Marshal(strings.Repeat("a", tailBytes/2-8)) // two fit, three do not
	tl.reset()
	tl.add([]*eventdesk.Event{tailEvent(1, string(quoted)), tailEvent(2, string(quoted)), tailEvent(3, `{"a":1,"b":2,"c":3}`)})
	if _, ok := tl.read(0, 0); ok {
		t.Error("the tail held more data than its budget")
	}
	if got, ok := tl.read(1, 0); !ok || !reflect.DeepEqual(positions(got), []int64{2, 3}) {
		t.Errorf("read(1) = %v, %v; want [2 3], true", positions(got), ok)
	}
	if tl.bytes > tailBytes {
		t.Errorf("tail holds %d data bytes, budget %d", tl.bytes, tailBytes)
	}
}

// TestTailMatchesFile appends from many goroutines (single and
// multi-event appends, appends that fail their checks, metadata and data
// that the hand-made encoding cannot take) while a follower reads: every
// answer ReadAll takes from the tail equals what the file holds for the
// same range.
func TestTailMatchesFile(t *testing.T) {
	ctx := context.Background()
	db := openQuietDB(t)

	const writers, appends = 8, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				n := w*appends + i
				stream := fmt.Sprintf("s-%d-%d", w, i%7)
				ev := func(k int) eventdesk.EventData {
					e := eventdesk.EventData{ID: fmt.Sprintf("0195f2d4-7a1c-7000-8%03d-%012d", k, n), Type: "test.happened", Schema: 1,
						Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)), Metadata: eventdesk.Metadata{Actor: "a", CorrelationID: fmt.Sprint("c", n)}}
					switch n % 5 {
					case 1:
						e.Metadata.Actor = `quote " and <tag> & é` // needs escaping
					case 2:
						e.Data = json.RawMessage(fmt.Sprintf(`{ "n" : %d, "s": "<b>" }`, n)) // stored as given
					case 3:
						e.Metadata.IdempotencyKey = fmt.Sprint("key-", n%40) // some repeat: duplicates
					}
					return e
				}
				events := []eventdesk.EventData{ev(0)}
				if n%3 == 0 {
					events = append(events, ev(1), ev(2))
				}
				expected := eventdesk.AnyVersion
				if n%11 == 0 {
					expected = eventdesk.ExpectedVersion(999) // fails
				}
				buf := events[0].Data
				_, _ = db.Append(ctx, stream, expected, events...)
				// The caller may reuse its buffer: the store kept a copy.
				for j := range buf {
					buf[j] = 'x'
				}
			}
		})
	}
	var fromTail, compared int
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var after int64
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		head, _ := db.Head(ctx)
		for after < head {
			tailed, ok := db.tail.read(after, 37)
			if !ok {
				after++ // left behind: skip ahead one event
				continue
			}
			fromTail++
			got, err := db.ReadAll(ctx, after, 37)
			if err != nil {
				t.Fatal(err)
			}
			// Commits since tail.read may have added events (up to 37).
			if len(got) < len(tailed) || !reflect.DeepEqual(got[:len(tailed)], tailed) {
				t.Fatalf("ReadAll(%d) = %v, the tail held %v", after, positions(got), positions(tailed))
			}
			file, err := db.query(ctx, db.readAll, len(got), after, got[len(got)-1].Position, len(got))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, file) {
				for i := range got {
					if i < len(file) && !reflect.DeepEqual(got[i], file[i]) {
						t.Fatalf("event %d from the tail differs from the file:\ntail %+v\nfile %+v", got[i].Position, got[i], file[i])
					}
				}
				t.Fatalf("after %d: tail %v, file %v", after, positions(got), positions(file))
			}
			compared += len(got)
			after = got[len(got)-1].Position
		}
	}
	if fromTail == 0 || compared < 100 {
		t.Fatalf("only %d reads (%d events) came from the tail: the test proves nothing", fromTail, compared)
	}
	t.Logf("%d reads from the tail, %d events compared with the file", fromTail, compared)
}

// BenchmarkFollowers measures appends from 64 writers while six
// followers (as serve's subscribers) read every event through Subscribe,
// with the tail and without it (every read from the file), side by side:
// CPU time of the process per appended event.
func BenchmarkFollowers(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("tail=%v", on), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			db := openQuietDB(b)
			if !on {
				db.tail = newTail(0)
			}
			n := max(b.N, 2000)
			var followers sync.WaitGroup
			for range 6 {
				followers.Go(func() {
					seen := 0
					for _, err := range db.Subscribe(ctx, 0) {
						if err != nil {
							return
						}
						if seen++; seen == n {
							return
						}
					}
				})
			}
			data := json.RawMessage(`{"title":"Printer on fire","description":"It smokes.","priority":"high","requester":"rita"}`)
			var next sync.Mutex
			i := 0
			b.ResetTimer()
			cpu0 := rusageCPU()
			var writers sync.WaitGroup
			for range 64 {
				writers.Go(func() {
					for {
						next.Lock()
						k := i
						i++
						next.Unlock()
						if k >= n {
							return
						}
						ev := eventdesk.EventData{ID: fmt.Sprintf("0195f2d4-7a1c-7000-8000-%012d", k), Type: "ticket.created", Schema: 2, Data: data, Metadata: eventdesk.Metadata{Actor: "rita"}}
						if _, err := db.Append(ctx, fmt.Sprintf("ticket-%d", k), eventdesk.NoStream, ev); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			writers.Wait()
			followers.Wait()
			b.StopTimer()
			b.ReportMetric(float64(rusageCPU()-cpu0)/1e3/float64(n), "cpu-µs/event")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// rusageCPU returns the CPU time (user + system, all threads) the process
// has used, in nanoseconds.
func rusageCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
