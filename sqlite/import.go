package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/verify"
)

// importHeadKey names the meta row holding the last position Import wrote.
const importHeadKey = "import_head"

// importRun is the keyed append an Import is in: the events that follow the
// event carrying an idempotency key in the same stream, at consecutive
// versions and positions, with the same RecordedAt (one Decide's `now`)
// and no other key. The original append boundaries are not in the events,
// so this is how Import rebuilds the key's result; it is exact for the
// appends eventdesk makes.
type importRun struct {
	key, stream, firstID, requestHash string
	version, position                 int64
	at                                time.Time
}

// Import writes events exactly as given — ids, streams, versions,
// positions, RecordedAt, metadata and hashes — for `eventdesk import` and
// migrations from another store. It accepts them only into a store that
// holds nothing but earlier imports (empty at the first call; callers
// import in batches, in log order), and checks each event on the way:
// valid fields, its position next in the log (0: the store assigns it, as
// when coming from a store without global order), its version next in its
// stream and its hash equal to ChainHash of the previous one. A batch is
// written all or nothing; an error names the first offending event.
// Idempotency keys in the metadata are recorded as Append would have.
func (s *EventStore) Import(ctx context.Context, events []eventdesk.Event) error {
	if len(events) == 0 {
		return nil
	}
	resp := s.submit(ctx, &request{ctx: ctx, imports: events, done: make(chan response, 1)})
	if resp.err != nil {
		return fmt.Errorf("sqlite: import: %w", resp.err)
	}
	return nil
}

// importBatch runs on the writer goroutine, in a transaction of its own.
func (s *EventStore) importBatch(req *request) {
	w := s.w
	if err := req.ctx.Err(); err != nil {
		req.done <- response{err: err}
		return
	}
	if s.wal.failed != nil {
		req.done <- response{err: s.wal.failed}
		return
	}
	ctx := context.Background()
	run, err := w.importEvents(ctx, req.imports)
	if err == nil {
		if _, err = w.conn.ExecContext(ctx, "COMMIT"); err != nil {
			err = fmt.Errorf("commit: %w", err)
		} else {
			err = s.syncWAL()
		}
	}
	if err != nil {
		w.rollback()
		req.done <- response{err: err}
		return
	}
	w.run = run
	w.publish()
	s.tail.reset() // the tail holds only events the writer appended
	s.recent.reset()
	s.head.Store(w.committed - 1)
	s.signal.Broadcast()
	s.ckpt.committed(framesWritten(w.conn))
	req.done <- response{}
}

// importEvents writes events into a new transaction, leaving it open on
// success, and returns the keyed append still open at the end.
func (w *writer) importEvents(ctx context.Context, events []eventdesk.Event) (importRun, error) {
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return importRun{}, fmt.Errorf("begin: %w", err)
	}
	if head := w.committed - 1; head > 0 {
		var v string
		err := w.getMeta.QueryRowContext(ctx, importHeadKey).Scan(&v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return importRun{}, err
		}
		if v != strconv.FormatInt(head, 10) {
			return importRun{}, eventdesk.Errorf(eventdesk.EConflict, "the store already holds %d events that were not imported: import needs an empty store", head)
		}
	}
	run := w.run
	if run.position != w.committed-1 {
		run = importRun{}
	}
	flush := func() error {
		if run.key == "" {
			return nil
		}
		_, err := w.upsertKey.ExecContext(ctx, run.key, run.stream, run.firstID, run.version, run.position, run.requestHash)
		return err
	}
	chains := verify.NewChains()
	for i, e := range events {
		bad := func(format string, args ...any) error {
			return eventdesk.Errorf(eventdesk.EInvalid, "event %d of the batch (%s v%d, id %s, position %d): %s", i, e.Stream, e.Version, e.ID, e.Position, fmt.Sprintf(format, args...))
		}
		in := []eventdesk.EventData{{ID: e.ID, Type: e.Type, Schema: e.Schema, Data: e.Data}}
		if err := eventdesk.ValidateAppend(e.Stream, eventdesk.AnyVersion, in); err != nil {
			return importRun{}, bad("%v", err)
		}
		e.RecordedAt = eventdesk.NormalizeTime(e.RecordedAt)
		switch e.Position {
		case 0:
			e.Position = w.next
		case w.next:
		default:
			return importRun{}, bad("position %d does not follow position %d", e.Position, w.next-1)
		}
		h, err := w.head(ctx, e.Stream)
		if err != nil {
			return importRun{}, err
		}
		chains.Seed(e.Stream, h.version, h.hash)
		for _, b := range chains.Check(e) {
			return importRun{}, bad("%s", b.Message)
		}
		meta, err := encodeMetadata(&e.Metadata)
		if err != nil {
			return importRun{}, bad("metadata: %v", err)
		}
		if err := w.insert(ctx, &e, meta); err != nil {
			if isTakenID(err) {
				return importRun{}, bad("event id %s already exists", e.ID)
			}
			return importRun{}, err
		}
		w.pending[e.Stream] = streamHead{version: e.Version, hash: e.Hash}
		w.next++

		key := e.Metadata.IdempotencyKey
		if run.key != "" && run.stream == e.Stream && run.version+1 == e.Version && run.position+1 == e.Position &&
			run.at.Equal(e.RecordedAt) && (key == "" || key == run.key) {
			run.version, run.position = e.Version, e.Position
			continue
		}
		if err := flush(); err != nil {
			return importRun{}, err
		}
		run = importRun{}
		if key == "" {
			continue
		}
		if _, used, err := w.lookupKey(ctx, key); err != nil {
			return importRun{}, err
		} else if used {
			return importRun{}, bad("idempotency key %q was already used by an earlier append", key)
		}
		run = importRun{
			key: key, stream: e.Stream, firstID: e.ID, requestHash: e.Metadata.RequestHash,
			version: e.Version, position: e.Position, at: e.RecordedAt,
		}
	}
	if err := flush(); err != nil {
		return importRun{}, err
	}
	if _, err := w.setMeta.ExecContext(ctx, importHeadKey, strconv.FormatInt(w.next-1, 10)); err != nil {
		return importRun{}, err
	}
	return run, nil
}
