package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// writeTimeout bounds one write transaction. The writer does not use the
// callers' contexts: one caller giving up must not abort the others'
// appends that share the transaction.
const writeTimeout = 30 * time.Second

// appendReq is one Append waiting for the writer.
type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventdesk.ExpectedVersion
	events   []eventdesk.EventData
	done     chan appendResp // buffered: the writer never waits for the caller

	// resp is filled by the writer while it builds a transaction.
	resp appendResp
}

type appendResp struct {
	res eventdesk.AppendResult
	err error
}

// Append implements eventdesk.EventStore. Concurrent appends are committed
// together by one writer goroutine (group commit); each returns once the
// transaction holding it has committed.
func (db *DB) Append(ctx context.Context, stream string, expected eventdesk.ExpectedVersion, events ...eventdesk.EventData) (eventdesk.AppendResult, error) {
	if err := eventdesk.ValidateAppend(stream, expected, events); err != nil {
		return eventdesk.AppendResult{}, fmt.Errorf("postgres: append %s: %w", stream, err)
	}
	if len(events) == 0 {
		return db.checkExpected(ctx, stream, expected)
	}
	req := &appendReq{ctx: ctx, stream: stream, expected: expected, events: events, done: make(chan appendResp, 1)}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return eventdesk.AppendResult{}, fmt.Errorf("postgres: append %s: %w", stream, eventdesk.Errorf(eventdesk.EUnavailable, "the event store is closed"))
	}
	select {
	case db.reqs <- req:
	case <-ctx.Done():
		db.mu.RUnlock()
		return eventdesk.AppendResult{}, fmt.Errorf("postgres: append %s: %w", stream, ctx.Err())
	}
	db.mu.RUnlock()
	select {
	case r := <-req.done:
		if r.err != nil {
			return eventdesk.AppendResult{}, fmt.Errorf("postgres: append %s: %w", stream, r.err)
		}
		return r.res, nil
	case <-ctx.Done():
		// The append may still commit: callers that must know use an
		// idempotency key and retry.
		return eventdesk.AppendResult{}, fmt.Errorf("postgres: append %s: %w", stream, ctx.Err())
	}
}

// checkExpected serves an append of no events: it only checks the
// expectation, against the committed state.
func (db *DB) checkExpected(ctx context.Context, stream string, expected eventdesk.ExpectedVersion) (eventdesk.AppendResult, error) {
	var version, position int64
	err := db.pool.QueryRow(ctx, "SELECT version, position FROM streams WHERE stream = $1", stream).Scan(&version, &position)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return eventdesk.AppendResult{}, fmt.Errorf("postgres: append %s: %w", stream, unavailable(err))
	}
	if !expected.Matches(version) {
		return eventdesk.AppendResult{}, fmt.Errorf("postgres: append %s: %w", stream,
			&eventdesk.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: version})
	}
	return eventdesk.AppendResult{Version: version, Position: position}, nil
}

