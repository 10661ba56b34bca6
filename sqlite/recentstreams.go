package sqlite

import (
	"container/list"
	"sync"

	"github.com/eventdesk/eventdesk"
)

// Recent streams in memory. A command on a ticket folds the ticket's
// stream first, and the commands that follow an append most closely are
// about the stream just written: the sentiment scorer records its score
// on the ticket opened a moment before, an agent answers a ticket while
// its requester is still adding to it. Reading the stream back from
// events.db is a read transaction whose page cache SQLite has discarded
// (another connection wrote since), so some ten page reads through the
// file: on a store of a million tickets `eventdesk serve` spent 15 % of
// its CPU there (docs/benchmarks-notes.md, "Recent streams in memory").
// The writer keeps the streams it has written from their first event, as
// ReadStream would return them, and ReadStream answers from them.

// recentStreamsBytes bounds the streams held: their events' data and
// metadata, plus eventOverhead per event.
const (
	recentStreamsBytes = 4 << 20
	eventOverhead      = 160
)

// recentStreams holds whole streams (version 1 to their head) that the
// writer created or extended, least recently used first out. Events are
// never written to after they enter it, so that readers may share their
// data.
type recentStreams struct {
	mu      sync.Mutex
	streams map[string]*list.Element // of *cachedStream
	lru     list.List                // front: most recently used
	bytes   int
	limit   int // 0: off
}

type cachedStream struct {
	name   string
	events []eventdesk.Event
	bytes  int
}

func newRecentStreams(limit int) *recentStreams {
	return &recentStreams{streams: map[string]*list.Element{}, limit: limit}
}

func eventBytes(e *eventdesk.Event) int {
	return len(e.Data) + len(e.ID) + len(e.Type) + len(e.Metadata.Actor) + len(e.Metadata.CorrelationID) +
		len(e.Metadata.IdempotencyKey) + len(e.Metadata.RequestHash) + len(e.Metadata.TraceParent) + eventOverhead
}

// add records committed events, in position order. A stream enters at its
// first event; a held stream takes the events that follow its last one;
// anything else (a gap, which the writer never makes) forgets the stream.
func (c *recentStreams) add(evs []*eventdesk.Event) {
	if c.limit == 0 || len(evs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range evs {
		el, held := c.streams[e.Stream]
		switch {
		case e.Version == 1:
			if held {
				c.removeLocked(el) // a stream never restarts; be safe
			}
			cs := &cachedStream{name: e.Stream}
			el = c.lru.PushFront(cs)
			c.streams[e.Stream] = el
		case !held:
			continue
		case el.Value.(*cachedStream).last() != e.Version-1:
			c.removeLocked(el)
			continue
		default:
			c.lru.MoveToFront(el)
		}
		cs := el.Value.(*cachedStream)
		n := eventBytes(e)
		cs.events = append(cs.events, *e)
		cs.bytes += n
		c.bytes += n
		for c.bytes > c.limit && c.lru.Len() > 0 {
			c.removeLocked(c.lru.Back())
		}
	}
}

func (cs *cachedStream) last() int64 {
	if len(cs.events) == 0 {
		return 0
	}
	return cs.events[len(cs.events)-1].Version
}

func (c *recentStreams) removeLocked(el *list.Element) {
	cs := c.lru.Remove(el).(*cachedStream)
	delete(c.streams, cs.name)
	c.bytes -= cs.bytes
}

// read returns up to limit events of stream from version fromVersion on
// (limit ≤ 0: all) and true if the stream is held; false sends the reader
// to the file.
func (c *recentStreams) read(stream string, fromVersion int64, limit int) ([]eventdesk.Event, bool) {
	if c.limit == 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.streams[stream]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	evs := el.Value.(*cachedStream).events
	from := max(fromVersion, 1) - 1 // versions are 1..len(evs)
	if from >= int64(len(evs)) {
		return nil, true
	}
	evs = evs[from:]
	if limit > 0 && limit < len(evs) {
		evs = evs[:limit]
	}
	return append([]eventdesk.Event(nil), evs...), true
}

// reset forgets every stream.
func (c *recentStreams) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.streams)
	c.lru.Init()
	c.bytes = 0
}
