package sqlite

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/eventdesk/eventdesk"
)

// The writer's connection commits with synchronous=NORMAL: COMMIT writes
// the batch's WAL frames and returns. The writer then syncs the WAL itself
// (walSync.sync), and only after that moves the head readers are bounded
// by and answers the batch: durability is that of synchronous=FULL, which
// syncs the same file at the same point of every commit. What changes is
// how the sync is called (see walsync_linux.go).
//
// Everything else SQLite syncs it still syncs under NORMAL: the WAL header
// when the log restarts, and the WAL and the database file around every
// checkpoint. Between a COMMIT and its sync the frames are visible to
// SQLite readers, which is why every read of events.db is bounded by the
// head (ReadStream and ReadAll in SQL, the others by their arguments).

// walSync syncs the WAL of events.db through a descriptor of its own (the
// kernel flushes the file whichever descriptor asks).
type walSync struct {
	f    *os.File
	name string
	// failed is the error of a failed sync: the kernel may have dropped
	// the pages it could not write, so what the WAL holds is unknown
	// until SQLite recovers it at the next open. Every later append is
	// refused with it. Writer goroutine only.
	failed error
	// hook, if set, replaces the sync (tests: a failing disk).
	hook func() error
}

// openWALSync opens the WAL of file, which exists once the writer's
// connection has read the database, and makes durable what an earlier
// process may have committed without syncing (a process killed between a
// COMMIT and its sync): the head counts those events from now on.
func openWALSync(file string) (*walSync, error) {
	name := file + "-wal"
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open the WAL to sync it: %w", err)
	}
	y := &walSync{f: f, name: name}
	if err := y.sync(); err != nil {
		_ = f.Close()
		return nil, err
	}
	// SQLite syncs the directory of a WAL it created at that file's first
	// sync, which a NORMAL commit no longer makes: make the name durable
	// here, before any append relies on it.
	if err := syncDir(filepath.Dir(file)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sync the data directory: %w", err)
	}
	return y, nil
}

// sync makes every frame written to the WAL so far durable.
func (y *walSync) sync() error {
	if y.hook != nil {
		return y.hook()
	}
	if err := fdatasync(y.f); err != nil {
		return &os.PathError{Op: "fdatasync", Path: y.name, Err: err}
	}
	return nil
}

func (y *walSync) close() error { return y.f.Close() }

// syncWAL syncs the commit the writer just made. After a failure it
// returns, then and for every later append or import, an EUnavailable
// error saying the store must be reopened; the failure is logged once.
// Writer goroutine only.
func (s *EventStore) syncWAL() error {
	y := s.wal
	if y.failed != nil {
		return y.failed
	}
	if err := y.sync(); err != nil {
		y.failed = &eventdesk.Error{Code: eventdesk.EUnavailable, Message: fmt.Sprintf("%v; nothing is appended until the event store is reopened", err)}
		s.opts.logger.Error("sqlite: syncing the event log failed: appends are refused until the store is reopened", "err", err)
		return y.failed
	}
	return nil
}