// writeLoop is the single writer of this process. It takes whatever appends
// queued up while the previous transaction was committing and commits them
// together, so the cost of a commit (a WAL flush, and the wait for the
// position lock) is shared by all of them.
func (db *DB) writeLoop() {
	defer close(db.writerDone)
	for {
		first, ok := <-db.reqs
		if !ok {
			return
		}
		batch := []*appendReq{first}
	fill:
		for len(batch) < db.opts.MaxBatch {
			select {
			case r, ok := <-db.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		db.commitBatch(batch)
	}
}

// commitBatch writes batch in one transaction and answers every request.
// If the transaction fails before COMMIT, each request is retried in a
// transaction of its own, so that one bad append (say, an event id that
// already exists) does not fail the others.
func (db *DB) commitBatch(batch []*appendReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- appendResp{err: err} // the caller gave up before we started
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	written, err := db.writeTx(live)
	var commitErr *commitError
	if err != nil && len(live) > 1 && !errors.As(err, &commitErr) {
		for _, r := range live {
			db.commitBatch([]*appendReq{r})
		}
		return
	}
	for _, r := range live {
		if err != nil {
			r.done <- appendResp{err: err}
		} else {
			r.done <- r.resp
		}
	}
	if err == nil && len(written) > 0 {
		db.signal.Broadcast()
		if f := db.afterCommit.Load(); f != nil {
			(*f)(written)
		}
	}
}

// commitError is a failure of COMMIT itself: the transaction may or may not
// have committed, so the batch must not be retried.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// streamHead is a stream's state as the writer tracks it during a
// transaction.
type streamHead struct {
	version  int64
	position int64
	hash     string
}

// priorAppend is what an idempotency key recorded.
type priorAppend struct {
	stream, firstEventID, requestHash string
	version, position                 int64
}

// writeTx runs one write transaction for reqs, setting each request's resp
// (a rejected request gets an error and writes nothing), and returns the
// events it committed. It takes two round trips: one pipeline that begins,
// locks and reads, one that writes and commits.
func (db *DB) writeTx(reqs []*appendReq) ([]eventdesk.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	// A connection released inside a transaction (after a failure) is
	// closed by the pool, which rolls the transaction back.
	defer conn.Release()
	open := false
	defer func() {
		if open {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()

	streamNames, keys, ids := []string{}, []string{}, []string{}
	for _, r := range reqs {
		r.resp = appendResp{}
		streamNames = append(streamNames, r.stream)
		if k := r.events[0].Metadata.IdempotencyKey; k != "" {
			keys = append(keys, k)
		}
		for _, e := range r.events {
			ids = append(ids, e.ID)
		}
	}
	var head int64
	heads := map[string]*streamHead{}
	dirty := map[string]bool{}
	prior := map[string]priorAppend{}
	taken := map[string]bool{}
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	// The row lock on store_head is held until COMMIT: it serializes
	// position assignment with every other writer, in this process or any
	// other, so positions are contiguous and become visible in order.
	b.Queue("SELECT position FROM store_head FOR UPDATE").QueryRow(func(row pgx.Row) error { return row.Scan(&head) })
	// Under the lock, read what the requests depend on. READ COMMITTED
	// gives each statement a fresh snapshot, taken after the lock was
	// granted, so these see every commit made before.
	b.Queue("SELECT stream, version, position, hash FROM streams WHERE stream = ANY($1)", streamNames).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var name string
			h := &streamHead{}
			if err := rows.Scan(&name, &h.version, &h.position, &h.hash); err != nil {
				return err
			}
			heads[name] = h
		}
		return rows.Err()
	})
	if len(keys) > 0 {
		b.Queue("SELECT key, stream, first_event_id, version, position, request_hash FROM append_keys WHERE key = ANY($1)", keys).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k string
				var p priorAppend
				if err := rows.Scan(&k, &p.stream, &p.firstEventID, &p.version, &p.position, &p.requestHash); err != nil {
					return err
				}
				prior[k] = p
			}
			return rows.Err()
		})
	}
	b.Queue("SELECT id FROM events WHERE id = ANY($1)", ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			taken[id] = true
		}
		return rows.Err()
	})
	open = true
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, unavailable(err)
	}

	now := time.Now()
	var written []eventdesk.Event
	newKeys := map[string]bool{}
	var keyRows []priorAppend
	var keyNames []string
	for _, r := range reqs {
		first := r.events[0].Metadata
		if k := first.IdempotencyKey; k != "" {
			if p, ok := prior[k]; ok {
				r.resp.err = &eventdesk.DuplicateAppendError{
					Key: k, Stream: p.stream, FirstEventID: p.firstEventID,
					Result:      eventdesk.AppendResult{Version: p.version, Position: p.position},
					RequestHash: p.requestHash,
				}
				continue
			}
		}
		h := heads[r.stream]
		if h == nil {
			h = &streamHead{}
		}
		if !r.expected.Matches(h.version) {
			r.resp.err = &eventdesk.WrongExpectedVersionError{Stream: r.stream, Expected: r.expected, Actual: h.version}
			continue
		}
		if id := firstTaken(r.events, taken); id != "" {
			r.resp.err = eventdesk.Errorf(eventdesk.EConflict, "an event with id %s already exists", id)
			continue
		}
		next := *h
		for _, d := range r.events {
			head++
			next.version++
			next.position = head
			at := d.RecordedAt
			if at.IsZero() {
				at = now
			}
			e := eventdesk.Event{
				ID: d.ID, Stream: r.stream, Version: next.version, Position: head,
				Type: d.Type, Schema: d.Schema, Data: d.Data, Metadata: d.Metadata,
				RecordedAt: eventdesk.NormalizeTime(at),
			}
			e.Hash = eventdesk.ChainHash(next.hash, e)
			next.hash = e.Hash
			written = append(written, e)
			taken[d.ID] = true
		}
		heads[r.stream] = &next
		dirty[r.stream] = true
		r.resp.res = eventdesk.AppendResult{Version: next.version, Position: next.position}
		if k := first.IdempotencyKey; k != "" {
			p := priorAppend{stream: r.stream, firstEventID: r.events[0].ID, requestHash: first.RequestHash,
				version: next.version, position: next.position}
			prior[k] = p
			if !newKeys[k] {
				newKeys[k] = true
				keyNames = append(keyNames, k)
				keyRows = append(keyRows, p)
			}
		}
	}
	if len(written) == 0 {
		return nil, nil // every request was rejected; the deferred ROLLBACK ends it
	}

	w := &pgx.Batch{}
	if err := queueEvents(w, written); err != nil {
		return nil, err
	}
	var names []string
	var versions, positions []int64
	var hashes []string
	for name := range dirty {
		h := heads[name]
		names = append(names, name)
		versions = append(versions, h.version)
		positions = append(positions, h.position)
		hashes = append(hashes, h.hash)
	}
	w.Queue(`INSERT INTO streams (stream, version, position, hash)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])
		ON CONFLICT (stream) DO UPDATE SET version = excluded.version, position = excluded.position, hash = excluded.hash`, names, versions, positions, hashes)
	if len(keyRows) > 0 {
		ks, ss, fs, rs := []string{}, []string{}, []string{}, []string{}
		var vs, ps []int64
		for i, p := range keyRows {
			ks = append(ks, keyNames[i])
			ss = append(ss, p.stream)
			fs = append(fs, p.firstEventID)
			rs = append(rs, p.requestHash)
			vs = append(vs, p.version)
			ps = append(ps, p.position)
		}
		w.Queue(`INSERT INTO append_keys (key, stream, first_event_id, version, position, request_hash)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])`,
			ks, ss, fs, vs, ps, rs)
	}
	w.Queue("UPDATE store_head SET position = $1", head)
	writes := w.Len()
	hook := db.testHookBeforeCommit
	if hook == nil {
		w.Queue("COMMIT")
	}
	res := conn.SendBatch(ctx, w)
	for range writes {
		if _, err := res.Exec(); err != nil {
			res.Close()
			return nil, translate(err)
		}
	}
	if hook != nil {
		if err := res.Close(); err != nil {
			return nil, translate(err)
		}
		if err := hook(ctx); err != nil {
			return nil, err
		}
		_, err = conn.Exec(ctx, "COMMIT")
	} else {
		_, err = res.Exec()
		if cerr := res.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, &commitError{unavailable(err)}
	}
	open = false
	return written, nil
}

