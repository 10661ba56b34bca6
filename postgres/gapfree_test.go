package postgres_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/storetest"
	"github.com/jackc/pgx/v5"
)

// errInjected is the failure the test injects before COMMIT.
var errInjected = errors.New("injected rollback")

// TestGapFreePositions is the proof that a reader following ReadAll by
// position never skips an event: writers in this process (two stores, so
// two writer goroutines on separate pools), a writer in a child process,
// transactions rolled back on purpose after taking positions (by the
// store's own writer, through a hook, and by raw SQL holding the position
// lock), while a subscriber follows along. At the end the subscriber has
// seen every acknowledged event exactly once, at positions 1, 2, 3, …, and
// nothing that was rolled back.
func TestGapFreePositions(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	a := open(t, dsn, postgres.Options{MaxBatch: 16})
	b := open(t, dsn, postgres.Options{MaxBatch: 1})
	var hookRollbacks atomic.Int64
	a.SetTestHookBeforeCommit(func(ctx context.Context) error {
		switch rand.IntN(4) {
		case 0:
			hookRollbacks.Add(1)
			return errInjected
		case 1:
			// Commit late, holding positions: were a later position
			// visible before this one, the reader would skip it.
			time.Sleep(3 * time.Millisecond)
		}
		return nil
	})
	reader := open(t, dsn, postgres.Options{})

	const streams = 20
	const perWriter = 120
	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		failed = map[string]bool{}
	)
	record := func(ids []string, err error) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if err == nil {
				acked[id] = true
			} else {
				failed[id] = true
			}
		}
	}

	var writers sync.WaitGroup
	writerErrs := make(chan error, 100)
	for w, db := range []*postgres.DB{a, a, a, a, b, b, b} {
		writers.Go(func() {
			for i := range perWriter {
				n := 1 + rand.IntN(3)
				evs := make([]eventdesk.EventData, n)
				ids := make([]string, n)
				for j := range evs {
					evs[j] = ev("test.appended", fmt.Sprintf(`{"writer":%d,"i":%d}`, w, i))
					ids[j] = evs[j].ID
				}
				_, err := db.Append(ctx, fmt.Sprintf("stream-%d", rand.IntN(streams)), eventdesk.AnyVersion, evs...)
				if err != nil && !errors.Is(err, errInjected) {
					writerErrs <- err
				}
				record(ids, err)
			}
		})
	}

	// Raw transactions that take the position lock and the next positions,
	// insert, hold them a moment (so that other writers queue behind), and
	// roll back.
	var rawRollbacks atomic.Int64
	writers.Go(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			writerErrs <- err
			return
		}
		defer conn.Close(context.Background())
		for i := range 40 {
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				var head int64
				if err := tx.QueryRow(ctx, "SELECT position FROM store_head FOR UPDATE").Scan(&head); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO events (position, id, stream, version, type, schema, data, metadata, recorded_at, hash)
					VALUES ($1, $2, 'rolled-back', $3, 'x', 1, '\x7b7d', '{}', now(), '')`, head+1, fmt.Sprintf("rollback-%d", i), head+1); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "UPDATE store_head SET position = $1", head+1); err != nil {
					return err
				}
				time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
				return errInjected
			})
			if !errors.Is(err, errInjected) {
				writerErrs <- err
				return
			}
			rawRollbacks.Add(1)
			time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
		}
	})

	// A writer in another process.
	child := storetest.HelperCommand(t, "gapfree", "EVENTDESK_GAPFREE_DSN="+dsn, "EVENTDESK_GAPFREE_N=300")
	var childOut, childErr bytes.Buffer
	child.Stdout, child.Stderr = &childOut, &childErr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}

	// The subscriber: follows ReadAll while everything above runs.
	var seen []eventdesk.Event
	stop := make(chan struct{})
	followDone := make(chan error, 1)
	go func() {
		var after int64
		for {
			select {
			case <-stop:
				// One last read after every writer has finished.
				for {
					events, err := reader.ReadAll(ctx, after, 200)
					if err != nil {
						followDone <- err
						return
					}
					if len(events) == 0 {
						followDone <- nil
						return
					}
					seen = append(seen, events...)
					after = events[len(events)-1].Position
				}
			default:
			}
			events, err := reader.ReadAll(ctx, after, 50)
			if err != nil {
				followDone <- err
				return
			}
			seen = append(seen, events...)
			if len(events) > 0 {
				after = events[len(events)-1].Position
			} else {
				time.Sleep(time.Millisecond)
			}
		}
	}()

	writers.Wait()
	childErrWait := child.Wait()
	close(stop)
	if err := <-followDone; err != nil {
		t.Fatal(err)
	}
	close(writerErrs)
	for err := range writerErrs {
		t.Errorf("writer: %v", err)
	}
	if childErrWait != nil {
		t.Fatalf("child writer: %v\n%s\n%s", childErrWait, childOut.String(), childErr.String())
	}
	childAcked := 0
	sc := bufio.NewScanner(&childOut)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked[id] = true
			childAcked++
		}
	}
	if childAcked == 0 {
		t.Fatalf("child acknowledged nothing:\n%s\n%s", childOut.String(), childErr.String())
	}

	heads := map[string]string{}
	versions := map[string]int64{}
	ids := map[string]bool{}
	for i, e := range seen {
		if e.Position != int64(i+1) {
			t.Fatalf("event %d has position %d: the subscriber saw a gap or a repeat", i, e.Position)
		}
		if ids[e.ID] {
			t.Fatalf("event %s seen twice", e.ID)
		}
		ids[e.ID] = true
		if !acked[e.ID] {
			t.Errorf("event %s (stream %s) was seen but never acknowledged (failed: %v)", e.ID, e.Stream, failed[e.ID])
		}
		if e.Version != versions[e.Stream]+1 {
			t.Errorf("stream %s: version %d after %d", e.Stream, e.Version, versions[e.Stream])
		}
		versions[e.Stream] = e.Version
		if e.Hash != eventdesk.ChainHash(heads[e.Stream], e) {
			t.Errorf("stream %s version %d: hash does not chain", e.Stream, e.Version)
		}
		heads[e.Stream] = e.Hash
	}
	for id := range acked {
		if !ids[id] {
			t.Errorf("acknowledged event %s never seen", id)
		}
	}
	t.Logf("subscriber saw %d events in order; %d acknowledged (%d by the child process); %d appends rolled back by the hook, %d raw transactions rolled back",
		len(seen), len(acked), childAcked, hookRollbacks.Load(), rawRollbacks.Load())
	if hookRollbacks.Load() == 0 || rawRollbacks.Load() == 0 {
		t.Error("no transaction was rolled back: the test proved nothing")
	}
}

// gapFreeChild is the helper role of TestGapFreePositions (see TestMain):
// it appends from its own process and prints the id of every acknowledged
// event.
func gapFreeChild() error {
	n, _ := strconv.Atoi(os.Getenv("EVENTDESK_GAPFREE_N"))
	db, err := postgres.Open(context.Background(), os.Getenv("EVENTDESK_GAPFREE_DSN"), postgres.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	var wg sync.WaitGroup
	var out sync.Mutex
	var failed atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := range n / 4 {
				e := ev("test.appended", fmt.Sprintf(`{"child":%d,"i":%d}`, w, i))
				e.ID = fmt.Sprintf("child-%d-%d", w, i)
				if _, err := db.Append(context.Background(), fmt.Sprintf("stream-%d", rand.IntN(20)), eventdesk.AnyVersion, e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					failed.Add(1)
					continue
				}
				out.Lock()
				fmt.Printf("ACK %s\n", e.ID)
				out.Unlock()
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d appends failed", n)
	}
	return nil
}
