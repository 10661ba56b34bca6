package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

// appendResult is what an Append started by appendAsync returned.
type appendResult struct {
	res eventdesk.AppendResult
	err error
}

func testEvent(id string) eventdesk.EventData {
	return eventdesk.EventData{ID: id, Type: "test.happened", Schema: 1, Data: json.RawMessage(`{"n":1}`), Metadata: eventdesk.Metadata{Actor: "a"}}
}

func testID(n int) string { return fmt.Sprintf("0195f2d4-7a1c-7000-8000-%012d", n) }

// appendAsync starts an Append and returns where its result will arrive.
func appendAsync(db *DB, stream string, expected eventdesk.ExpectedVersion, ev eventdesk.EventData) <-chan appendResult {
	out := make(chan appendResult, 1)
	go func() {
		res, err := db.Append(context.Background(), stream, expected, ev)
		out <- appendResult{res, err}
	}()
	return out
}

// holdSyncs makes the syncer stop before each sync until release is
// closed; held receives a value each time it stops (if nobody is waiting,
// the value is dropped). It must be called while the store is idle.
func holdSyncs(db *DB) (held <-chan struct{}, release func()) {
	h := make(chan struct{}, 1)
	gate := make(chan struct{})
	db.sync.before = func() {
		select {
		case h <- struct{}{}:
		default:
		}
		<-gate
	}
	return h, func() { close(gate) }
}