func firstTaken(events []eventdesk.EventData, taken map[string]bool) string {
	for _, e := range events {
		if taken[e.ID] {
			return e.ID
		}
	}
	return ""
}

// queueEvents queues the insert of events as one statement of arrays: one
// statement however large the batch.
func queueEvents(b *pgx.Batch, events []eventdesk.Event) error {
	n := len(events)
	positions, versions := make([]int64, n), make([]int64, n)
	ids, streams, types, hashes := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	schemas := make([]int32, n)
	data, meta := make([][]byte, n), make([]string, n)
	at := make([]time.Time, n)
	for i, e := range events {
		positions[i], versions[i] = e.Position, e.Version
		ids[i], streams[i], types[i], hashes[i] = e.ID, e.Stream, e.Type, e.Hash
		schemas[i] = int32(e.Schema)
		data[i] = e.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
		m, err := json.Marshal(e.Metadata)
		if err != nil {
			return err
		}
		meta[i] = string(m)
		at[i] = e.RecordedAt
	}
	b.Queue(`INSERT INTO events (position, id, stream, version, type, schema, data, metadata, recorded_at, hash)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::bytea[], $8::jsonb[], $9::timestamptz[], $10::text[])`,
		positions, ids, streams, versions, types, schemas, data, meta, at, hashes)
	return nil
}

