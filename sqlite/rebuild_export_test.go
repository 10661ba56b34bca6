package sqlite

// SetRebuildBatchForTest makes rebuilds read pages of page events and
// commit every batch events, until the returned function restores the
// defaults. Not for parallel tests.
func SetRebuildBatchForTest(page, batch int) (restore func()) {
	p, b := rebuildPage, rebuildBatch
	rebuildPage, rebuildBatch = page, batch
	return func() { rebuildPage, rebuildBatch = p, b }
}
