package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/eventdesk/eventdesk"
)

func streamEvent(stream string, version, pos int64) *eventdesk.Event {
	return &eventdesk.Event{Position: pos, ID: fmt.Sprint("e", pos), Stream: stream, Version: version, Type: "t", Schema: 1, Data: json.RawMessage(`{}`)}
}

func versions(evs []eventdesk.Event) []int64 {
	return eventNumbers(evs, func(e *eventdesk.Event) int64 { return e.Version })
}

// TestRecentStreams covers what the cache holds: streams from their first
// event only, reads by version and limit, a gap, eviction by bytes, reset.
func TestRecentStreams(t *testing.T) {
	c := newRecentStreams(8 * (eventOverhead + 10)) // eight small events
	c.add([]*eventdesk.Event{streamEvent("a", 1, 1), streamEvent("b", 7, 2), streamEvent("a", 2, 3), streamEvent("a", 3, 4)})
	if _, ok := c.read("b", 1, 0); ok {
		t.Error("a stream first seen at version 7 was held: its earlier events are not")
	}
	cases := []struct {
		from  int64
		limit int
		want  []int64
	}{
		{1, 0, []int64{1, 2, 3}},
		{0, 0, []int64{1, 2, 3}},
		{2, 0, []int64{2, 3}},
		{2, 1, []int64{2}},
		{1, 5, []int64{1, 2, 3}},
		{4, 0, nil},
		{9, 1, nil},
	}
	for _, k := range cases {
		got, ok := c.read("a", k.from, k.limit)
		if !ok || !reflect.DeepEqual(versions(got), k.want) {
			t.Errorf("read(a, %d, %d) = %v, %v; want %v, true", k.from, k.limit, versions(got), ok, k.want)
		}
	}
	// A reader's slice is its own.
	got, _ := c.read("a", 1, 0)
	got[0].Version = 99
	if again, _ := c.read("a", 1, 1); again[0].Version != 1 {
		t.Error("a reader's change reached the cache")
	}

	// A gap (never made by the writer) forgets the stream.
	c.add([]*eventdesk.Event{streamEvent("a", 5, 5)})
	if _, ok := c.read("a", 1, 0); ok {
		t.Error("the stream was still held after a gap")
	}

	// Over the byte budget the least recently used streams go first.
	c.reset()
	if c.bytes != 0 || c.lru.Len() != 0 {
		t.Fatalf("after reset: %d bytes, %d streams", c.bytes, c.lru.Len())
	}
	var pos int64
	for _, s := range []string{"s1", "s2", "s3", "s4"} {
		for v := int64(1); v <= 2; v++ {
			pos++
			c.add([]*eventdesk.Event{streamEvent(s, v, pos)})
		}
	}
	c.read("s1", 1, 0) // s1 is now the most recently used
	for _, s := range []string{"s5", "s6"} {
		for v := int64(1); v <= 2; v++ {
			pos++
			c.add([]*eventdesk.Event{streamEvent(s, v, pos)})
		}
	}
	for s, want := range map[string]bool{"s1": true, "s2": false, "s3": false, "s4": true, "s5": true, "s6": true} {
		if _, ok := c.read(s, 1, 0); ok != want {
			t.Errorf("%s held = %v, want %v", s, ok, want)
		}
	}
	if c.bytes > c.limit {
		t.Errorf("the cache holds %d bytes, budget %d", c.bytes, c.limit)
	}
}

