package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/subscription"
)

func rmCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func rmEvent(tb testing.TB, p eventdesk.Payload, actor string) eventdesk.EventData {
	tb.Helper()
	typ, schema, raw, err := eventdesk.Encode(p)
	if err != nil {
		tb.Fatal(err)
	}
	return eventdesk.EventData{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Schema: schema, Data: raw, Metadata: eventdesk.Metadata{Actor: actor}}
}

// rmHistory appends n tickets with a few changes each and returns their ids.
func rmHistory(tb testing.TB, st eventdesk.EventStore, n int) []string {
	tb.Helper()
	ctx := rmCtx(tb)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
		evs := []eventdesk.EventData{
			rmEvent(tb, eventdesk.TicketCreated{Title: fmt.Sprintf("Ticket %d", i), Requester: "rita", Priority: eventdesk.Priorities[i%4], Tags: []string{"t" + fmt.Sprint(i%3)}}, "rita"),
			rmEvent(tb, eventdesk.TicketCommented{CommentID: "c1", Author: "bob", Body: "looking"}, "bob"),
		}
		if i%2 == 0 {
			evs = append(evs, rmEvent(tb, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen}, "bob"))
		}
		if _, err := st.Append(ctx, eventdesk.TicketStream(ids[i]), eventdesk.NoStream, evs...); err != nil {
			tb.Fatal(err)
		}
	}
	// Some later events interleave streams.
	for i := 0; i < n; i += 3 {
		if _, err := st.Append(ctx, eventdesk.TicketStream(ids[i]), eventdesk.AnyVersion,
			rmEvent(tb, eventdesk.TicketAssigned{Assignee: "alice"}, "alice")); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}

// rmCheck compares the read models with the streams folded and the
// counters with the tickets.
func rmCheck(tb testing.TB, st eventdesk.EventStore, rm eventdesk.TicketReader, ids []string) {
	tb.Helper()
	ctx := rmCtx(tb)
	want := eventdesk.Stats{ByStatus: map[eventdesk.Status]int{}, ByPriority: map[eventdesk.Priority]int{}}
	for _, s := range eventdesk.Statuses {
		want.ByStatus[s] = 0
	}
	for _, p := range eventdesk.Priorities {
		want.ByPriority[p] = 0
	}
	for _, id := range ids {
		evs, err := st.ReadStream(ctx, eventdesk.TicketStream(id), 1, 0)
		if err != nil {
			tb.Fatal(err)
		}
		w, err := eventdesk.Fold(evs)
		if err != nil {
			tb.Fatal(err)
		}
		g, err := rm.Ticket(ctx, id)
		if err != nil {
			tb.Fatalf("ticket %s: %v", id, err)
		}
		if g.Version != w.Version || g.Title != w.Title || g.Status != w.Status || g.Assignee != w.Assignee || len(g.Comments) != len(w.Comments) {
			tb.Fatalf("ticket %s: got %+v, want %+v", id, g, w)
		}
		want.Total++
		want.ByStatus[w.Status]++
		want.ByPriority[w.Priority]++
	}
	got, err := rm.Stats(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		tb.Fatalf("stats %+v, want %+v", got, want)
	}
	head, _ := st.Head(ctx)
	if pos, _ := rm.Position(ctx); pos != head {
		tb.Fatalf("read model position %d, head %d", pos, head)
	}
}

