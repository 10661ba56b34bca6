package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/eventdesk/eventdesk"
)

// TestBatchFallback puts, into one batch, appends that the multi-row
// INSERT cannot take (a NoStream append to a stream the writer assumed
// new, an event id already taken) between good ones: the batch is written
// again one append at a time, each append gets its own answer, and the
// positions stay gap-free.
func TestBatchFallback(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	data := json.RawMessage(`{"title":"x"}`)
	ev := func(id string) eventdesk.EventData {
		return eventdesk.EventData{ID: id, Type: "test.happened", Schema: 1, Data: data, Metadata: eventdesk.Metadata{Actor: "a"}}
	}
	id := func(n int) string { return fmt.Sprintf("0195f2d4-7a1c-7000-8000-%012d", n) }
	open := func() *DB {
		db, err := Open(dir, WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	if _, err := db.Append(ctx, "s-existing", eventdesk.NoStream, ev(id(1))); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the writer knows no stream: a NoStream append is assumed
	// to open a new one.
	db = open()
	defer db.Close()
	mk := func(stream string, expected eventdesk.ExpectedVersion, events ...eventdesk.EventData) *request {
		r, err := db.newRequest(ctx, stream, expected, events)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	keyed := ev(id(6))
	keyed.Metadata.IdempotencyKey = "k1"
	batch := []*request{
		mk("s-a", eventdesk.NoStream, ev(id(2)), ev(id(3))),
		mk("s-existing", eventdesk.NoStream, ev(id(4))), // exists
		mk("s-b", eventdesk.NoStream, ev(id(1))),        // id taken
		mk("s-c", eventdesk.NoStream, keyed),
		mk("s-a", eventdesk.ExpectedVersion(2), ev(id(5))),
		mk("s-d", eventdesk.NoStream, ev(id(7)), ev(id(2))), // second id taken in this batch
	}
	// The writer goroutine is idle: nothing else was appended since Open.
	db.commitBatch(batch)
	resp := make([]response, len(batch))
	for i, r := range batch {
		resp[i] = <-r.done
	}
	want := []eventdesk.AppendResult{{Version: 2, Position: 3}, {}, {}, {Version: 1, Position: 4}, {Version: 3, Position: 5}, {}}
	for i, r := range resp {
		if r.res != want[i] {
			t.Errorf("append %d: result %+v, want %+v (err %v)", i, r.res, want[i], r.err)
		}
	}
	var wrong *eventdesk.WrongExpectedVersionError
	if !errors.As(resp[1].err, &wrong) || wrong.Actual != 1 {
		t.Errorf("NoStream append to an existing stream: %v, want a wrong expected version (actual 1)", resp[1].err)
	}
	for _, i := range []int{2, 5} {
		if eventdesk.ErrorCode(resp[i].err) != eventdesk.EConflict {
			t.Errorf("append %d with a taken event id: %v, want a conflict", i, resp[i].err)
		}
	}
	for _, i := range []int{0, 3, 4} {
		if resp[i].err != nil {
			t.Errorf("append %d: %v", i, resp[i].err)
		}
	}
	// The store goes on from there, gap-free and verifiable.
	if res, err := db.Append(ctx, "s-c", eventdesk.StreamExists, ev(id(8))); err != nil || res.Position != 6 {
		t.Fatalf("append after the batch: %+v, %v; want position 6", res, err)
	}
	all, err := db.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range all {
		if e.Position != int64(i+1) {
			t.Fatalf("event %d has position %d", i, e.Position)
		}
	}
	if len(all) != 6 {
		t.Fatalf("%d events, want 6", len(all))
	}
	if _, err := db.Append(ctx, "s-x", eventdesk.NoStream, func() eventdesk.EventData { e := ev(id(9)); e.Metadata.IdempotencyKey = "k1"; return e }()); !errors.As(err, new(*eventdesk.DuplicateAppendError)) {
		t.Fatalf("reusing the key of the batch: %v, want a duplicate", err)
	}
	rep, err := db.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Events != 6 {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}
