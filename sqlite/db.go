// Package sqlite adapts eventdesk to an embedded SQLite database through
// modernc.org/sqlite (pure Go, so the binary stays static). It is the only
// package that imports that driver.
//
// A data directory holds:
//
//	LOCK           flock'ed for the life of a *DB: one process per directory
//	events.db      the event store (events, idempotency keys), see EventStore
//	readmodels.db  read models and checkpoints (added by the read-model files
//	               of this package), apart so that projections never contend
//	               with the append writer
//
// Every file is in WAL mode. events.db is durable at every commit: its
// writer commits with synchronous=NORMAL and then syncs the WAL itself
// before anyone sees or is answered about the commit (walsync.go), which is
// synchronous=FULL's guarantee at a lower scheduling cost. readmodels.db
// needs no sync per commit: it is rebuilt from the events (readmodel.go).
// Each file carries an application_id and a schema version (PRAGMA
// user_version); embedded numbered migrations bring it up to date
// at Open, in one transaction. A file that is not a SQLite database, is
// damaged, belongs to another application or has a newer schema is refused
// with a clear error and left untouched. Open checks the 100-byte header
// and asks SQLite through a read-only connection; PRAGMA quick_check runs
// at Open only for files up to 16 MiB (it is linear in the file), and
// always in EventStore.Verify.
//
// Adding another file to the directory: give it a schema value (its own
// application_id and embedded migrations, e.g. migrations/readmodels/*.sql),
// open it with openFile, and register its shutdown with db.onClose; DB.Close
// runs those before closing the event store and releasing the lock.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
	sqlitedriver "modernc.org/sqlite"
)

// EventsFile is the event store's file name inside the data directory.
const EventsFile = "events.db"

//go:embed migrations/events/*.sql
var eventsMigrations embed.FS

// eventsSchema is the event store's file: application_id "EvSt".
var eventsSchema = schema{name: "event store", appID: 0x45765374, files: mustSub(eventsMigrations, "migrations/events")}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Option configures Open.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	now         func() time.Time
	maxBatch    int
	streamCache int
	readers     int
	// writeCacheKiB and readCacheKiB are SQLite's page cache of the write
	// connection and of each read connection (0: openFile's defaults).
	writeCacheKiB, readCacheKiB int
}

// WithLogger sets where the store logs (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock that stamps events appended with a zero
// RecordedAt (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMaxBatch caps how many events one group commit writes (default
// 2048). Larger batches amortize the fsync over more appends; smaller ones
// bound the latency a batch adds to its first append.
func WithMaxBatch(events int) Option { return func(o *options) { o.maxBatch = max(events, 1) } }

// WithStreamCache sets how many stream heads (version and last hash) the
// writer keeps in memory (default 100,000, about 20 MB); a miss costs one
// indexed read.
func WithStreamCache(streams int) Option { return func(o *options) { o.streamCache = max(streams, 1) } }

// WithReaders sets the size of the read connection pool (default 8).
func WithReaders(n int) Option { return func(o *options) { o.readers = max(n, 1) } }

// DB is an open data directory. It is the event store (it embeds
// *EventStore, so it implements eventdesk.EventStore); its Close closes
// everything opened in the directory and releases the lock.
type DB struct {
	*EventStore

	dir    string
	opts   options
	lock   *dirLock
	mu     sync.Mutex
	closed bool
	// closers run first to last at Close, before the event store closes.
	closers []func() error
}

var _ eventdesk.EventStore = (*DB)(nil)

// Open locks the data directory dir (creating it if needed), opens or
// creates the event store in it and migrates it to the current schema.
// It fails at once if another process has the directory open, and refuses
// a corrupt, foreign or newer-schema events.db without modifying it (see
// ErrLocked, ErrCorrupt, ErrNewerSchema).
func Open(dir string, opts ...Option) (*DB, error) {
	// The event store's caches are smaller than the other files' (see
	// openFile): its writer's 8 MiB (2,048 pages, some 15 MB resident)
	// hold what appends touch, the right-most pages of the log and of its
	// indices (ids and new streams are time-ordered) and the upper interior
	// pages of the stream index, and its readers mostly read the log's
	// newest pages once (subscribers catching up) or one stream's rows; a
	// page not cached is one pread.
	o := options{logger: slog.Default(), now: time.Now, maxBatch: 2048, streamCache: 100_000, readers: 8,
		writeCacheKiB: 8 << 10, readCacheKiB: 512}
	for _, opt := range opts {
		opt(&o)
	}
	if dir == "" {
		return nil, errors.New("sqlite: open: the data directory is empty")
	}
	useFdatasync()
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	db := &DB{dir: dir, opts: o, lock: lock}
	db.EventStore, err = openEventStore(context.Background(), filepath.Join(dir, EventsFile), o)
	if err != nil {
		_ = lock.release()
		return nil, err
	}
	return db, nil
}

