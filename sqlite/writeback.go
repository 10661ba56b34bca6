package sqlite

import (
	"fmt"
	"os"
)

// The read-model files commit with synchronous=NORMAL: their WAL frames
// stay in the page cache until the next checkpoint, whose first step syncs
// the WAL. Under a steady stream of projections that is megabytes at once
// (a pass every 2,048 frames is 8 MiB), and a device write cache is
// flushed whole: the event writer's own WAL sync, which runs every few
// hundred microseconds, waited behind it for 10–16 ms every ~150 ms,
// stalling every append at once (a runtime trace of the HTTP create
// benchmark showed each of those stalls inside a read-model checkpoint's
// WAL sync). So after each commit of such a file the writer asks the
// kernel to start writing the new frames out (walWriteback.kick): the same
// bytes reach the disk in commit-sized pieces, and the checkpoint's sync
// finds nothing left to write. It is a hint, not a sync: durability is
// unchanged (docs/benchmarks-notes.md, "Read-model WALs written back as
// they commit").

// walWriteback starts writeback of a file's WAL. A nil *walWriteback does
// nothing (platforms without the call, files under rebuild).
type walWriteback struct {
	f  *os.File
	fd uintptr
	// kicks counts the calls (tests).
	kicks int64
}

// openWALWriteback opens the WAL of file, which exists once a connection
// in WAL mode has read the database.
func openWALWriteback(file string) (*walWriteback, error) {
	if !writebackSupported {
		return nil, nil
	}
	f, err := os.Open(file + "-wal")
	if err != nil {
		return nil, fmt.Errorf("open the WAL for writeback: %w", err)
	}
	return &walWriteback{f: f, fd: f.Fd()}, nil
}

// kick starts writing the WAL's dirty pages without waiting for them. An
// error is ignored: the checkpoint's sync writes whatever is left.
func (b *walWriteback) kick() {
	if b == nil {
		return
	}
	b.kicks++
	_ = startWriteback(b.fd)
}

func (b *walWriteback) close() error {
	if b == nil {
		return nil
	}
	return b.f.Close()
}
