package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/eventdesk/eventdesk"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// writer is the state of the single writer goroutine: its connection, its
// prepared statements, the cache of stream heads and the next position.
// Only the writer goroutine touches it (and Close, after it stopped).
type writer struct {
	conn *sql.Conn

	insertEvent, upsertKey, selectKey, selectHead, deleteFrom, getMeta, setMeta *sql.Stmt
	// The statements of every batch, prepared on the driver's connection
	// and run only inside conn.Raw (see execRaw): database/sql's layers
	// (argument conversion, locking, retry) and a fresh parse of BEGIN and
	// COMMIT cost the writer more per batch than binding the rows does.
	// insertRows[i] inserts insertChunks[i] rows in one statement.
	begin, commit driver.Stmt
	insertRows    [len(insertChunks)]driver.Stmt

	// heads caches committed stream heads. pending holds the heads the open
	// transaction changed and keys the idempotency keys it recorded; they
	// reach the cache only once the transaction commits, so a rollback
	// leaves the cache true.
	heads   *lru
	pending map[string]streamHead
	keys    map[string]eventdesk.DuplicateAppendError

	next      int64 // next position to assign in the open transaction
	committed int64 // next position after the last commit

	maxBatch int
	batch    []*request
	hbuf     []byte // scratch for hashing
	// Rows and idempotency keys of the open transaction not yet written
	// (see flush), and the arguments of one statement.
	rows    []stagedRow
	keyRows []stagedKey
	args    []driver.NamedValue
	run     importRun // the append an Import is in the middle of
	// The events of the last commit, for the tail (see committedEvents).
	tailBuf []*eventdesk.Event
}

// insertChunks are the row counts of the multi-row INSERT statements a
// batch is written with, largest first: one statement per chunk spares
// most of the per-statement cost (database/sql, binding, stepping).
var insertChunks = [...]int{64, 16, 4, 1}

// stagedRow is an event the open transaction will insert at flush.
type stagedRow struct {
	e    *eventdesk.Event
	meta []byte
}

// stagedKey is an idempotency key the open transaction will record.
type stagedKey struct {
	key, stream, firstID, requestHash string
	res                               eventdesk.AppendResult
}

// streamHead is what an append needs to know about its stream.
type streamHead struct {
	version int64
	hash    string
}

func newWriter(ctx context.Context, db *sql.DB, o options) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{
		conn: conn, heads: newLRU(o.streamCache), maxBatch: o.maxBatch,
		pending: map[string]streamHead{}, keys: map[string]eventdesk.DuplicateAppendError{},
	}
	// Checkpoints run on the checkpointer's connection (checkpoint.go);
	// the writer syncs each commit itself (walsync.go).
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL; "+checkpointedWriter); err != nil {
		_ = conn.Close()
		return nil, err
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.insertEvent, "INSERT INTO events (" + eventColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
		{&w.upsertKey, `INSERT INTO idempotency (key, stream, first_event_id, version, position, request_hash) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET version = excluded.version, position = excluded.position`},
		{&w.selectKey, "SELECT stream, first_event_id, version, position, request_hash FROM idempotency WHERE key = ?"},
		{&w.selectHead, "SELECT version, hash FROM events WHERE stream = ? ORDER BY version DESC LIMIT 1"},
		{&w.deleteFrom, "DELETE FROM events WHERE position >= ?"},
		{&w.getMeta, "SELECT value FROM meta WHERE key = ?"},
		{&w.setMeta, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"},
	} {
		if *p.stmt, err = conn.PrepareContext(ctx, p.sql); err != nil {
			_ = w.close()
			return nil, err
		}
	}
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the driver's connection (%T) cannot prepare with a context", dc)
		}
		prepare := func(q string) (driver.Stmt, error) {
			st, err := pc.PrepareContext(ctx, q)
			if err != nil {
				return nil, err
			}
			if _, ok := st.(driver.StmtExecContext); !ok {
				_ = st.Close()
				return nil, fmt.Errorf("the driver's statement (%T) cannot execute with a context", st)
			}
			return st, nil
		}
		var err error
		if w.begin, err = prepare("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		if w.commit, err = prepare("COMMIT"); err != nil {
			return err
		}
		for i, n := range insertChunks {
			q := "INSERT INTO events (" + eventColumns + ") VALUES " + strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", n-1) + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			if w.insertRows[i], err = prepare(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = w.close()
		return nil, err
	}
	var last int64
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) FROM events").Scan(&last); err != nil {
		_ = w.close()
		return nil, err
	}
	w.next, w.committed = last+1, last+1
	return w, nil
}