var fdatasyncOnce sync.Once

// useFdatasync makes SQLite commit with fdatasync(2) instead of fsync(2),
// as distribution builds of SQLite do (the transpiled library keeps the
// source default, fsync). fdatasync writes the data and the size needed to
// read it back but not the timestamps, whose journal commit is much of
// what an fsync waits for on ext4; durability is unchanged. The switch is
// process-wide, and this package is the only user of SQLite.
func useFdatasync() {
	fdatasyncOnce.Do(func() { _, _ = sqlitedriver.Fdatasync(true) })
}

// Dir returns the absolute path of the data directory.
func (db *DB) Dir() string { return db.dir }

// Events returns the event store (the same value DB embeds).
func (db *DB) Events() *EventStore { return db.EventStore }

// Close closes everything opened in the directory (waiting for in-flight
// appends to complete) and releases the lock. Closing twice is harmless.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	closers := slices.Clone(db.closers)
	db.mu.Unlock()

	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		errs = append(errs, closers[i]())
	}
	errs = append(errs, db.EventStore.Close(), db.lock.release())
	return errors.Join(errs...)
}

// onClose registers f to run at Close (last registered, first run),
// before the event store closes.
func (db *DB) onClose(f func() error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.closers = append(db.closers, f)
}

// readerIdleTime is how long a read connection may stay idle before the
// pool closes it.
const readerIdleTime = time.Minute

// openFile opens (creating it if needed) a SQLite file of the data
// directory with the same checks, pragmas and migration as events.db: a
// pool with a single write connection and a pool of query-only readers on
// the same file. The caller closes both (register with db.onClose).
func openFile(ctx context.Context, file string, sc schema, o options) (write, read *sql.DB, err error) {
	ms, err := sc.migrations()
	if err != nil {
		return nil, nil, err
	}
	if err := checkHeader(file, sc, len(ms)); err != nil {
		return nil, nil, err
	}
	if err := probe(ctx, file, sc, len(ms)); err != nil {
		return nil, nil, err
	}
	// Page caches are small: a page SQLite does not cache is one pread
	// from the kernel's page cache, which does not count in the process's
	// resident memory, while every cached page does, per connection, at
	// about twice its size: SQLite counts a cached page as its 4 KiB, but
	// the transpiled library allocates each one (page and headers, about
	// 4.3 KiB) from modernc.org/memory, whose size classes are powers of
	// two, so it takes an 8 KiB slot (measured: filling an 8, 16 or 32 MiB
	// cache adds 15, 31 or 61 MB of RSS). The readers keep 1 MiB: a list
	// query repeated (a page refreshed) reads some 100-200 pages, which
	// 512 KiB no longer holds (2-5 times slower in BenchmarkListTickets).
	if o.writeCacheKiB <= 0 {
		o.writeCacheKiB = 4 << 10
	}
	if o.readCacheKiB <= 0 {
		o.readCacheKiB = 1 << 10
	}
	write, err = openPool(file, connConfig{cacheKiB: o.writeCacheKiB}, 1)
	if err != nil {
		return nil, nil, err
	}
	conn, err := write.Conn(ctx)
	if err != nil {
		_ = write.Close()
		return nil, nil, fmt.Errorf("sqlite: open %s: %w", file, err)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		_ = conn.Close()
		_ = write.Close()
		return nil, nil, fmt.Errorf("sqlite: open %s: journal mode is %q, want wal: %v", file, mode, err)
	}
	applied, err := migrate(ctx, conn, file, sc, o.logger)
	_ = conn.Close()
	if err != nil {
		_ = write.Close()
		return nil, nil, err
	}
	if applied > 0 {
		o.logger.Info("sqlite: migrated", "file", file, "migrations", applied, "schema", len(ms))
	}
	read, err = openPool(file, connConfig{queryOnly: true, cacheKiB: o.readCacheKiB}, o.readers)
	if err != nil {
		_ = write.Close()
		return nil, nil, err
	}
	// A reader idle for a while is closed, and its page cache freed: the
	// pool grows to o.readers under a burst of queries, but a server
	// does not keep every cache filled for good (resident memory).
	read.SetConnMaxIdleTime(readerIdleTime)
	return write, read, nil
}