// committedEvents counts the rows of the events table as SQLite sees them
// (committed, durable or not), bypassing the store's bound.
func committedEvents(tb testing.TB, db *DB) int64 {
	tb.Helper()
	var n int64
	if err := db.rdb.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func notAnswered(t *testing.T, what string, c <-chan appendResult) {
	t.Helper()
	select {
	case r := <-c:
		t.Fatalf("%s was answered (%+v, %v) before the sync covering it", what, r.res, r.err)
	default:
	}
}

func openTestDB(t *testing.T, dir string, opts ...Option) *DB {
	t.Helper()
	db, err := Open(dir, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestReadersStopAtSyncedHead holds the syncer while a batch is committed
// but not synced: no read (ReadAll, ReadStream, Head, Stats, Verify) shows
// its event, its append and an append whose failure rests on it are not
// answered; once the sync is done, both are, and every read shows it.
func TestReadersStopAtSyncedHead(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir())
	defer db.Close()
	if _, err := db.Append(ctx, "s-1", eventdesk.NoStream, testEvent(testID(1))); err != nil {
		t.Fatal(err)
	}
	held, release := holdSyncs(db)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()

	second := appendAsync(db, "s-1", eventdesk.ExpectedVersion(1), testEvent(testID(2)))
	<-held // the writer committed the second event and handed it over
	if n := committedEvents(t, db); n != 2 {
		t.Fatalf("%d events committed, want 2 (the held batch is committed)", n)
	}
	// Checked against the committed, unsynced version 2.
	stale := appendAsync(db, "s-1", eventdesk.ExpectedVersion(1), testEvent(testID(3)))

	if all, err := db.ReadAll(ctx, 0, 0); err != nil || len(all) != 1 {
		t.Errorf("ReadAll: %d events, %v; want only the synced one", len(all), err)
	}
	if evs, err := db.ReadStream(ctx, "s-1", 1, 0); err != nil || len(evs) != 1 {
		t.Errorf("ReadStream: %d events, %v; want only the synced one", len(evs), err)
	}
	if evs, err := db.ReadStream(ctx, "s-1", 2, 1); err != nil || len(evs) != 0 {
		t.Errorf("ReadStream from version 2: %d events, %v; want none", len(evs), err)
	}
	if h, err := db.Head(ctx); err != nil || h != 1 {
		t.Errorf("Head: %d, %v; want 1", h, err)
	}
	if st := db.Stats(); st.Head != 1 {
		t.Errorf("Stats().Head: %d, want 1", st.Head)
	}
	if rep, err := db.Verify(ctx, nil); err != nil || !rep.OK() || rep.Events != 1 {
		t.Errorf("Verify: %+v, %v; want 1 event, no break", rep, err)
	}
	notAnswered(t, "the append being synced", second)
	notAnswered(t, "an append checked against the unsynced version", stale)

	release()
	released = true
	if r := <-second; r.err != nil || r.res != (eventdesk.AppendResult{Version: 2, Position: 2}) {
		t.Fatalf("second append: %+v, %v", r.res, r.err)
	}
	var wrong *eventdesk.WrongExpectedVersionError
	if r := <-stale; !errors.As(r.err, &wrong) || wrong.Actual != 2 {
		t.Fatalf("stale append: %v, want a wrong expected version (actual 2)", r.err)
	}
	if all, err := db.ReadAll(ctx, 0, 0); err != nil || len(all) != 2 {
		t.Errorf("ReadAll after the sync: %d events, %v; want 2", len(all), err)
	}
	if h, _ := db.Head(ctx); h != 2 {
		t.Errorf("Head after the sync: %d, want 2", h)
	}
}

// TestBatchesFillWhileSyncing holds the first sync: the writer goes on
// committing the appends that queue behind it (batches of maxBatch events)
// without answering any, and one sync, once released, covers them all.
func TestBatchesFillWhileSyncing(t *testing.T) {
	const appends, maxBatch = 12, 4
	db := openTestDB(t, t.TempDir(), WithMaxBatch(maxBatch))
	defer db.Close()
	held, release := holdSyncs(db)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	before := db.Stats()
	results := []<-chan appendResult{appendAsync(db, "first", eventdesk.NoStream, testEvent(testID(0)))}
	<-held
	for i := 1; i <= appends; i++ {
		results = append(results, appendAsync(db, fmt.Sprintf("s-%d", i), eventdesk.NoStream, testEvent(testID(i))))
	}
	// Full batches commit without waiting for the syncer.
	for deadline := time.Now().Add(10 * time.Second); committedEvents(t, db) < appends+1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d events committed while the first sync is held, want %d", committedEvents(t, db), appends+1)
		}
		time.Sleep(time.Millisecond)
	}
	for i, c := range results {
		notAnswered(t, fmt.Sprintf("append %d", i), c)
	}
	if h, _ := db.Head(context.Background()); h != 0 {
		t.Fatalf("Head %d while nothing is synced", h)
	}
	release()
	released = true
	seen := map[int64]bool{}
	for i, c := range results {
		r := <-c
		if r.err != nil {
			t.Fatalf("append %d: %v", i, r.err)
		}
		seen[r.res.Position] = true
	}
	for p := int64(1); p <= appends+1; p++ {
		if !seen[p] {
			t.Fatalf("no append got position %d", p)
		}
	}
	st := db.Stats()
	if commits := st.Commits - before.Commits; commits != 1+appends/maxBatch {
		t.Errorf("%d commits, want %d (the first, then full batches)", commits, 1+appends/maxBatch)
	}
	if syncs := st.Syncs - before.Syncs; syncs != 1 {
		t.Errorf("%d syncs, want 1: the held sync starts after every commit and covers them", syncs)
	}
	if st.Head != appends+1 {
		t.Errorf("head %d, want %d", st.Head, appends+1)
	}
}

