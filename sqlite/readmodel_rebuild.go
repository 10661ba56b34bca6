package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// Rebuilding is blue/green (ARCHITECTURE §5): the ticket read models are
// built from position 0 into a new file, readmodels.db.rebuild, which then
// replaces readmodels.db in one rename. The old file serves queries (and,
// online, keeps being projected) until the swap; subscribers.db, the state
// of side effects, is never touched, so no side effect fires again.
//
// The new file is written without a journal or syncs and with its indices
// dropped, then indexed in bulk, synced, and only then renamed into place:
// a crash at any point leaves either the old file or the complete new one.
// No ANALYZE: every list query names its index (INDEXED BY, CROSS JOIN),
// so statistics would change no plan.

// RebuildSource is what a rebuild reads: the store-wide log and its head.
type RebuildSource interface {
	ReadAll(ctx context.Context, after int64, limit int) ([]eventdesk.Event, error)
	Head(ctx context.Context) (int64, error)
}

// bulkReader is implemented by the event store of this package (and DB):
// a faster way to read the whole log than ReadAll pages.
type bulkReader interface {
	readBulk(ctx context.Context, after, until int64, page int, fn func([]eventdesk.Event) error) error
}

// rebuildCachePragma sizes the page cache of a file under rebuild, which
// is also the sort budget of CREATE INDEX. Smaller than rmBulkDSN's: every
// cached page is freed one by one at close, and modernc's allocator hands
// each emptied region back with an madvise call; at 8 MiB that was a
// quarter of a second of a 50,000-ticket rebuild, against no measurable
// gain in writing the rows or sorting the indices (the file is read
// through a memory map, and written without journal or syncs).
const rebuildCachePragma = "PRAGMA cache_size = -2048"

// rebuildFile is the name of the file under construction.
const rebuildFile = ReadModelsFile + ".rebuild"

// Tuning of a rebuild: events read per ReadAll, events per transaction,
// decoded tickets kept between transactions. Variables so that tests can
// make a small history span many transactions.
var (
	rebuildPage      = 4096
	rebuildBatch     = 16384
	rebuildCacheSize = 65536
)

// RebuildReadModels rebuilds <dir>/readmodels.db, and in the same pass
// <dir>/dashboard.db (see dashboard_rebuild.go), from the events of src,
// offline: nothing else may have the read models open (the CLI holds the
// data directory's lock). progress, if not nil, is called after each batch
// with the position reached and the head at the start.
func RebuildReadModels(ctx context.Context, dir string, src RebuildSource, progress func(done, total int64)) error {
	b, err := newRebuilder(dir)
	if err != nil {
		return err
	}
	defer b.discard()
	if b.dash, err = newDashRebuild(dir); err != nil {
		return err
	}
	head, err := src.Head(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: rebuild: %w", err)
	}
	if _, err := b.project(ctx, src, head, progressTo(progress, head), true); err != nil {
		return err
	}
	// Offline, the catch-up finds nothing (or little): it runs before the
	// indices exist, so that the dashboard is complete and can be finished
	// (written, switched to WAL, closed) on the other core while the
	// ticket indices are built and that file is finished.
	if _, err := b.catchUp(ctx, src); err != nil {
		return err
	}
	dashDone := make(chan error, 1)
	go func() { dashDone <- b.dash.finish(b.pos) }()
	err = b.index(ctx)
	if err == nil {
		err = b.finish()
	}
	if derr := <-dashDone; err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	// Nobody has the old file open, but a crash may have left a WAL
	// beside it: fold it in (or, if the old file is unreadable, drop it)
	// so that no stale WAL can meet the new file.
	target := filepath.Join(dir, ReadModelsFile)
	if err := settleOldFile(target); err != nil {
		return err
	}
	if err := b.swapInto(target); err != nil {
		return err
	}
	return b.dash.swapInto(dir)
}

