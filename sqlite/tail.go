package sqlite

import (
	"sync"

	"github.com/eventdesk/eventdesk"
)

// The tail of the log in memory. Every subscriber of serve (the ticket
// and dashboard projections, the side-effect subscribers, each
// Server-Sent Events stream) follows the log by reading the events after
// its checkpoint, which are almost always the few that the writer has
// just committed. Reading them back from SQLite cost each reader a read
// transaction and a row decode per event, several times over for every
// event. The writer keeps its last committed events instead, exactly as
// ReadAll would return them, and ReadAll answers from them when they
// cover the position asked for.

// Bounds of the tail: events and the bytes of their data. A reader that
// falls further behind reads from the file, as before.
const (
	tailEvents = 2048
	tailBytes  = 2 << 20
)

// tail is a ring of the last committed events, in position order, with
// no gap. The events' data and strings are never written to after they
// enter it, so that readers may share them.
type tail struct {
	mu     sync.RWMutex
	ring   []eventdesk.Event // capacity tailEvents, used as a ring
	start  int               // index of the oldest event in ring
	n      int               // events held
	first  int64             // position of the oldest (n > 0)
	bytes  int               // data bytes held
	events int               // ring's size bound; tailEvents but in tests (0: off)
}

func newTail(events int) *tail {
	return &tail{ring: make([]eventdesk.Event, events), events: events}
}

// add appends committed events, which follow one another. Events that do
// not follow the held ones replace them (the log was written by another
// path, e.g. an import, which resets the tail first anyway).
func (t *tail) add(evs []*eventdesk.Event) {
	if len(evs) == 0 || t.events == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n > 0 && evs[0].Position != t.first+int64(t.n) {
		t.clearLocked()
	}
	for _, e := range evs {
		for t.n > 0 && (t.n == t.events || t.bytes+len(e.Data) > tailBytes) {
			t.dropOldestLocked()
		}
		if t.n == 0 {
			t.start, t.first = 0, e.Position
		}
		t.ring[(t.start+t.n)%t.events] = *e
		t.n++
		t.bytes += len(e.Data)
	}
}

func (t *tail) dropOldestLocked() {
	t.bytes -= len(t.ring[t.start].Data)
	t.ring[t.start] = eventdesk.Event{}
	t.start = (t.start + 1) % t.events
	t.n--
	t.first++
}

// reset forgets every event.
func (t *tail) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
}

func (t *tail) clearLocked() {
	clear(t.ring)
	t.start, t.n, t.first, t.bytes = 0, 0, 0, 0
}

// read returns up to limit events after position after (limit ≤ 0: all
// held) and true if the tail holds the next one; false sends the reader
// to the file.
func (t *tail) read(after int64, limit int) ([]eventdesk.Event, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.n == 0 || after+1 < t.first || after+1 >= t.first+int64(t.n) {
		return nil, false
	}
	k := int(t.first + int64(t.n) - 1 - after)
	if limit > 0 {
		k = min(k, limit)
	}
	out := make([]eventdesk.Event, k)
	from := t.start + int(after+1-t.first)
	for i := range out {
		out[i] = t.ring[(from+i)%t.events]
	}
	return out, true
}
