package sqlite

import (
	"net/url"
	"strings"
)

// Helpers shared by the read-model and subscriber-state files.

// readModelsSchema is the read-model file: application_id "EvRM".
var readModelsSchema = schema{name: "read models", appID: 0x4576524d, files: mustSub(readModelMigrations, "migrations/readmodels")}

// rebuildHint tells an operator what to do about a read-model file that
// cannot be opened: it holds nothing that replay cannot recreate.
const rebuildHint = "the read models can be rebuilt from the event store with `eventdesk replay`"

// rmBulkDSN returns the data source name of a file under rebuild: nobody
// reads it until it is complete, and it is thrown away if anything goes
// wrong, so it needs neither a journal nor syncs until then. Its pages are
// read through a memory map, so that building each index (a scan of the
// table) costs no read(2) per page and no page-cache memory, whose freeing
// one page at a time made closing the connection slow. The temporary store
// stays the default (files, only used past the cache size): with
// temp_store=MEMORY the sorter behind CREATE INDEX allocates and frees
// every record on its own.
func rmBulkDSN(file string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(OFF)")
	q.Add("_pragma", "synchronous(OFF)")
	q.Add("_pragma", "locking_mode(EXCLUSIVE)")
	q.Add("_pragma", "cache_size(-8192)")
	q.Add("_pragma", "mmap_size(1073741824)")
	u := url.URL{Scheme: "file", OmitHost: true, Path: file, RawQuery: q.Encode()}
	return u.String()
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// rmDSNPlain returns the data source name of a plain connection to file.
func rmDSNPlain(file string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	u := url.URL{Scheme: "file", OmitHost: true, Path: file, RawQuery: q.Encode()}
	return u.String()
}
