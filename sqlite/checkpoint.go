package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"

	"modernc.org/sqlite"
)

// WAL checkpoints of events.db run on a connection of their own, so that
// no append waits for one.
//
// SQLite's default checkpoints inside the commit that makes the WAL cross
// 1,000 pages: that commit copies every page to the database file and
// syncs it twice before its appenders hear back (tens of milliseconds on a
// busy disk). Here the writer's connection has wal_autocheckpoint=0, and the
// checkpointer goroutine, woken after commits, copies the WAL into the
// database file with PRAGMA wal_checkpoint(PASSIVE), which never blocks the
// writer nor waits for readers.
//
// A WAL only starts over from its beginning (reusing its file, which keeps
// every sync an overwrite of allocated blocks, two to three times cheaper
// on ext4 than a sync that grows the file) when a write transaction begins
// with every frame copied. Under a steady stream of commits the background
// pass never quite catches up, so once the WAL holds restartFrames frames
// the checkpointer asks the writer to finish: between two batches the
// writer runs a PASSIVE checkpoint itself, which has only the last few
// commits left to copy, and its next transaction restarts the WAL.
// journal_size_limit trims a WAL that grew while a long reader held it.
//
// Durability is unchanged: every commit of events.db is synced before it is
// acknowledged (walsync.go); a checkpoint syncs the WAL before copying it
// and the database file before recording the copy.
const (
	// passFrames is how many WAL frames (pages of 4 KiB) the writer
	// commits between two background passes: each pass syncs the WAL and
	// the database file, which competes with commits for the disk and the
	// CPU, and a page rewritten by several commits is copied once per
	// pass. Passes every 512 frames cost appends about 10% of their CPU.
	passFrames = 2048
	// restartFrames is the WAL length (pages of 4 KiB) beyond which the
	// writer is asked to finish a checkpoint so that the WAL restarts.
	restartFrames = 4096
	// walSizeLimit bounds the WAL file once it restarts (bytes).
	walSizeLimit = 64 << 20
)

// checkpointedWriter is what a writer connection whose file has a
// checkpointer runs once: no checkpoints of its own, and a bound on the WAL
// file's size when it restarts.
var checkpointedWriter = fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d", walSizeLimit)

// checkpointer runs WAL checkpoints of one file in the background.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	kick chan struct{} // buffered (1): commits coalesce
	done chan struct{}
	// frames counts the WAL frames the writer committed; passedAt is its
	// value at the start of the last pass.
	frames, passedAt atomic.Int64
	// finish asks the writer to checkpoint between two batches.
	finish atomic.Bool
	// passes counts background checkpoints (for tests and metrics).
	passes atomic.Int64
	// passFrames and restartFrames (tests lower them).
	passEvery, restartAt int64
}

func newCheckpointer(file string, log *slog.Logger) (*checkpointer, error) {
	// A small page cache: a checkpoint copies pages from the WAL to the
	// file through a buffer of its own.
	db, err := openPool(file, connConfig{cacheKiB: 256}, 1)
	if err != nil {
		return nil, err
	}
	c := &checkpointer{db: db, log: log, kick: make(chan struct{}, 1), done: make(chan struct{}), passEvery: passFrames, restartAt: restartFrames}
	go c.run()
	return c, nil
}

// committed tells the checkpointer that a transaction of n frames
// committed. It never blocks.
func (c *checkpointer) committed(n int64) {
	if c.frames.Add(n)-c.passedAt.Load() < c.passEvery {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	ctx := context.Background()
	for range c.kick {
		if c.finish.Load() {
			// The writer has yet to finish: a pass now would take the
			// checkpoint lock from under it and the WAL would not restart.
			continue
		}
		c.passedAt.Store(c.frames.Load())
		log, _, err := c.pass(ctx)
		if err != nil {
			c.log.Warn("sqlite: background checkpoint failed", "err", err)
		} else if log >= c.restartAt {
			// Copy what committed during the pass too, so that the
			// writer has only a commit or two left to copy.
			if log, copied, err := c.pass(ctx); err == nil && copied >= log-c.restartAt/8 {
				c.finish.Store(true)
			}
		}
	}
}

// pass runs one PASSIVE checkpoint and returns the WAL's length and how
// many of its frames are now in the database file.
func (c *checkpointer) pass(ctx context.Context) (log, copied int64, err error) {
	var busy int64
	err = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
	c.passes.Add(1)
	return log, copied, err
}

// close stops the goroutine and closes the connection.
func (c *checkpointer) close() error {
	close(c.kick)
	<-c.done
	return c.db.Close()
}

// finishOn runs, if the checkpointer asked for it, a checkpoint on the
// writer's connection conn between two of its transactions, so that the
// next one starts the WAL over. A failure is logged: the background pass
// will ask again.
func (c *checkpointer) finishOn(conn *sql.Conn) {
	if !c.finish.Swap(false) {
		return
	}
	var busy, log, copied int64
	if err := conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied); err != nil {
		c.log.Warn("sqlite: checkpoint failed", "err", err)
	}
}

// framesWritten returns how many pages conn wrote (WAL frames) since the
// last call.
func framesWritten(conn *sql.Conn) int64 {
	var n int
	_ = conn.Raw(func(dc any) error {
		if st, ok := dc.(sqlite.DBStatus); ok {
			n, _, _ = st.Status(sqlite.DBStatusCacheWrite, true)
		}
		return nil
	})
	return int64(n)
}
