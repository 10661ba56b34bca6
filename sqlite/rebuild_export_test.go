package sqlite

// SetRebuildBatchForTest makes rebuilds read pages of page events and
// commit every batch events, until the returned function restores the
// defaults. Not for parallel tests.
func SetRebuildBatchForTest(page, batch int) (restore func()) {
	p, b := rebuildPage, rebuildBatch
	rebuildPage, rebuildBatch = page, batch
	return func() { rebuildPage, rebuildBatch = p, b }
}

// SetRebuildCacheForTest makes rebuilds keep about n tickets in memory
// between batches (reading evicted ones back from the file), until the
// returned function restores the default. Not for parallel tests.
func SetRebuildCacheForTest(n int) (restore func()) {
	c := rebuildCacheSize
	rebuildCacheSize = n
	return func() { rebuildCacheSize = c }
}

// FailRebuildWritesForTest makes the bulk load's row writer fail with
// fail's error for the batch ending at a position, until the returned
// function restores normal writes. Not for parallel tests.
func FailRebuildWritesForTest(fail func(position int64) error) (restore func()) {
	failBulkWrite = fail
	return func() { failBulkWrite = nil }
}
