//go:build !linux

package sqlite

import (
	"errors"
	"os"
)

// fdatasync flushes f to stable storage (F_FULLFSYNC on macOS).
func fdatasync(f *os.File) error {
	err := f.Sync()
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
