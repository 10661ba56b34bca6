package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/eventdesk/eventdesk"
)

// The writer and the syncer split a group commit in two stages, so that
// the disk and the CPU work side by side:
//
//   - the writer's connection commits with synchronous=NORMAL: COMMIT
//     writes the batch's WAL frames (pwrite) and returns without a sync.
//     It then hands the batch to the syncer and goes on: it takes the
//     appends queued meanwhile into the next transaction and writes their
//     rows while the disk syncs the previous batch;
//   - the syncer fdatasyncs the WAL through a file descriptor of its own.
//     A sync covers every commit whose frames were written before it
//     started (the kernel flushes the file, whichever descriptor asks), so
//     it reads the writer's commit count first and, once the sync returns,
//     answers every batch up to that count: successes, and failures too,
//     since a wrong-expected-version or duplicate answer may rest on an
//     event that only the sync makes durable.
//
// The writer commits the next batch as soon as the syncer has answered the
// last one (or the batch is full), so a batch grows for as long as a sync
// takes. No append is answered before the sync that covers it, and readers
// see only what is durable: EventStore.head, which bounds every read, the
// subscribers' signal and Head, moves when the syncer answers, never at
// commit.
//
// Checkpoints need nothing more: a WAL checkpoint syncs the WAL before it
// copies frames into the database file (SQLite does so with synchronous
// NORMAL as with FULL), so a commit the syncer has not reached yet is
// synced by the checkpoint before any page of it lands in events.db, and
// the WAL restarts (overwriting its frames) only once every frame is in the
// synced database file.

// syncJob is a batch the writer has committed (or failed) and the syncer
// is to answer once the commits it rests on are durable.
type syncJob struct {
	batch []*request // answered from each request's resp
	// upto is the writer's commit count when the batch ended: the answers
	// rest on every commit up to it.
	upto int64
	// head is the last committed position then: once upto is synced,
	// readers may see up to it.
	head int64
	// appends is how many appends with events the batch committed (0:
	// the batch committed nothing).
	appends int64
}

// syncer is the goroutine that makes the writer's commits durable and
// answers them.
type syncer struct {
	wal  *os.File // the WAL of events.db, opened only to sync it
	name string
	jobs chan syncJob // buffered: the writer never waits to hand a batch over
	wake chan struct{}
	done chan struct{}

	// written is the writer's commit count, stored after each COMMIT
	// (whose frames are then in the file); the syncer reads it right
	// before a sync to know what the sync covers.
	written atomic.Int64
	// answered counts the jobs the syncer has answered; the writer
	// compares it with the jobs it handed over to know whether a sync is
	// in flight.
	answered atomic.Int64
	// syncs counts fdatasyncs (for stats).
	syncs atomic.Int64

	synced int64 // commit count covered by the last sync (syncer goroutine only)
	// failed is set when a sync failed: no later append may succeed.
	failed atomic.Pointer[eventdesk.Error]

	// sync syncs the WAL; before, if set, runs first (tests use both to
	// hold or fail a sync). Set them before the first append.
	sync   func() error
	before func()
}

// jobsQueued bounds the batches committed but not yet answered; the
// writer only commits past the one in flight when a batch is full, so
// a few suffice.
const jobsQueued = 64

// newSyncer opens the WAL of file, which must exist (the writer's
// connection has read the database).
func newSyncer(file string) (*syncer, error) {
	name := file + "-wal"
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open the WAL to sync it: %w", err)
	}
	// The WAL may just have been created by the writer's connection, which
	// no longer syncs it (and so no longer syncs the directory after the
	// first commit, as SQLite does for a file it created): make its name
	// durable once here, before any append relies on it.
	if err := fsyncDir(filepath.Dir(file)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sync the data directory: %w", err)
	}
	// A process killed between a commit and its sync leaves the commit in
	// the WAL, unsynced: the writer counts it (its position is the head
	// once open), so make it durable before anyone reads it.
	if err := fdatasync(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	y := &syncer{
		wal: f, name: name, jobs: make(chan syncJob, jobsQueued),
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	y.sync = func() error { return fdatasync(y.wal) }
	return y, nil
}

// fsyncDir makes the names in directory dir durable.
func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// runSyncer answers the jobs in the order the writer committed them, syncing
// once for every commit that arrived while the previous sync ran.
func (s *EventStore) runSyncer() {
	y := s.sync
	defer close(y.done)
	for job := range y.jobs {
		if job.upto > y.synced && y.failed.Load() == nil {
			if y.before != nil {
				y.before()
			}
			target := y.written.Load()
			if err := y.sync(); err != nil {
				// After a failed fsync the kernel may have dropped the
				// dirty pages: what the WAL holds is unknown until SQLite
				// recovers it at the next Open.
				y.failed.Store(&eventdesk.Error{Code: eventdesk.EUnavailable, Message: fmt.Sprintf("sync %s: %v; the event store must be reopened", y.name, err)})
				s.opts.logger.Error("sqlite: sync failed, appends refused until the store is reopened", "err", err)
			} else {
				y.synced = target
				y.syncs.Add(1)
			}
		}
		if failed := y.failed.Load(); failed != nil {
			for _, r := range job.batch {
				r.done <- response{err: failed}
			}
		} else {
			// The head moves first, so that an appender reading after its
			// answer finds its events (read your writes).
			if job.head > s.head.Load() {
				s.head.Store(job.head)
			}
			if job.appends > 0 {
				s.signal.Broadcast()
			}
			for _, r := range job.batch {
				r.done <- r.resp
			}
		}
		y.answered.Add(1)
		select {
		case y.wake <- struct{}{}:
		default:
		}
	}
}

// close closes the WAL descriptor, once the goroutine has stopped.
func (y *syncer) close() error { return y.wal.Close() }
