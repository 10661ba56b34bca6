package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

func syncTestEvent(n int) eventdesk.EventData {
	return eventdesk.EventData{ID: fmt.Sprintf("0195f2d4-7a1c-7000-8000-%012d", n), Type: "test.happened", Schema: 1, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

// fileCount counts the events committed to events.db, head or not.
func fileCount(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.rdb.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCommitHiddenUntilSynced holds the WAL sync of a commit: the events
// are in the file, yet no read returns them and the append is not
// answered; once the sync returns, both see them.
func TestCommitHiddenUntilSynced(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir(), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Append(ctx, "a", eventdesk.NoStream, syncTestEvent(1)); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	db.wal.hook = func() error {
		entered <- struct{}{}
		<-release
		return fdatasync(db.wal.f)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.Append(ctx, "b", eventdesk.NoStream, syncTestEvent(2), syncTestEvent(3))
		done <- err
	}()
	<-entered
	if n := fileCount(t, db); n != 3 {
		t.Fatalf("the file holds %d events while the sync is held, want 3 (the commit is written)", n)
	}
	if got, err := db.ReadStream(ctx, "b", 1, 0); err != nil || len(got) != 0 {
		t.Errorf("ReadStream(b) before the sync = %v, %v; want nothing", positions(got), err)
	}
	// Past the tail's reach and the caught-up shortcut: the SQL bound.
	db.tail.reset()
	if got, err := db.ReadAll(ctx, 0, 0); err != nil || len(got) != 1 {
		t.Errorf("ReadAll(0) before the sync = %v, %v; want [1]", positions(got), err)
	}
	if head, _ := db.Head(ctx); head != 1 {
		t.Errorf("head before the sync = %d, want 1", head)
	}
	select {
	case err := <-done:
		t.Fatalf("the append was answered (%v) before its sync", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := db.ReadStream(ctx, "b", 1, 0); err != nil || len(got) != 2 {
		t.Errorf("ReadStream(b) after the sync = %v, %v; want 2 events", positions(got), err)
	}
	if got, err := db.ReadAll(ctx, 0, 0); err != nil || len(got) != 3 {
		t.Errorf("ReadAll(0) after the sync = %v, %v; want [1 2 3]", positions(got), err)
	}
}

// TestFailedSyncRefusesAppendsUntilReopen: a sync that fails fails the
// appends of its commit, hides them from readers and refuses every later
// append and import, without writing, until the store is reopened.
func TestFailedSyncRefusesAppendsUntilReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(dir, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "a", eventdesk.NoStream, syncTestEvent(1)); err != nil {
		t.Fatal(err)
	}
	var syncs atomic.Int64
	db.wal.hook = func() error {
		if syncs.Add(1) == 1 {
			return errors.New("input/output error")
		}
		return nil
	}
	_, err = db.Append(ctx, "b", eventdesk.NoStream, syncTestEvent(2))
	if eventdesk.ErrorCode(err) != eventdesk.EUnavailable || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), "reopened") {
		t.Fatalf("append whose sync failed: %v (code %q), want unavailable, naming the failure and the reopen", err, eventdesk.ErrorCode(err))
	}
	if head, _ := db.Head(ctx); head != 1 {
		t.Errorf("head after the failed sync = %d, want 1", head)
	}
	if got, _ := db.ReadStream(ctx, "b", 1, 0); len(got) != 0 {
		t.Errorf("ReadStream(b) after the failed sync = %v, want nothing", positions(got))
	}
	inFile := fileCount(t, db)
	_, err = db.Append(ctx, "c", eventdesk.NoStream, syncTestEvent(3))
	if eventdesk.ErrorCode(err) != eventdesk.EUnavailable {
		t.Errorf("append after the failed sync: %v, want unavailable", err)
	}
	err = db.Import(ctx, []eventdesk.Event{{ID: syncTestEvent(4).ID, Stream: "d", Version: 1, Type: "test.happened", Schema: 1, Data: json.RawMessage(`{}`)}})
	if eventdesk.ErrorCode(err) != eventdesk.EUnavailable {
		t.Errorf("import after the failed sync: %v, want unavailable", err)
	}
	if n := fileCount(t, db); n != inFile || syncs.Load() != 1 {
		t.Errorf("after the failed sync the store wrote %d → %d events and synced %d times; want no writes and 1 sync", inFile, fileCount(t, db), syncs.Load())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Append(ctx, "c", eventdesk.NoStream, syncTestEvent(3)); err != nil {
		t.Fatalf("append after reopening: %v", err)
	}
	report, err := db.Verify(ctx, nil)
	if err != nil || len(report.Breaks) != 0 {
		t.Fatalf("verify after reopening: %+v, %v", report, err)
	}
}