func (w *writer) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{w.insertEvent, w.upsertKey, w.selectKey, w.selectHead, w.deleteFrom, w.getMeta, w.setMeta} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, w.conn.Raw(func(any) error {
		var errs []error
		for _, st := range append([]driver.Stmt{w.begin, w.commit}, w.insertRows[:]...) {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		return errors.Join(errs...)
	}))
	errs = append(errs, w.conn.Close())
	return errors.Join(errs...)
}

// run is the writer goroutine. It takes a request, adds every append
// already queued behind it (up to maxBatch events) and commits them
// together; an Import is always a batch of its own.
func (s *EventStore) run() {
	defer close(s.writerDone)
	var carry *request
	for {
		req := carry
		carry = nil
		if req == nil {
			var ok bool
			if req, ok = <-s.queue; !ok {
				return
			}
		}
		s.ckpt.finishOn(s.w.conn)
		if req.imports != nil {
			s.importBatch(req)
			continue
		}
		batch := append(s.w.batch[:0], req)
		n := len(req.events)
		// Let appenders that are runnable (often those just answered) queue
		// before the batch closes: yield while the queue keeps growing. It
		// costs scheduler rounds, never a timed wait, and under load grows
		// batches by about half.
		for prev, i := -1, 0; i < 8 && len(s.queue) > prev; i++ {
			prev = len(s.queue)
			runtime.Gosched()
		}
	fill:
		for n < s.w.maxBatch {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break fill
				}
				if r.imports != nil {
					carry = r
					break fill
				}
				batch = append(batch, r)
				n += len(r.events)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		clear(batch) // drop references to answered requests
		s.w.batch = batch[:0]
	}
}

// errFatal marks an error that dooms the whole transaction (I/O, a full
// disk, a broken invariant), as opposed to one append's own failure.
type errFatal struct{ err error }

func (e errFatal) Error() string { return e.err.Error() }
func (e errFatal) Unwrap() error { return e.err }

// commitBatch writes a batch in one transaction and answers every request
// once the outcome is durable. The rows are first written with multi-row
// INSERTs; if one of those hits a constraint (a stream assumed new that
// exists, an event id already taken: rare), the transaction is rolled back
// and the batch written again one append at a time, which tells whose
// append it was.
func (s *EventStore) commitBatch(batch []*request) {
	if !s.writeBatch(batch, true) {
		s.writeBatch(batch, false)
	}
}

// writeBatch writes batch in one transaction, staging its rows for
// multi-row INSERTs if staged, and answers every request. It returns false,
// having rolled back and answered nobody, when a staged insert failed on
// a constraint.
func (s *EventStore) writeBatch(batch []*request, staged bool) bool {
	w := s.w
	ctx := context.Background() // one caller's ctx must not abort the others
	failAll := func(err error) bool {
		w.rollback()
		for _, r := range batch {
			r.done <- response{err: err}
		}
		return true
	}
	if s.wal.failed != nil {
		for _, r := range batch {
			r.done <- response{err: s.wal.failed}
		}
		return true
	}
	if err := w.execRaw(ctx, w.begin, nil); err != nil {
		return failAll(fmt.Errorf("begin: %w", err))
	}
	wrote := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.resp = response{err: err}
			continue
		}
		res, err := w.apply(ctx, r, staged)
		if fe := (errFatal{}); errors.As(err, &fe) {
			return failAll(fe.err)
		}
		r.resp = response{res: res, err: err}
		if err == nil && len(r.events) > 0 {
			wrote++
		}
	}
	if err := w.flush(ctx); err != nil {
		if fe := (errFatal{}); errors.As(err, &fe) {
			return failAll(fe.err)
		}
		w.rollback()
		return false
	}
	if wrote == 0 {
		// Nothing to make durable: every request failed its checks or
		// appended nothing. Their answers stand on committed state.
		w.rollback()
	} else if err := w.execRaw(ctx, w.commit, nil); err != nil {
		return failAll(fmt.Errorf("commit: %w", err))
	} else if err := s.syncWAL(); err != nil {
		return failAll(err)
	} else {
		w.publish()
		evs := w.committedEvents(batch)
		s.tail.add(evs)
		s.recent.add(evs)
		s.head.Store(w.committed - 1)
		s.commits.Add(1)
		s.appends.Add(int64(wrote))
		s.signal.Broadcast()
		s.ckpt.committed(framesWritten(w.conn))
	}
	for _, r := range batch {
		r.done <- r.resp
	}
	return true
}

