package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventdesk/eventdesk"
)

// ErrClosed is returned by every method of a closed EventStore.
var ErrClosed = &eventdesk.Error{Code: eventdesk.EUnavailable, Message: "the event store is closed"}

// EventStore is the event store in events.db. Appends go through one
// writer goroutine that group-commits them (see Append); reads use a pool
// of read-only connections, which WAL lets run beside the writer.
type EventStore struct {
	file string
	opts options
	wdb  *sql.DB // one connection, owned by the writer goroutine
	rdb  *sql.DB // readers
	w    *writer
	ckpt *checkpointer
	tail *tail // the last committed events, for ReadAll
	// recent holds recently written streams, for ReadStream
	recent *recentStreams
	wal    *walSync

	readStream, readAll *sql.Stmt

	queue      chan *request
	writerDone chan struct{}
	signal     eventdesk.Signal
	head       atomic.Int64 // last committed position
	commits    atomic.Int64 // transactions committed by the writer
	appends    atomic.Int64 // appends those transactions held

	mu        sync.RWMutex // guards closed against in-flight registration
	closed    bool
	inflight  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ eventdesk.EventStore = (*EventStore)(nil)

// eventColumns is the column list every read selects, in scanEvent's order.
const eventColumns = "position, id, stream, version, type, schema, data, metadata, recorded_at, hash"

func openEventStore(ctx context.Context, file string, o options) (*EventStore, error) {
	wdb, rdb, err := openFile(ctx, file, eventsSchema, o)
	if err != nil {
		return nil, err
	}
	s := &EventStore{file: file, opts: o, wdb: wdb, rdb: rdb, tail: newTail(tailEvents), recent: newRecentStreams(recentStreamsBytes), queue: make(chan *request, 4096), writerDone: make(chan struct{})}
	fail := func(err error) (*EventStore, error) {
		_ = rdb.Close()
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", file, err)
	}
	if s.readStream, err = rdb.PrepareContext(ctx, "SELECT "+eventColumns+" FROM events WHERE stream = ? AND version >= ? AND position <= ? ORDER BY version LIMIT ?"); err != nil {
		return fail(err)
	}
	if s.readAll, err = rdb.PrepareContext(ctx, "SELECT "+eventColumns+" FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?"); err != nil {
		return fail(err)
	}
	if s.w, err = newWriter(ctx, wdb, o); err != nil {
		return fail(err)
	}
	if s.wal, err = openWALSync(file); err != nil {
		_ = s.w.close()
		return fail(err)
	}
	if s.ckpt, err = newCheckpointer(file, o.logger); err != nil {
		_ = s.wal.close()
		_ = s.w.close()
		return fail(err)
	}
	s.head.Store(s.w.next - 1)
	go s.run()
	return s, nil
}

// request is an append (or an Import) waiting for the writer.
type request struct {
	ctx      context.Context
	stream   string
	expected eventdesk.ExpectedVersion
	events   []pendingEvent
	key      string // idempotency key of the first event
	imports  []eventdesk.Event
	done     chan response // buffered: the writer never blocks on it

	resp response // filled by the writer during a batch
}

// pendingEvent is an event on its way in: everything but version,
// position and hash is known before the writer sees it.
type pendingEvent struct {
	ev  eventdesk.Event
	enc canonical // its hash input and stored metadata
	// newHash is the event's chain hash if its stream turns out to be new
	// (a NoStream append, versions from 1): made on the caller's
	// goroutine, so that the writer, the store's bottleneck, hashes only
	// appends to existing streams.
	newHash string
}

type response struct {
	res eventdesk.AppendResult
	err error
}

// Append writes events at the end of stream if expected matches, durably:
// it returns after the transaction holding them has been committed and
// the WAL synced (walsync.go). Concurrent appends share transactions (group commit):
// the writer takes every append queued while it was committing the
// previous batch, checks each against the stream heads it caches, writes
// all that pass in one transaction and commits once. An append that fails
// its checks fails alone and writes nothing.
//
// ctx is honoured until the append enters a batch; once it has, Append
// waits for the commit (a few milliseconds) so that its outcome is known.
func (s *EventStore) Append(ctx context.Context, stream string, expected eventdesk.ExpectedVersion, events ...eventdesk.EventData) (eventdesk.AppendResult, error) {
	req, err := s.newRequest(ctx, stream, expected, events)
	if err != nil {
		return eventdesk.AppendResult{}, fmt.Errorf("sqlite: append %s: %w", stream, err)
	}
	resp := s.submit(ctx, req)
	if resp.err != nil {
		return eventdesk.AppendResult{}, fmt.Errorf("sqlite: append %s: %w", stream, resp.err)
	}
	return resp.res, nil
}

// newRequest validates an append and prepares it for the writer. The JSON
// of the hash chain and of the metadata is made here, on the caller's
// goroutine; the writer only adds versions and positions, and hashes.
func (s *EventStore) newRequest(ctx context.Context, stream string, expected eventdesk.ExpectedVersion, events []eventdesk.EventData) (*request, error) {
	if err := eventdesk.ValidateAppend(stream, expected, events); err != nil {
		return nil, err
	}
	req := &request{ctx: ctx, stream: stream, expected: expected, events: make([]pendingEvent, len(events)), done: make(chan response, 1)}
	var now time.Time
	for i, e := range events {
		at := e.RecordedAt
		if at.IsZero() {
			if now.IsZero() {
				now = s.opts.now()
			}
			at = now
		}
		ev := eventdesk.Event{
			ID: e.ID, Stream: stream, Type: e.Type, Schema: e.Schema, Data: e.Data,
			Metadata: e.Metadata, RecordedAt: eventdesk.NormalizeTime(at),
		}
		c, err := encodeCanonical(&ev)
		if err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		if c.data != nil {
			// The store's own copy: the event outlives the append in the
			// tail (see tail.go), and the caller may reuse its buffer.
			ev.Data = c.data
		}
		req.events[i] = pendingEvent{ev: ev, enc: c}
	}
	if expected == eventdesk.NoStream {
		var prev string
		var buf []byte
		for i := range req.events {
			p := &req.events[i]
			p.newHash, buf = p.enc.hash(prev, &p.ev, int64(i+1), buf)
			prev = p.newHash
		}
	}
	if len(events) > 0 {
		req.key = events[0].Metadata.IdempotencyKey
	}
	return req, nil
}

// submit hands req to the writer and waits for its answer.
func (s *EventStore) submit(ctx context.Context, req *request) response {
	if err := ctx.Err(); err != nil {
		return response{err: err}
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return response{err: ErrClosed}
	}
	s.inflight.Add(1)
	s.mu.RUnlock()
	defer s.inflight.Done()
	select {
	case s.queue <- req:
	case <-ctx.Done():
		return response{err: ctx.Err()}
	}
	return <-req.done
}

// usable fails when the store is closed or ctx has ended.
func (s *EventStore) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// ReadStream returns up to limit events of stream from version fromVersion
// on (limit ≤ 0: all).
func (s *EventStore) ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error) {
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: read stream %s: %w", stream, err)
	}
	if events, ok := s.recent.read(stream, fromVersion, limit); ok {
		return events, nil
	}
	// Bounded by the head: a commit is visible to SQLite readers a moment
	// before its sync (walsync.go).
	events, err := s.query(ctx, s.readStream, limit, stream, fromVersion, s.head.Load(), sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: read stream %s: %w", stream, err)
	}
	return events, nil
}