// Rebuild rebuilds the read models from the events of src while they stay
// online: queries and the live projection use the old file until the new
// one has caught up; then, for the moment of the swap, they wait. The
// checkpoint of the new file is at least that of the old, so the live
// projection continues where it was (re-delivered events are skipped).
func (m *ReadModels) Rebuild(ctx context.Context, src RebuildSource, progress func(done, total int64)) error {
	b, err := newRebuilder(m.dir)
	if err != nil {
		return err
	}
	defer b.discard()
	head, err := src.Head(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: rebuild: %w", err)
	}
	if _, err := b.load(ctx, src, head, progress); err != nil {
		return err
	}
	// Catch up with the indices in place while the old file serves, until
	// a pass finds little to do; the last pass runs during the swap.
	for range 10 {
		n, err := b.catchUp(ctx, src)
		if err != nil {
			return err
		}
		if n < int64(rebuildPage) {
			break
		}
	}
	m.swap.Lock()
	defer m.swap.Unlock()
	if m.closed {
		return errReadModelsClosed
	}
	if _, err := b.catchUp(ctx, src); err != nil {
		return err
	}
	if err := b.finish(); err != nil {
		return err
	}
	if err := m.closeDBs(); err != nil {
		m.closed = true
		return err
	}
	if err := b.swapInto(m.path); err != nil {
		m.closed = true
		return err
	}
	if err := m.open(); err != nil {
		m.closed = true
		return err
	}
	m.log.Info("sqlite: read models rebuilt and swapped in", "position", b.pos)
	return nil
}

// rebuilder builds a new read-model file.
type rebuilder struct {
	path    string
	db      *sql.DB
	w       *rmWriter
	indices []string // CREATE INDEX statements dropped for the bulk load
	pos     int64
	done    bool
	dash    *dashRebuild // the dashboard built in the same pass, if any
}

func newRebuilder(dir string) (*rebuilder, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: rebuild: %w", err)
	}
	path := filepath.Join(dir, rebuildFile)
	// A leftover of an interrupted rebuild is incomplete: start afresh.
	if err := removeDBFiles(path); err != nil {
		return nil, fmt.Errorf("sqlite: rebuild: %w", err)
	}
	ctx := context.Background()
	db, err := sql.Open("sqlite", rmBulkDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: rebuild: open %s: %w", path, err)
	}
	b := &rebuilder{path: path, db: db}
	w, err := newRMWriter(ctx, db, rebuildCacheSize)
	if err != nil {
		return nil, err
	}
	b.w = w
	if _, err := migrate(ctx, w.conn, path, readModelsSchema, nil); err != nil {
		b.discard()
		return nil, err
	}
	if _, err := w.conn.ExecContext(ctx, rebuildCachePragma); err != nil {
		b.discard()
		return nil, fmt.Errorf("sqlite: rebuild: %w", err)
	}
	rows, err := w.conn.QueryContext(ctx, "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL")
	if err != nil {
		b.discard()
		return nil, fmt.Errorf("sqlite: rebuild: %w", err)
	}
	var names []string
	for rows.Next() {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			rows.Close()
			b.discard()
			return nil, fmt.Errorf("sqlite: rebuild: %w", err)
		}
		names = append(names, name)
		b.indices = append(b.indices, stmt)
	}
	rows.Close()
	for _, name := range names {
		if _, err := w.conn.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
			b.discard()
			return nil, fmt.Errorf("sqlite: rebuild: %w", err)
		}
	}
	return b, nil
}

// load projects every event up to until without indices, then indexes.
func (b *rebuilder) load(ctx context.Context, src RebuildSource, until int64, progress func(done, total int64)) (int64, error) {
	n, err := b.project(ctx, src, until, progressTo(progress, until), true)
	if err != nil {
		return n, err
	}
	return n, b.index(ctx)
}

// progressTo adapts a progress function to project's.
func progressTo(progress func(done, total int64), total int64) func(int64) {
	if progress == nil {
		return nil
	}
	return func(done int64) { progress(done, total) }
}