// projectAll brings rm up to the head of st, in batches.
func projectAll(tb testing.TB, st eventdesk.EventStore, rm *sqlite.ReadModels) {
	tb.Helper()
	ctx := rmCtx(tb)
	pos, _, err := rm.Checkpoint(ctx, projection.TicketsName)
	if err != nil {
		tb.Fatal(err)
	}
	for {
		evs, err := st.ReadAll(ctx, pos, 100)
		if err != nil {
			tb.Fatal(err)
		}
		if len(evs) == 0 {
			return
		}
		pos = evs[len(evs)-1].Position
		if err := rm.Project(ctx, projection.TicketsName, pos, func(tx eventdesk.ProjectionTx) error {
			return projection.Tickets{}.ApplyAll(ctx, tx, evs)
		}); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestRebuildOfflineReplacesReadModelsAndKeepsSubscriberState(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := rmHistory(t, db, 300)
	rm, err := sqlite.OpenReadModels(dir, sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	projectAll(t, db, rm)
	// A projection bug wrote garbage into the read model.
	ctx := rmCtx(t)
	bad, _ := rm.Ticket(ctx, ids[0])
	bad.Title = "corrupted by a bug"
	if err := rm.Project(ctx, projection.TicketsName, 0, func(tx eventdesk.ProjectionTx) error {
		if err := tx.SaveTicket(ctx, bad); err != nil {
			return err
		}
		return tx.AddCount(ctx, eventdesk.CounterTotal, 1000)
	}); err != nil {
		t.Fatal(err)
	}
	if err := rm.Close(); err != nil {
		t.Fatal(err)
	}
	state, err := db.OpenSubscriberState(sqlite.SubscriberStateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := db.ReadAll(ctx, 0, 1)
	if err := state.MarkHandled(ctx, "webhook", first[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Park(ctx, "email", first[0], 5, "smtp down"); err != nil {
		t.Fatal(err)
	}

	head, _ := db.Head(ctx)
	var calls int
	var last int64
	err = sqlite.RebuildReadModels(ctx, dir, db, func(done, total int64) {
		calls++
		last = done
		if total != head || done > total {
			t.Errorf("progress %d/%d, head %d", done, total, head)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last != head {
		t.Fatalf("progress called %d times, last %d; want ≥ 1 and %d", calls, last, head)
	}
	if _, err := os.Stat(filepath.Join(dir, "readmodels.db.rebuild")); !os.IsNotExist(err) {
		t.Fatalf("the rebuild file was left behind: %v", err)
	}
	rm, err = sqlite.OpenReadModels(dir, sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	rmCheck(t, db, rm, ids)
	// Side-effect state is untouched.
	if ok, _ := state.Handled(ctx, "webhook", first[0].ID); !ok {
		t.Fatal("the inbox lost an entry in a rebuild")
	}
	if l, _ := state.DeadLetters(ctx, "email"); len(l) != 1 {
		t.Fatalf("dead letters after rebuild: %+v", l)
	}
	// Projection continues on the rebuilt file.
	more := rmHistory(t, db, 5)
	projectAll(t, db, rm)
	rmCheck(t, db, rm, append(ids, more...))
}

func TestRebuildReplacesAnUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := rmHistory(t, db, 20)
	garbage := []byte(strings.Repeat("this is not a database ", 200))
	if err := os.WriteFile(filepath.Join(dir, sqlite.ReadModelsFile), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.OpenReadModels(dir, sqlite.ReadModelsOptions{})
	if err == nil || !strings.Contains(err.Error(), "eventdesk replay") {
		t.Fatalf("opening a garbage read-model file: %v; want a refusal that suggests eventdesk replay", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, sqlite.ReadModelsFile)); string(got) != string(garbage) {
		t.Fatal("a refused file was modified")
	}
	if err := sqlite.RebuildReadModels(rmCtx(t), dir, db, nil); err != nil {
		t.Fatal(err)
	}
	rm, err := sqlite.OpenReadModels(dir, sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	rmCheck(t, db, rm, ids)
}

func TestRebuildEmptyStore(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlite.RebuildReadModels(rmCtx(t), dir, db, nil); err != nil {
		t.Fatal(err)
	}
	rm, err := sqlite.OpenReadModels(dir, sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	rmCheck(t, db, rm, nil)
	if _, found, _ := rm.Checkpoint(rmCtx(t), projection.TicketsName); !found {
		t.Fatal("a rebuilt empty read model has no checkpoint")
	}
}

// TestRebuildOnline rebuilds while the live projection runs, appends go on
// and queries are served; afterwards everything matches the streams and
// the live projection goes on.
func TestRebuildOnline(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := rmHistory(t, db, 400)
	r := subscription.NewRunner(db, nil, subscription.Options{Backoff: subscription.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	if err := r.AddProjection(subscription.Projection{Name: projection.TicketsName, Store: rm, Projector: projection.Tickets{}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	var mu sync.Mutex
	var load sync.WaitGroup
	stop := make(chan struct{})
	load.Go(func() { // appends during the rebuild
		for {
			select {
			case <-stop:
				return
			default:
			}
			more := rmHistory(t, db, 2)
			mu.Lock()
			ids = append(ids, more...)
			mu.Unlock()
		}
	})
	load.Go(func() { // queries during the rebuild
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := rm.Tickets(context.Background(), eventdesk.TicketFilter{Status: []eventdesk.Status{eventdesk.StatusOpen}}); err != nil {
				t.Errorf("query during rebuild: %v", err)
				return
			}
		}
	})
	err = rm.Rebuild(rmCtx(t), db, nil)
	close(stop)
	load.Wait()
	if err != nil {
		t.Fatal(err)
	}
	more := rmHistory(t, db, 3)
	head, _ := db.Head(rmCtx(t))
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := rm.WaitFor(wctx, head); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	all := append(append([]string(nil), ids...), more...)
	mu.Unlock()
	rmCheck(t, db, rm, all)
}

// TestRebuildWriterFailureLeavesReadModels makes the bulk load's row
// writer fail in the middle of a rebuild (a full disk would): the rebuild
// reports the error instead of hanging or swapping in a partial file, the
// read models and the dashboard in place stay as they were, nothing of
// the attempt is left behind, and the next rebuild succeeds.
func TestRebuildWriterFailureLeavesReadModels(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := rmCtx(t)
	ids := rmHistory(t, db, 200)
	if err := sqlite.RebuildReadModels(ctx, dir, db, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := db.Head(ctx)
	more := rmHistory(t, db, 200) // not in the read models until a rebuild succeeds
	head, _ := db.Head(ctx)

	defer sqlite.SetRebuildBatchForTest(64, 128)()
	diskFull := fmt.Errorf("database or disk is full (injected)")
	var failedAt int64
	restore := sqlite.FailRebuildWritesForTest(func(position int64) error {
		if position > head/2 {
			failedAt = position
			return diskFull
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- sqlite.RebuildReadModels(ctx, dir, db, nil) }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the rebuild hangs after its row writer failed")
	}
	restore()
	if err == nil || !strings.Contains(err.Error(), diskFull.Error()) {
		t.Fatalf("rebuild with a failing writer: %v, want the writer's error", err)
	}
	if failedAt == 0 {
		t.Fatal("the injected failure never happened: the test proves nothing")
	}
	for _, leftover := range []string{"readmodels.db.rebuild", "readmodels.db.rebuild-wal", "dashboard.db.rebuild"} {
		if _, err := os.Stat(filepath.Join(dir, leftover)); !os.IsNotExist(err) {
			t.Errorf("%s was left behind: %v", leftover, err)
		}
	}
	rm, err := sqlite.OpenReadModels(dir, sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pos, _ := rm.Position(ctx); pos != before {
		t.Fatalf("after the failed rebuild the read models are at %d, want the old %d", pos, before)
	}
	if _, err := rm.Ticket(ctx, more[0]); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("a ticket of the failed rebuild is in the read models: %v", err)
	}
	if err := rm.Close(); err != nil {
		t.Fatal(err)
	}

	if err := sqlite.RebuildReadModels(ctx, dir, db, nil); err != nil {
		t.Fatalf("the rebuild after a failed one: %v", err)
	}
	rm, err = sqlite.OpenReadModels(dir, sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	rmCheck(t, db, rm, append(ids, more...))
}