// ReadAll returns up to limit events after position after, in position
// order (limit ≤ 0: all).
func (s *EventStore) ReadAll(ctx context.Context, after int64, limit int) ([]eventdesk.Event, error) {
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: read all: %w", err)
	}
	if events, ok := s.tail.read(after, limit); ok {
		return events, nil
	}
	if after >= s.head.Load() {
		// Caught up (the usual answer to a woken follower that finds
		// nothing new): nothing to ask the file.
		return nil, nil
	}
	events, err := s.query(ctx, s.readAll, limit, after, s.head.Load(), sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: read all after %d: %w", after, err)
	}
	return events, nil
}

// bulkReadChunk bounds the events one read transaction of readBulk
// covers, so that a long replay does not pin a WAL snapshot (and keep the
// WAL from restarting) for its whole length.
const bulkReadChunk = 1 << 16

// readBulk streams the durable events in (after, until] to fn, in position
// order and in pages of up to page events: what a rebuild reads, with one
// query per bulkReadChunk events instead of one per page, and without an
// allocation per column. The pages stay valid after fn returns.
func (s *EventStore) readBulk(ctx context.Context, after, until int64, page int, fn func([]eventdesk.Event) error) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("sqlite: read all: %w", err)
	}
	until = min(until, s.head.Load())
	var arena []byte // the data of the events: chunks that are never grown
	keep := func(b []byte) []byte {
		if len(b) > cap(arena)-len(arena) {
			arena = make([]byte, 0, max(256<<10, len(b)))
		}
		arena = append(arena, b...)
		return arena[len(arena)-len(b) : len(arena) : len(arena)]
	}
	events := make([]eventdesk.Event, 0, page)
	for after < until {
		n, err := s.readChunk(ctx, after, min(until, after+bulkReadChunk), func(e *eventdesk.Event, data []byte) error {
			e.Data = keep(data)
			events = append(events, *e)
			if len(events) < page {
				return nil
			}
			err := fn(events)
			events = make([]eventdesk.Event, 0, page)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: read all after %d: %w", after, err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: read all after %d: no events up to %d", after, until)
		}
		after = n
	}
	if len(events) > 0 {
		return fn(events)
	}
	return nil
}

