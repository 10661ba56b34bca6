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

// ExecForTest runs one statement on the database.
func (db *DB) ExecForTest(ctx context.Context, sql string, args ...any) error {
	_, err := db.pool.Exec(ctx, sql, args...)
	return err
}
