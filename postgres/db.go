// Package postgres adapts eventdesk to PostgreSQL (through pgx): the event
// store, and the read models, checkpoints and other state the subscribers
// and the application keep next to it. It is the only package that imports
// github.com/jackc/pgx/v5.
//
// Several processes may open the same database at once: schema migrations
// are applied under a session advisory lock, and event positions are
// assigned under the row lock of a one-row counter (see docs/scale-out.md),
// so they stay gap-free in commit order across writers.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the advisory lock key held while migrating; any
// constant works as long as every eventdesk version uses the same one.
const migrationLockKey int64 = 0x6576656e74646b01 // "eventdk" 01

// Options tune a DB. The zero value is a sensible default.
type Options struct {
	// MaxBatch bounds how many appends the writer commits in one
	// transaction (group commit). 1 commits each append on its own.
	// Default 256.
	MaxBatch int
	// PollInterval is how often an idle subscription looks for events
	// committed by other processes when nothing woke it. Default 1s.
	PollInterval time.Duration
	// MaxConns bounds the connection pool. Default: pgxpool's default.
	MaxConns int32
	// Logger receives operational messages. Default slog.Default().
	Logger *slog.Logger
}

// DB is an open eventdesk database. It implements eventdesk.EventStore.
// It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	signal eventdesk.Signal // local commits and Notify: new events

	afterCommit atomic.Pointer[func([]eventdesk.Event)]
	handled     atomic.Int64 // MarkHandled calls, to prune the inbox now and then

	// cpSignal is broadcast when any node commits a projection; see
	// startListener.
	cpSignal     eventdesk.Signal
	listenOnce   sync.Once
	stopListener func()

	// mu guards closed and the sending side of reqs: Append holds it for
	// reading while it enqueues, Close for writing while it closes reqs.
	mu         sync.RWMutex
	closed     bool
	reqs       chan *appendReq
	writerDone chan struct{}

	// testHookBeforeCommit, if set, runs inside each write transaction just
	// before COMMIT; an error rolls the transaction back.
	testHookBeforeCommit func(ctx context.Context) error
}

var _ eventdesk.EventStore = (*DB)(nil)

// Open connects to the PostgreSQL database at dsn (a postgres:// URL or a
// key=value string), applies pending schema migrations and starts the
// writer. The database must exist.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", eventdesk.Errorf(eventdesk.EInvalid, "invalid PostgreSQL connection string: %v", redact(err)))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := migrate(ctx, pool, opts.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	db := &DB{
		pool:       pool,
		opts:       opts,
		log:        opts.Logger,
		reqs:       make(chan *appendReq, opts.MaxBatch),
		writerDone: make(chan struct{}),
	}
	go db.writeLoop()
	return db, nil
}

// redact drops the connection string from a parse error, which may hold a
// password.
func redact(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "cannot parse `"); i >= 0 {
		if j := strings.Index(msg[i+14:], "`"); j >= 0 {
			return msg[:i] + "cannot parse connection string" + msg[i+14+j+1:]
		}
	}
	return msg
}

// Close waits for in-flight appends, stops the writer and closes the pool.
// Calling it again does nothing.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.reqs)
	db.mu.Unlock()
	<-db.writerDone
	db.listenOnce.Do(func() {}) // no listener may start after this
	if db.stopListener != nil {
		db.stopListener()
	}
	db.pool.Close()
	return nil
}

// SetAfterCommit sets f to be called by the writer with the events of each
// committed transaction, in position order, e.g. to publish them on a bus.
// It runs on the writer goroutine: it must not block. nil removes it.
func (db *DB) SetAfterCommit(f func([]eventdesk.Event)) {
	if f == nil {
		db.afterCommit.Store(nil)
		return
	}
	db.afterCommit.Store(&f)
}

// Notify wakes this process's subscriptions, which then read the store for
// new events. A bus calls it when another node announces a commit.
func (db *DB) Notify() { db.signal.Broadcast() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", unavailable(err))
	}
	return nil
}

// migration is one embedded schema step, applied once, in order.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("bad migration file name %q", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("two migrations numbered %d", ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies the pending migrations. Nodes starting together
// serialize on a session advisory lock, so each migration runs exactly once
// and no node uses the schema before it is complete; each migration commits
// with its row in schema_migrations, so a crash leaves no half-applied step.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", unavailable(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", unavailable(err))
	}
	defer func() {
		// Unlock on a fresh context: ctx may be done, and a lock left on a
		// pooled connection would block every other node's start.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
			conn.Conn().Close(uctx) // closing the session releases the lock
		}
	}()
	// All pending migrations commit together: one WAL flush, and a node
	// that crashes midway leaves the schema as it was.
	var done []string
	var unknown []int
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		for _, m := range ms {
			if slices.Contains(applied, int32(m.version)) {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			done = append(done, m.name)
		}
		for _, v := range applied {
			if !slices.ContainsFunc(ms, func(m migration) bool { return m.version == int(v) }) {
				unknown = append(unknown, int(v))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", unavailable(err))
	}
	for _, name := range done {
		log.Info("postgres: applied migration", "migration", name)
	}
	for _, v := range unknown {
		// A newer binary migrated this database; older nodes keep working
		// during a rolling upgrade as long as migrations only add, which
		// is the rule for this directory.
		log.Warn("postgres: database has a migration this binary does not know", "version", v)
	}
	return nil
}

// unavailable marks connection-level failures as EUnavailable, so that a
// database that is down is reported as such (503), not as a bug.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server answered: the error is about the statement, except
		// for the classes that mean "not now".
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"), // insufficient resources
			strings.HasPrefix(pgErr.Code, "57"): // operator intervention (shutdown)
		default:
			return err
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if eventdesk.ErrorCode(err) != eventdesk.EInternal {
		return err
	}
	return fmt.Errorf("%w: %w", eventdesk.Errorf(eventdesk.EUnavailable, "the database is unavailable"), err)
}