// readChunk reads (after, until] in one query, calling fn with each event
// (its Data unset) and its data, valid only during the call. It returns
// the last position read (0 if none).
func (s *EventStore) readChunk(ctx context.Context, after, until int64, fn func(*eventdesk.Event, []byte) error) (int64, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT position, id, stream, version, type, schema, data, metadata, recorded_at FROM events WHERE position > ? AND position <= ? ORDER BY position", after, until)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		last       int64
		data, meta sql.RawBytes
		at         int64
		e          eventdesk.Event // one variable: fn gets its address
	)
	for rows.Next() {
		e = eventdesk.Event{}
		if err := rows.Scan(&e.Position, &e.ID, &e.Stream, &e.Version, &e.Type, &e.Schema, &data, &meta, &at); err != nil {
			return 0, err
		}
		e.RecordedAt = time.UnixMicro(at).UTC()
		if err := decodeMetadata(meta, &e.Metadata); err != nil {
			return 0, fmt.Errorf("event %d: %w: %v", e.Position, errBadMetadata, err)
		}
		if err := fn(&e, data); err != nil {
			return 0, err
		}
		last = e.Position
	}
	return last, rows.Err()
}

// sqlLimit maps "≤ 0: no limit" to SQLite's LIMIT -1.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

func (s *EventStore) query(ctx context.Context, stmt *sql.Stmt, limit int, args ...any) ([]eventdesk.Event, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var events []eventdesk.Event
	if limit > 0 {
		// A read often finds far fewer than limit: grow past this.
		events = make([]eventdesk.Event, 0, min(limit, 64))
	}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}

// scanEvent reads one row of eventColumns.
func scanEvent(rows *sql.Rows) (eventdesk.Event, error) {
	var (
		e    eventdesk.Event
		data []byte
		meta []byte
		at   int64
	)
	if err := rows.Scan(&e.Position, &e.ID, &e.Stream, &e.Version, &e.Type, &e.Schema, &data, &meta, &at, &e.Hash); err != nil {
		return e, err
	}
	e.Data = data
	e.RecordedAt = time.UnixMicro(at).UTC()
	if err := decodeMetadata(meta, &e.Metadata); err != nil {
		return e, fmt.Errorf("event %d: %w: %v", e.Position, errBadMetadata, err)
	}
	return e, nil
}

// errBadMetadata marks a stored row whose metadata is not valid JSON: the
// store never writes one, so the file was altered.
var errBadMetadata = errors.New("stored metadata is not valid JSON")

// Subscribe yields every event after position after, then new ones as they
// commit (the writer wakes subscribers after each commit), until ctx ends.
func (s *EventStore) Subscribe(ctx context.Context, after int64) iter.Seq2[eventdesk.Event, error] {
	// One process owns the directory, so the signal sees every commit;
	// the poll is only a safety net.
	return eventdesk.CatchUp(ctx, s, s.signal.Wait, after, 512, 5*time.Second)
}

// Head returns the position of the last committed event.
func (s *EventStore) Head(ctx context.Context) (int64, error) {
	if err := s.usable(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: head: %w", err)
	}
	return s.head.Load(), nil
}

// WriterStats counts the writer's work since Open; Appends/Commits is the
// average group-commit batch.
type WriterStats struct {
	// Commits is how many transactions (each one sync) the writer committed.
	Commits int64
	// Appends is how many appends (with at least one event) they held.
	Appends int64
	// Head is the last committed position.
	Head int64
}

// Stats returns the writer's counters, e.g. for metrics.
func (s *EventStore) Stats() WriterStats {
	return WriterStats{Commits: s.commits.Load(), Appends: s.appends.Load(), Head: s.head.Load()}
}

// Close lets in-flight appends finish, stops the writer and closes the
// connections. Later calls return the first call's result.
func (s *EventStore) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.inflight.Wait() // every queued request gets its answer
		close(s.queue)
		<-s.writerDone
		s.signal.Broadcast() // subscribers wake, read, and see ErrClosed
		var errs []error
		errs = append(errs, s.ckpt.close(), s.w.close(), s.wal.close(), s.readStream.Close(), s.readAll.Close(), s.rdb.Close(), s.wdb.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close %s: %w", s.file, err)
		}
	})
	return s.closeErr
}