// flush writes the staged rows, in as few statements as insertChunks
// allow, and then the staged idempotency keys. A constraint violation
// comes back as is (the caller redoes the batch unstaged); anything else
// is errFatal.
func (w *writer) flush(ctx context.Context) error {
	rows, keys := w.rows, w.keyRows
	defer func() {
		clear(rows) // drop references to the batch's events
		w.rows, w.keyRows = rows[:0], keys[:0]
	}()
	for i, n := range insertChunks {
		for len(rows) >= n {
			args := w.args[:0]
			for _, r := range rows[:n] {
				e := r.e
				args = append(args,
					driver.NamedValue{Value: e.Position}, driver.NamedValue{Value: e.ID}, driver.NamedValue{Value: e.Stream},
					driver.NamedValue{Value: e.Version}, driver.NamedValue{Value: e.Type}, driver.NamedValue{Value: int64(e.Schema)},
					driver.NamedValue{Value: []byte(e.Data)}, driver.NamedValue{Value: r.meta},
					driver.NamedValue{Value: e.RecordedAt.UnixMicro()}, driver.NamedValue{Value: e.Hash})
			}
			for j := range args {
				args[j].Ordinal = j + 1
			}
			err := w.execRaw(ctx, w.insertRows[i], args)
			clear(args)
			w.args = args[:0]
			if err != nil {
				if isTakenID(err) || isTakenVersion(err) {
					return err
				}
				return errFatal{err}
			}
			rows = rows[n:]
		}
	}
	for _, k := range keys {
		if _, err := w.upsertKey.ExecContext(ctx, k.key, k.stream, k.firstID, k.res.Version, k.res.Position, k.requestHash); err != nil {
			return errFatal{err}
		}
	}
	return nil
}

// apply checks one append against the stream's head and writes it into
// the open transaction, or, if staged, stages its rows and key for flush.
// A failure of the append itself (a wrong expected version, a used
// idempotency key, a taken event id) is returned as is and leaves the
// transaction as it was; errFatal means the transaction is lost.
func (w *writer) apply(ctx context.Context, r *request, staged bool) (eventdesk.AppendResult, error) {
	// The key first: a retry of an append that succeeded meets a stream
	// that has moved on, and must hear "duplicate", not "wrong version".
	if r.key != "" {
		dup, found, err := w.lookupKey(ctx, r.key)
		if err != nil {
			return eventdesk.AppendResult{}, errFatal{err}
		}
		if found {
			return eventdesk.AppendResult{}, &dup
		}
	}
	h, known := w.cachedHead(r.stream)
	// A NoStream append to a stream the writer does not know is almost
	// always a new stream (a ticket being opened): assume it is and let
	// the unique (stream, version) index say otherwise, which saves a read
	// per new stream.
	assumed := !known && r.expected == eventdesk.NoStream && len(r.events) > 0
	if !known && !assumed {
		var err error
		if h, err = w.loadHead(ctx, r.stream); err != nil {
			return eventdesk.AppendResult{}, errFatal{err}
		}
	}
	if !r.expected.Matches(h.version) {
		return eventdesk.AppendResult{}, &eventdesk.WrongExpectedVersionError{Stream: r.stream, Expected: r.expected, Actual: h.version}
	}
	if len(r.events) == 0 {
		return eventdesk.AppendResult{Version: h.version}, nil
	}
	first := w.next
	fresh := h.version == 0 // a new stream: the caller may have hashed its events
	for i := range r.events {
		e := &r.events[i].ev
		e.Version = h.version + 1
		e.Position = w.next
		if p := &r.events[i]; fresh && p.newHash != "" {
			e.Hash = p.newHash // the stream is new: hashed by the caller
		} else {
			e.Hash, w.hbuf = p.enc.hash(h.hash, e, e.Version, w.hbuf)
		}
		if staged {
			w.rows = append(w.rows, stagedRow{e: e, meta: r.events[i].enc.meta})
		} else if err := w.insert(ctx, e, r.events[i].enc.meta); err != nil {
			w.next = first
			if assumed && i == 0 && isTakenVersion(err) {
				h, err := w.loadHead(ctx, r.stream)
				if err != nil {
					return eventdesk.AppendResult{}, errFatal{err}
				}
				return eventdesk.AppendResult{}, &eventdesk.WrongExpectedVersionError{Stream: r.stream, Expected: r.expected, Actual: h.version}
			}
			return eventdesk.AppendResult{}, w.undo(ctx, r.stream, first, i, e.ID, err)
		}
		h = streamHead{version: e.Version, hash: e.Hash}
		w.next++
	}
	res := eventdesk.AppendResult{Version: h.version, Position: w.next - 1}
	if r.key != "" {
		e := r.events[0].ev
		k := stagedKey{key: r.key, stream: r.stream, firstID: e.ID, requestHash: e.Metadata.RequestHash, res: res}
		if staged {
			w.keyRows = append(w.keyRows, k)
		} else if _, err := w.upsertKey.ExecContext(ctx, k.key, k.stream, k.firstID, res.Version, res.Position, k.requestHash); err != nil {
			w.next = first
			return eventdesk.AppendResult{}, w.undo(ctx, r.stream, first, len(r.events), "", err)
		}
		w.keys[r.key] = eventdesk.DuplicateAppendError{Key: r.key, Stream: r.stream, FirstEventID: e.ID, Result: res, RequestHash: e.Metadata.RequestHash}
	}
	w.pending[r.stream] = h
	return res, nil
}

