package postgres

import (
	"context"
)

// SetTestHookBeforeCommit installs a function run inside every write
// transaction just before COMMIT; returning an error rolls it back. Set it
// before the first Append.
func (db *DB) SetTestHookBeforeCommit(f func(ctx context.Context) error) {
	db.testHookBeforeCommit = f
}
