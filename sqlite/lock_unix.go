//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirLock is an exclusive flock(2) on <dir>/LOCK, held for the life of a
// *DB so that a second process (or a second Open in this process: flock
// belongs to the open file description) fails at once instead of writing
// beside the first. The kernel drops it when the process dies, so a crash
// never leaves a stale lock; the pid in the file is only for the message.
type dirLock struct {
	f *os.File
}

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
		}
		holder := "another process"
		if pid := readPid(f); pid == os.Getpid() {
			holder = fmt.Sprintf("this process (pid %d) through another Open", pid)
		} else if pid > 0 {
			holder = fmt.Sprintf("another process (pid %d)", pid)
		}
		return nil, fmt.Errorf("sqlite: %w: %s is held by %s; stop it or choose another data directory", ErrLocked, dir, holder)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

// flock retries on EINTR, which a signal (the Go runtime's preemption
// among them) can cause even for a non-blocking call.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func readPid(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// release unlocks and closes. The file stays: deleting it would let a
// waiting process lock an inode that the next one no longer sees.
func (l *dirLock) release() error {
	err := flock(l.f, syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
