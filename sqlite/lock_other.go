//go:build !unix

package sqlite

import "errors"

// dirLock is not available off Unix: eventdesk's SQLite store runs on Linux
// and macOS servers, and refusing is better than running unprotected.
type dirLock struct{}

func lockDir(dir string) (*dirLock, error) {
	return nil, errors.New("sqlite: locking the data directory needs flock(2), which this platform lacks")
}

func (l *dirLock) release() error { return nil }