// execRaw runs a statement prepared on the driver's connection. The
// arguments must already be driver values (int64, string, []byte).
func (w *writer) execRaw(ctx context.Context, st driver.Stmt, args []driver.NamedValue) error {
	return w.conn.Raw(func(any) error {
		_, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
		return err
	})
}

func (w *writer) insert(ctx context.Context, e *eventdesk.Event, meta []byte) error {
	_, err := w.insertEvent.ExecContext(ctx, e.Position, e.ID, e.Stream, e.Version, e.Type, e.Schema, []byte(e.Data), meta, e.RecordedAt.UnixMicro(), e.Hash)
	return err
}

// undo removes the rows an append wrote before one of its inserts failed,
// and classifies the failure: a taken event id is the append's own
// conflict; anything else is fatal.
func (w *writer) undo(ctx context.Context, stream string, first int64, written int, id string, cause error) error {
	if written > 0 {
		if _, err := w.deleteFrom.ExecContext(ctx, first); err != nil {
			return errFatal{fmt.Errorf("%w (and undoing the append failed: %v)", cause, err)}
		}
	}
	if id != "" && isTakenID(cause) {
		return eventdesk.Errorf(eventdesk.EConflict, "event id %s already exists", id)
	}
	// A (stream, version) collision means the cache lied: forget it all.
	w.heads.reset()
	delete(w.pending, stream)
	return errFatal{cause}
}

// isTakenID reports whether err is the unique index on events.id refusing
// a row.
func isTakenID(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(se.Error(), "events.id")
}

// isTakenVersion reports whether err is the unique index on (stream,
// version) refusing a row.
func isTakenVersion(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(se.Error(), "events.stream")
}

// head returns the stream's head as the open transaction sees it.
func (w *writer) head(ctx context.Context, stream string) (streamHead, error) {
	if h, ok := w.cachedHead(stream); ok {
		return h, nil
	}
	return w.loadHead(ctx, stream)
}

// cachedHead returns the stream's head if the open transaction wrote it
// or the cache has it.
func (w *writer) cachedHead(stream string) (streamHead, bool) {
	if h, ok := w.pending[stream]; ok {
		return h, true
	}
	return w.heads.get(stream)
}

// loadHead reads the head of a stream that the open transaction has not
// written, so it reads committed state and may go straight into the cache.
func (w *writer) loadHead(ctx context.Context, stream string) (streamHead, error) {
	var h streamHead
	err := w.selectHead.QueryRowContext(ctx, stream).Scan(&h.version, &h.hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("read head of %s: %w", stream, err)
	}
	w.heads.put(stream, h)
	return h, nil
}

// lookupKey finds an earlier append with the idempotency key.
func (w *writer) lookupKey(ctx context.Context, key string) (eventdesk.DuplicateAppendError, bool, error) {
	if d, ok := w.keys[key]; ok {
		return d, true, nil
	}
	d := eventdesk.DuplicateAppendError{Key: key}
	err := w.selectKey.QueryRowContext(ctx, key).Scan(&d.Stream, &d.FirstEventID, &d.Result.Version, &d.Result.Position, &d.RequestHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return d, false, nil
	case err != nil:
		return d, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return d, true, nil
}

// committedEvents returns the events batch has just committed, in
// position order, as ReadAll returns them. The slice is reused.
func (w *writer) committedEvents(batch []*request) []*eventdesk.Event {
	evs := w.tailBuf[:0]
	for _, r := range batch {
		if r.resp.err != nil {
			continue
		}
		for i := range r.events {
			p := &r.events[i]
			if p.enc.slow {
				// Stored metadata made by encoding/json: give readers
				// what decoding it gives (rare: values that need escaping).
				e := p.ev
				e.Metadata = eventdesk.Metadata{}
				if decodeMetadata(p.enc.meta, &e.Metadata) != nil {
					e.Metadata = p.ev.Metadata
				}
				p.ev = e
			}
			evs = append(evs, &p.ev)
		}
	}
	w.tailBuf = evs
	return evs
}

// publish makes the committed transaction's effects the writer's truth.
func (w *writer) publish() {
	for stream, h := range w.pending {
		w.heads.put(stream, h)
	}
	clear(w.pending)
	clear(w.keys)
	w.committed = w.next
}

// rollback abandons the open transaction (if any) and everything the
// writer assumed about it.
func (w *writer) rollback() {
	_, _ = w.conn.ExecContext(context.Background(), "ROLLBACK")
	clear(w.pending)
	clear(w.keys)
	clear(w.rows)
	w.rows, w.keyRows = w.rows[:0], w.keyRows[:0]
	w.next = w.committed
}