// TestCloseWaitsForSync closes the store while a sync is held: Close
// returns only after the append is synced and answered, and it is there
// after reopening.
func TestCloseWaitsForSync(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir)
	held, release := holdSyncs(db)
	res := appendAsync(db, "s-1", eventdesk.NoStream, testEvent(testID(1)))
	<-held
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	notAnswered(t, "the append", res)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an append waits for its sync", err)
	default:
	}
	release()
	if r := <-res; r.err != nil || r.res.Position != 1 {
		t.Fatalf("append: %+v, %v", r.res, r.err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	db = openTestDB(t, dir)
	defer db.Close()
	if all, err := db.ReadAll(context.Background(), 0, 0); err != nil || len(all) != 1 {
		t.Fatalf("after reopen: %d events, %v; want 1", len(all), err)
	}
}

// TestSyncFailure makes the WAL's sync fail: the append covered by it
// fails (it may or may not survive a power loss), readers never see it, and
// the store refuses every later append until it is reopened.
func TestSyncFailure(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir())
	defer db.Close()
	if _, err := db.Append(ctx, "s-1", eventdesk.NoStream, testEvent(testID(1))); err != nil {
		t.Fatal(err)
	}
	db.sync.sync = func() error { return errors.New("input/output error (injected)") }
	_, err := db.Append(ctx, "s-2", eventdesk.NoStream, testEvent(testID(2)))
	if eventdesk.ErrorCode(err) != eventdesk.EUnavailable {
		t.Fatalf("append whose sync failed: %v, want unavailable", err)
	}
	if _, err := db.Append(ctx, "s-3", eventdesk.NoStream, testEvent(testID(3))); eventdesk.ErrorCode(err) != eventdesk.EUnavailable {
		t.Fatalf("append after a failed sync: %v, want unavailable", err)
	}
	if err := db.Import(ctx, []eventdesk.Event{{ID: testID(4)}}); eventdesk.ErrorCode(err) != eventdesk.EUnavailable {
		t.Fatalf("import after a failed sync: %v, want unavailable", err)
	}
	if all, err := db.ReadAll(ctx, 0, 0); err != nil || len(all) != 1 {
		t.Fatalf("ReadAll: %d events, %v; want only the synced one", len(all), err)
	}
	if h, _ := db.Head(ctx); h != 1 {
		t.Fatalf("Head %d, want 1", h)
	}
}

// TestPartialFlushFallback writes part of a batch while it is still being
// filled (as the writer does while a sync runs) with a multi-row INSERT
// that hits a constraint: the batch is applied again one append at a time,
// the rest of it too, and every append gets its own answer.
func TestPartialFlushFallback(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := openTestDB(t, dir)
	if _, err := db.Append(ctx, "s-existing", eventdesk.NoStream, testEvent(testID(1000))); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTestDB(t, dir) // the writer knows no stream: NoStream is assumed new
	defer db.Close()
	mk := func(stream string, ev eventdesk.EventData) *request {
		r, err := db.newRequest(ctx, stream, eventdesk.NoStream, []eventdesk.EventData{ev})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var reqs []*request
	for i := range partialFlush + 3 {
		stream := fmt.Sprintf("s-%d", i)
		if i == 5 {
			stream = "s-existing"
		}
		reqs = append(reqs, mk(stream, testEvent(testID(i))))
	}
	// The writer goroutine is idle: nothing was appended since Open.
	for _, r := range reqs[:partialFlush+1] {
		db.add(r)
	}
	db.flushSome()
	if !db.w.unstaged {
		t.Fatal("the partial flush met no constraint: the test does not test the fallback")
	}
	for _, r := range reqs[partialFlush+1:] {
		db.add(r)
	}
	db.finish()
	pos := int64(2)
	for i, r := range reqs {
		resp := <-r.done
		if i == 5 {
			var wrong *eventdesk.WrongExpectedVersionError
			if !errors.As(resp.err, &wrong) || wrong.Actual != 1 {
				t.Fatalf("append to the existing stream: %v, want a wrong expected version", resp.err)
			}
			continue
		}
		if resp.err != nil || resp.res.Position != pos {
			t.Fatalf("append %d: %+v, %v; want position %d", i, resp.res, resp.err, pos)
		}
		pos++
	}
	rep, err := db.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Events != pos-1 {
		t.Fatalf("Verify: %+v, %v; want %d events", rep, err, pos-1)
	}
}