// index creates the indices dropped for the bulk load. Meanwhile the
// tables' pages, most of the file, are written back to disk by another
// goroutine, so that the sync at the end (finish) waits only for the
// indices' pages.
func (b *rebuilder) index(ctx context.Context) error {
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		_ = syncFile(b.path) // an early start only: finish syncs for good
	}()
	defer func() { <-synced }()
	for _, stmt := range b.indices {
		if _, err := b.w.conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: rebuild: index: %w", err)
		}
	}
	b.indices = nil
	return nil
}

// catchUp projects whatever was appended since, up to the current head.
func (b *rebuilder) catchUp(ctx context.Context, src RebuildSource) (int64, error) {
	head, err := src.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite: rebuild: %w", err)
	}
	return b.project(ctx, src, head, nil, false)
}

// project applies events after b.pos up to until (inclusive). Another
// goroutine reads the next pages and decodes their payloads while the
// current batch is folded and written: the two halves of the work, on the
// two cores of a small machine. With bulk (the first pass, into a file
// without indices) the folded rows are written by a third goroutine (see
// rebuild_bulk.go); otherwise through the read model's own writer.
func (b *rebuilder) project(ctx context.Context, src RebuildSource, until int64, progress func(int64), bulk bool) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := b.read(ctx, src, until)
	var l *bulkLoad
	if bulk {
		var err error
		if l, err = newBulkLoad(ctx, b.w.conn, rebuildCacheSize); err != nil {
			return 0, err
		}
		defer func() {
			if l != nil {
				l.discard()
			}
		}()
	}
	var n int64
	batch := make([]eventdesk.Event, 0, rebuildBatch)
	payloads := make([]eventdesk.Payload, 0, rebuildBatch)
	// fold applies the batch to the tickets of tx, showing the dashboard
	// (if any) each ticket before and after its event.
	fold := func(tx eventdesk.ProjectionTx) error {
		tap := &dashTap{ProjectionTx: tx, d: b.dash}
		if b.dash != nil {
			tx = tap
		}
		for i := range batch {
			tap.e = &batch[i]
			if err := (projection.Tickets{}).ApplyDecoded(ctx, tx, batch[i], payloads[i]); err != nil {
				return err
			}
		}
		return nil
	}
	apply := func() error {
		if len(batch) == 0 {
			return nil
		}
		last := batch[len(batch)-1].Position
		var err error
		if l != nil {
			l.begin(batch)
			if err = fold(bulkTx{l}); err == nil {
				err = l.commit(last)
			}
		} else {
			err = b.w.project(ctx, projection.TicketsName, last, func(tx eventdesk.ProjectionTx) error {
				// The file is built from position 0, so the ticket of a
				// stream's first event is not in it: say so, and spare
				// the projection a lookup per new ticket.
				rt := tx.(*rmTx)
				for i := range batch {
					if e := &batch[i]; e.Version == 1 {
						if id, ok := eventdesk.TicketIDFromStream(e.Stream); ok && rt.rows[id] == nil {
							rt.rows[id] = &rmRow{}
						}
					}
				}
				return fold(rt)
			})
		}
		if err != nil {
			return fmt.Errorf("sqlite: rebuild: %w", err)
		}
		if b.dash != nil {
			b.dash.flush()
		}
		n += int64(len(batch))
		b.pos = last
		batch = batch[:0]
		clear(payloads)
		payloads = payloads[:0]
		if progress != nil {
			progress(last)
		}
		return nil
	}
	for p := range pages {
		if p.err != nil {
			return n, fmt.Errorf("sqlite: rebuild: read events: %w", p.err)
		}
		batch = append(batch, p.events...)
		payloads = append(payloads, p.payloads...)
		if len(batch) >= rebuildBatch {
			if err := apply(); err != nil {
				return n, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}
	if err := apply(); err != nil {
		return n, err
	}
	if l != nil {
		err := l.finish(ctx)
		l = nil
		if err != nil {
			return n, err
		}
	}
	// Without events the checkpoint still records where the build is.
	if n == 0 && b.pos == 0 {
		if err := b.w.project(ctx, projection.TicketsName, 0, func(eventdesk.ProjectionTx) error { return nil }); err != nil {
			return 0, fmt.Errorf("sqlite: rebuild: %w", err)
		}
	}
	return n, nil
}

// rebuildPageOf is one page of the log, its payloads decoded (nil where
// the fold is to decode, and report, them).
type rebuildPageOf struct {
	events   []eventdesk.Event
	payloads []eventdesk.Payload
	err      error
}

// read reads the events after b.pos up to until and decodes their
// payloads on a goroutine of its own, until ctx ends.
func (b *rebuilder) read(ctx context.Context, src RebuildSource, until int64) <-chan rebuildPageOf {
	pages := make(chan rebuildPageOf, 4)
	after := b.pos
	go func() {
		defer close(pages)
		send := func(evs []eventdesk.Event, err error) error {
			var pls []eventdesk.Payload
			if err == nil {
				pls = make([]eventdesk.Payload, len(evs))
				for i := range evs {
					if strings.HasPrefix(evs[i].Stream, eventdesk.StreamPrefix) {
						pls[i], _ = decodePayload(evs[i])
					}
				}
			}
			select {
			case pages <- rebuildPageOf{evs, pls, err}:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if br, ok := src.(bulkReader); ok {
			if err := br.readBulk(ctx, after, until, rebuildPage, func(evs []eventdesk.Event) error { return send(evs, nil) }); err != nil {
				_ = send(nil, err)
			}
			return
		}
		for after < until {
			evs, err := src.ReadAll(ctx, after, min(rebuildPage, int(until-after)))
			if err == nil && len(evs) == 0 {
				err = fmt.Errorf("the store has no events after position %d, below its head %d", after, until)
			}
			if send(evs, err) != nil {
				return
			}
			after = evs[len(evs)-1].Position
		}
	}()
	return pages
}

// finish makes the new file a complete, synced WAL database and closes it.
func (b *rebuilder) finish() error {
	ctx := context.Background()
	for _, stmt := range []string{"PRAGMA journal_mode = DELETE", "PRAGMA locking_mode = NORMAL", "PRAGMA synchronous = FULL", "PRAGMA journal_mode = WAL"} {
		if _, err := b.w.conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: rebuild: %s: %w", stmt, err)
		}
	}
	// fsync the file: with synchronous OFF nothing has been synced yet.
	err := b.w.close()
	b.w = nil
	if err != nil {
		return fmt.Errorf("sqlite: rebuild: close: %w", err)
	}
	if err := syncFile(b.path); err != nil {
		return fmt.Errorf("sqlite: rebuild: %w", err)
	}
	return nil
}

// swapInto renames the finished file over target and clears stale
// companions of the old file.
func (b *rebuilder) swapInto(target string) error {
	if err := os.Rename(b.path, target); err != nil {
		return fmt.Errorf("sqlite: rebuild: swap: %w", err)
	}
	b.done = true
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(target + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: rebuild: swap: %w", err)
		}
	}
	return syncDir(filepath.Dir(target))
}

// discard drops an unfinished build.
func (b *rebuilder) discard() {
	if b.dash != nil {
		b.dash.discard()
		b.dash = nil
	}
	if b.w != nil {
		_ = b.w.close()
		b.w = nil
	}
	if !b.done {
		_ = removeDBFiles(b.path)
	}
}

// settleOldFile empties the WAL of a read-model file nobody has open, so
// that the file alone is the database; an unreadable file's companions
// are removed (the file is about to be replaced).
func settleOldFile(path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return removeDBFiles(path)
	}
	db, err := sql.Open("sqlite", rmDSNPlain(path))
	if err == nil {
		_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		err = errors.Join(err, db.Close())
	}
	if err != nil {
		for _, suffix := range []string{"-wal", "-shm"} {
			if rerr := os.Remove(path + suffix); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return fmt.Errorf("sqlite: rebuild: %w", rerr)
			}
		}
	}
	return nil
}

// removeDBFiles removes a database file and its companions.
func removeDBFiles(path string) error {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
