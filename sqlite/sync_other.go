//go:build !linux

package sqlite

import "os"

// fdatasync flushes f; without fdatasync(2) that is a full fsync (on macOS
// Go's Sync asks the drive to flush its cache too).
func fdatasync(f *os.File) error { return f.Sync() }
