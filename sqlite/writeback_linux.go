//go:build linux && (amd64 || arm64)

package sqlite

import "syscall"

const writebackSupported = true

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writeback of the
// range's dirty pages, wait for nothing.
const syncFileRangeWrite = 0x2

// startWriteback asks the kernel to start writing every dirty page of fd
// (offset 0, length 0: to the end of the file).
func startWriteback(fd uintptr) error {
	if _, _, errno := syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, 0, 0, syncFileRangeWrite, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
