package sqlite

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and the metadata needed to read it back (its
// size), as SQLite's own commits do (fdatasync, not fsync).
//
// It is a raw system call on purpose. Through syscall.Syscall the runtime
// gives the calling goroutine's P to other goroutines once the call
// outlasts a scheduler tick (about 20 µs; a sync takes a few hundred), and
// the writer, back from the kernel while every P is busy, waits in the
// global run queue behind the appenders and HTTP handlers it is about to
// answer. Measured against synchronous=FULL (docs/benchmarks-notes.md,
// "The writer keeps its P through the sync"): 12 % less CPU per HTTP
// create and 8 % more creates per second; plain appends could not be told
// apart. The group commit's one goroutine is the
// store's bottleneck, so it keeps its P. The price: the P runs nothing
// else for the sync's duration, and a stop-the-world phase of the garbage
// collector waits for the sync to return; a disk that never answers a sync
// would stall the whole process at the next collection instead of only
// the appends (which it stalls either way).
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		for {
			_, _, errno = syscall.RawSyscall(syscall.SYS_FDATASYNC, fd, 0, 0)
			if errno != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
