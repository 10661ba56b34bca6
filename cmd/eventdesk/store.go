package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/verify"
)

// storeHandle is an open data directory (SQLite) or PostgreSQL database:
// the event store and, for serve and replay, the read models. It is the
// only place that knows which adapter backs a store; the PostgreSQL side
// is in scaleout.go.
type storeHandle struct {
	dir    string
	db     *sqlite.DB
	pg     *postgres.DB // instead of db, for a postgres:// store
	events eventdesk.EventStore
	// readModels and subscribers are opened by openReadSide (serve).
	readModels  readModelStore
	subscribers eventdesk.SubscriberStore
	// dashboard is the dashboard read model (nil where the store keeps
	// none).
	dashboard dashboardStore
}

// readModelStore is what serve needs of the read models.
type readModelStore interface {
	eventdesk.ProjectionStore
	eventdesk.TicketReader
}

// openStore opens (creating it if needed) the data directory dir for
// serve. It fails at once if another process holds it.
func openStore(ctx context.Context, dir string, logger *slog.Logger) (*storeHandle, error) {
	if isPostgresURL(dir) {
		return openPostgresStore(ctx, dir, logger)
	}
	// 20,000 stream heads (about 4 MB) cover the tickets being worked on,
	// and the sentiment backfill's window; a miss costs one indexed read.
	// The default, 100,000, would hold 20 MB of a server's memory.
	db, err := sqlite.Open(dir, sqlite.WithLogger(logger), sqlite.WithStreamCache(20_000))
	if err != nil {
		return nil, err
	}
	return &storeHandle{dir: dir, db: db, events: db}, nil
}

// storeExists reports whether dir holds an event store.
func storeExists(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, sqlite.EventsFile))
	return err == nil && st.Mode().IsRegular()
}

// openExistingStore opens the event store in dir for an operator command
// (verify, export, replay), refusing to create one where there is none: a
// mistyped --data must not look like an empty, intact store.
func openExistingStore(ctx context.Context, dir string) (*storeHandle, error) {
	if isPostgresURL(dir) {
		return openPostgresStore(ctx, dir, quietLogger())
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data directory %s does not exist (set --data or %s)", dir, envData)
	} else if err != nil {
		return nil, err
	}
	if !storeExists(dir) {
		return nil, fmt.Errorf("%s holds no event store (no %s): set --data or %s to the data directory of \"eventdesk serve\"", dir, sqlite.EventsFile, envData)
	}
	return openStore(ctx, dir, quietLogger())
}

// quietLogger is the store's logger in operator commands, whose output is
// their report and progress: warnings and errors only.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// storeHead opens the store in dir just long enough to read its head.
func storeHead(ctx context.Context, dir string) (int64, error) {
	s, err := openExistingStore(ctx, dir)
	if err != nil {
		return 0, err
	}
	head, err := s.events.Head(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return head, err
}

// openReadSide opens the read models and the side-effect subscribers'
// state next to the event store; they close with it.
func (s *storeHandle) openReadSide(logger *slog.Logger) error {
	if s.pg != nil {
		s.readModels, s.subscribers, s.dashboard = s.pg.ReadModels(), s.pg.Subscribers(), s.pg.Dashboard()
		return nil
	}
	rm, err := s.db.OpenReadModels(sqlite.ReadModelsOptions{Logger: logger})
	if err != nil {
		return err
	}
	state, err := s.db.OpenSubscriberState(sqlite.SubscriberStateOptions{Logger: logger})
	if err != nil {
		return err
	}
	dash, err := s.db.OpenDashboard()
	if err != nil {
		return err
	}
	s.readModels, s.subscribers, s.dashboard = rm, state, dash
	return nil
}

// Close closes everything opened in the directory (read models and
// subscriber state first) and releases its lock.
func (s *storeHandle) Close() error {
	if s.pg != nil {
		return s.pg.Close()
	}
	return s.db.Close()
}

// rebuildReadModels rebuilds the read models from position 0 into a new
// file and swaps it in (sqlite.RebuildReadModels: blue/green, the side
// effects' state untouched); progress gets the position reached and the
// head. It returns the position the new read models reached.
func (s *storeHandle) rebuildReadModels(ctx context.Context, progress func(done, total int64)) (int64, error) {
	if s.pg != nil {
		return s.pg.RebuildReadModels(ctx, progress)
	}
	if err := sqlite.RebuildReadModels(ctx, s.db.Dir(), s.db, progress); err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	head, err := s.events.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	return head, nil
}

// tokenStore is an open API token store.
type tokenStore interface {
	app.TokenStore
	Close() error
}

// openTokens opens the API token store of dir. It does not take the data
// directory's lock (the token file is shared safely with a running
// server), so tokens can be managed while serve runs. create makes the
// directory if needed, so that a first admin token can be issued before
// the first start.
func openTokens(dir string, create bool) (tokenStore, error) {
	if isPostgresURL(dir) {
		return openPostgresTokens(dir)
	}
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("data directory %s does not exist (set --data or %s)", dir, envData)
		}
	}
	return sqlite.OpenTokens(dir)
}

// verify checks the whole store (the file itself, positions, versions,
// hash chains); progress (done, total) may be nil.
func (s *storeHandle) verify(ctx context.Context, progress func(done, total int64)) (verify.Report, error) {
	if s.pg != nil {
		return s.pg.Verify(ctx, progress)
	}
	return s.db.Verify(ctx, progress)
}

// importWriter writes checked batches of exported events into a new store.
type importWriter struct {
	db *sqlite.DB
}

// newImportWriter creates the store in the (new, empty) directory dir.
func newImportWriter(_ context.Context, dir string) (*importWriter, error) {
	db, err := sqlite.Open(dir, sqlite.WithLogger(quietLogger()))
	if err != nil {
		return nil, err
	}
	return &importWriter{db: db}, nil
}

// write imports one batch, all or nothing (sqlite.EventStore.Import checks
// positions, versions and hashes again on its side).
func (w *importWriter) write(ctx context.Context, events []eventdesk.Event) error {
	return w.db.Import(ctx, events)
}

func (w *importWriter) close() error { return w.db.Close() }