// TestRecentStreamsMatchFile appends from many goroutines to new and
// existing streams (multi-event appends, appends that fail their checks,
// metadata that needs escaping) and then compares, for every stream and
// several ranges, what ReadStream answers with what the file holds.
func TestRecentStreamsMatchFile(t *testing.T) {
	ctx := context.Background()
	db := openQuietDB(t)
	// A stream written before the cache saw it: ReadStream must not
	// answer from a partial copy.
	if _, err := db.Append(ctx, "old", eventdesk.NoStream, eventdesk.EventData{ID: "0195f2d4-7a1c-7000-8000-000000000000", Type: "t", Schema: 1, Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	db.recent.reset()

	const writers, appends = 8, 120
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				n := w*appends + i
				stream := fmt.Sprintf("s-%d-%d", w, i%9)
				if i%17 == 0 {
					stream = "old"
				}
				ev := func(k int) eventdesk.EventData {
					e := eventdesk.EventData{ID: fmt.Sprintf("0195f2d4-7a1c-7000-9%03d-%012d", k, n), Type: "test.happened", Schema: 1,
						Data: json.RawMessage(fmt.Sprintf(`{ "n" : %d }`, n)), Metadata: eventdesk.Metadata{Actor: "a", CorrelationID: fmt.Sprint("c", n)}}
					if n%4 == 1 {
						e.Metadata.Actor = `quote " and <tag> & é`
					}
					return e
				}
				events := []eventdesk.EventData{ev(0)}
				if n%3 == 0 {
					events = append(events, ev(1), ev(2))
				}
				expected := eventdesk.AnyVersion
				switch {
				case i < 9:
					expected = eventdesk.NoStream
				case n%11 == 0:
					expected = eventdesk.ExpectedVersion(999) // fails
				}
				if _, err := db.Append(ctx, stream, expected, events...); err != nil && expected == eventdesk.AnyVersion {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	streams := []string{"old"}
	for w := range writers {
		for i := range 9 {
			streams = append(streams, fmt.Sprintf("s-%d-%d", w, i))
		}
	}
	var cached int
	for _, stream := range streams {
		if _, ok := db.recent.read(stream, 1, 0); ok {
			cached++
		} else if stream != "old" {
			t.Errorf("stream %s, written from its first event, is not held", stream)
		}
		if stream == "old" {
			if _, ok := db.recent.read(stream, 1, 0); ok {
				t.Error("a stream the cache saw only part of was held")
			}
		}
		for _, r := range []struct {
			from  int64
			limit int
		}{{1, 0}, {2, 0}, {3, 2}, {1, 1}, {40, 0}} {
			got, err := db.ReadStream(ctx, stream, r.from, r.limit)
			if err != nil {
				t.Fatal(err)
			}
			file, err := db.query(ctx, db.readStream, r.limit, stream, r.from, db.head.Load(), sqlLimit(r.limit))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(file) || (len(file) > 0 && !reflect.DeepEqual(got, file)) {
				t.Fatalf("ReadStream(%s, %d, %d) = %v, the file holds %v", stream, r.from, r.limit, versions(got), versions(file))
			}
		}
	}
	if cached < len(streams)-1 {
		t.Errorf("the cache held %d of %d streams", cached, len(streams)-1)
	}
}

// BenchmarkReadRecentStream reads back streams just written (five events
// each, as the sentiment scorer reads the ticket it scores) while four
// writers keep appending elsewhere, as a busy server's do, so that SQLite's
// readers find their page cache stale; with the recent streams and
// without them (every read from the file), side by side.
//
//	go test -run '^$' -bench ReadRecentStream ./sqlite/
func BenchmarkReadRecentStream(b *testing.B) {
	const streams, perStream = 2000, 5
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("recent=%v", on), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			db := openQuietDB(b)
			if !on {
				db.recent = newRecentStreams(0)
			}
			data := json.RawMessage(`{"title":"Printer on fire","description":"It is the third floor printer again, and it smokes.","priority":"high","requester":"rita"}`)
			event := func(k int) eventdesk.EventData {
				return eventdesk.EventData{ID: fmt.Sprintf("0195f2d4-7a1c-7000-8000-%012d", k), Type: "ticket.created", Schema: 2, Data: data, Metadata: eventdesk.Metadata{Actor: "rita"}}
			}
			names := make([]string, streams)
			k := 0
			for i := range names {
				names[i] = fmt.Sprintf("ticket-%d", i)
				evs := make([]eventdesk.EventData, perStream)
				for j := range evs {
					evs[j] = event(k)
					k++
				}
				if _, err := db.Append(ctx, names[i], eventdesk.NoStream, evs...); err != nil {
					b.Fatal(err)
				}
			}
			var writers sync.WaitGroup
			defer writers.Wait()
			defer cancel()
			for w := range 4 {
				writers.Go(func() {
					for i := 0; ctx.Err() == nil; i++ {
						_, _ = db.Append(ctx, fmt.Sprintf("other-%d-%d", w, i), eventdesk.NoStream, event(1_000_000*(w+1)+i))
					}
				})
			}
			b.ResetTimer()
			for i := range b.N {
				evs, err := db.ReadStream(ctx, names[i%streams], 1, 0)
				if err != nil || len(evs) != perStream {
					b.Fatalf("ReadStream: %d events, %v", len(evs), err)
				}
			}
			b.StopTimer()
		})
	}
}