// translate maps constraint violations to the error vocabulary; anything
// else is passed through unavailable.
func translate(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: %w", eventdesk.Errorf(eventdesk.EConflict, "conflicting write (%s)", pgErr.ConstraintName), err)
	}
	return unavailable(err)
}

const eventColumns = "position, id, stream, version, type, schema, data, metadata, recorded_at, hash"

func scanEvents(rows pgx.Rows) ([]eventdesk.Event, error) {
	defer rows.Close()
	var out []eventdesk.Event
	for rows.Next() {
		var e eventdesk.Event
		var schema int32
		var meta []byte
		if err := rows.Scan(&e.Position, &e.ID, &e.Stream, &e.Version, &e.Type, &schema, &e.Data, &meta, &e.RecordedAt, &e.Hash); err != nil {
			return nil, err
		}
		e.Schema = int(schema)
		if err := json.Unmarshal(meta, &e.Metadata); err != nil {
			return nil, fmt.Errorf("event %s: metadata: %w", e.ID, err)
		}
		e.RecordedAt = e.RecordedAt.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReadStream implements eventdesk.EventStore.
func (db *DB) ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error) {
	if !utf8.ValidString(stream) || strings.ContainsRune(stream, 0) {
		// PostgreSQL text cannot hold such a name, and Append never
		// accepts one: the stream cannot exist.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("postgres: read stream: %w", err)
		}
		return nil, nil
	}
	q := "SELECT " + eventColumns + " FROM events WHERE stream = $1 AND version >= $2 ORDER BY version"
	args := []any{stream, fromVersion}
	if limit > 0 {
		q += " LIMIT $3"
		args = append(args, limit)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: read stream %s: %w", stream, unavailable(err))
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: read stream %s: %w", stream, unavailable(err))
	}
	return events, nil
}

// ReadAll implements eventdesk.EventStore. Positions commit in order (see
// writeTx), so a plain "position > after" never skips an event that
// commits later: there is no such event.
func (db *DB) ReadAll(ctx context.Context, after int64, limit int) ([]eventdesk.Event, error) {
	q := "SELECT " + eventColumns + " FROM events WHERE position > $1 ORDER BY position"
	args := []any{after}
	if limit > 0 {
		q += " LIMIT $2"
		args = append(args, limit)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: read all after %d: %w", after, unavailable(err))
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: read all after %d: %w", after, unavailable(err))
	}
	return events, nil
}

// Subscribe implements eventdesk.EventStore. Local commits and Notify wake
// it at once; commits by other processes without a bus are found by
// polling every Options.PollInterval.
func (db *DB) Subscribe(ctx context.Context, after int64) iter.Seq2[eventdesk.Event, error] {
	return eventdesk.CatchUp(ctx, db, db.signal.Wait, after, 512, db.opts.PollInterval)
}

// Head implements eventdesk.EventStore.
func (db *DB) Head(ctx context.Context) (int64, error) {
	var head int64
	if err := db.pool.QueryRow(ctx, "SELECT position FROM store_head").Scan(&head); err != nil {
		return 0, fmt.Errorf("postgres: head: %w", unavailable(err))
	}
	return head, nil
}
