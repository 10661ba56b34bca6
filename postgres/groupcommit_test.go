package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
)

// TestGroupCommit proves that concurrent appends share write transactions:
// while the writer's first transaction is held open (by the before-commit
// hook), 63 more appends queue up; they must then commit in a handful of
// transactions, not one each. With MaxBatch 1 (the baseline of
// BenchmarkAppend) every append gets its own transaction. Either way every
// append is acknowledged once, at its own contiguous positions, and the
// after-commit hook (what feeds the bus) sees every committed event once,
// in position order.
func TestGroupCommit(t *testing.T) {
	for _, c := range []struct {
		maxBatch int
		maxTx    int64 // most transactions allowed for the 64 appends
		minTx    int64
	}{{maxBatch: 256, minTx: 2, maxTx: 6}, {maxBatch: 1, minTx: 64, maxTx: 64}} {
		t.Run(fmt.Sprintf("MaxBatch=%d", c.maxBatch), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db := open(t, testenv.Postgres(t), postgres.Options{MaxBatch: c.maxBatch})
			var txs atomic.Int64
			release := make(chan struct{})
			db.SetTestHookBeforeCommit(func(context.Context) error {
				if txs.Add(1) == 1 {
					<-release // hold the first transaction until all appends queued
				}
				return nil
			})
			var (
				afterMu sync.Mutex
				after   []eventdesk.Event
			)
			db.SetAfterCommit(func(evs []eventdesk.Event) {
				afterMu.Lock()
				defer afterMu.Unlock()
				after = append(after, evs...)
			})

			const writers = 64
			results := make([]eventdesk.AppendResult, writers)
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			var started atomic.Int64
			for i := range writers {
				wg.Go(func() {
					started.Add(1)
					res, err := db.Append(ctx, fmt.Sprintf("ticket-%d", i), eventdesk.NoStream,
						ev("ticket.created", `{}`), ev("ticket.commented", `{}`))
					if err != nil {
						errs <- err
					}
					results[i] = res
				})
				if i == 0 {
					// The first append alone in the first transaction.
					for txs.Load() == 0 && ctx.Err() == nil {
						time.Sleep(time.Millisecond)
					}
				}
			}
			for started.Load() < writers && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // let the 63 others queue
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := txs.Load(); n < c.minTx || n > c.maxTx {
				t.Fatalf("%d appends took %d write transactions, want %d to %d", writers, n, c.minTx, c.maxTx)
			}
			t.Logf("%d appends of 2 events in %d write transactions", writers, txs.Load())

			seen := map[int64]bool{}
			for i, r := range results {
				if r.Version != 2 || r.Position < 2 || r.Position > 2*writers || seen[r.Position] {
					t.Fatalf("append %d: result %+v", i, r)
				}
				seen[r.Position] = true
			}
			afterMu.Lock()
			defer afterMu.Unlock()
			if len(after) != 2*writers {
				t.Fatalf("after-commit saw %d events, want %d", len(after), 2*writers)
			}
			for i, e := range after {
				if e.Position != int64(i+1) {
					t.Fatalf("after-commit: event %d has position %d", i, e.Position)
				}
			}
		})
	}
}
