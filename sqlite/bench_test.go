package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/google/uuid"
	sqlitedriver "modernc.org/sqlite"
)

// BenchmarkAppend measures durable appends of one event each, to distinct
// streams (each append opens a new stream, as opening a ticket does), with
// 1, 8, 64 and 256 concurrent writers going through the group-committing
// writer (256: as many as `eventdesk load` runs, and what a busy server
// has in flight); and, in the same run, the baseline: a plain database/sql loop
// committing one transaction (one fsync) per event, same schema, same
// pragmas, same per-event work (metadata JSON, chain hash).
//
//	go test -run '^$' -bench . -benchtime 3s ./sqlite/
func BenchmarkAppend(b *testing.B) {
	data := json.RawMessage(`{"title":"Printer on fire","description":"It is the third floor printer again.","priority":"high","requester":"alice","tags":["hardware"]}`)
	meta := eventdesk.Metadata{Actor: "alice", CorrelationID: "0195f2d4-7a1c-7000-8000-000000000000"}
	for _, writers := range []int{1, 8, 64, 256} {
		b.Run(fmt.Sprintf("group/writers=%d", writers), func(b *testing.B) {
			db := openDB(b, b.TempDir())
			defer db.Close()
			ctx := context.Background()
			before := db.Stats()
			runWriters(b, writers, func(i int64) error {
				id := uuid.Must(uuid.NewV7()).String()
				_, err := db.Append(ctx, "ticket-"+id, eventdesk.NoStream, eventdesk.EventData{
					ID: id, Type: eventdesk.TypeTicketCreated, Schema: 2, Data: data, Metadata: meta,
				})
				return err
			})
			after := db.Stats()
			b.ReportMetric(float64(after.Appends-before.Appends)/float64(max(after.Commits-before.Commits, 1)), "appends/commit")
		})
	}
	b.Run("baseline/tx-per-event", func(b *testing.B) {
		db := baselineDB(b)
		defer db.Close()
		ins, err := db.Prepare("INSERT INTO events (position, id, stream, version, type, schema, data, metadata, recorded_at, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		if err != nil {
			b.Fatal(err)
		}
		defer ins.Close()
		runWriters(b, 1, func(i int64) error {
			id := uuid.Must(uuid.NewV7()).String()
			e := eventdesk.Event{
				ID: id, Stream: "ticket-" + id, Version: 1, Position: i, Type: eventdesk.TypeTicketCreated, Schema: 2,
				Data: data, Metadata: meta, RecordedAt: eventdesk.NormalizeTime(time.Now()),
			}
			e.Hash = eventdesk.ChainHash("", e)
			m, err := json.Marshal(e.Metadata)
			if err != nil {
				return err
			}
			tx, err := db.Begin()
			if err != nil {
				return err
			}
			if _, err := tx.Stmt(ins).Exec(e.Position, e.ID, e.Stream, e.Version, e.Type, e.Schema, []byte(e.Data), m, e.RecordedAt.UnixMicro(), e.Hash); err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		})
	})
}

// runWriters calls fn(1…b.N) from writers goroutines and reports events/s.
func runWriters(b *testing.B, writers int, fn func(i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu := processCPU(b)
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(processCPU(b)-cpu).Seconds(), "events/cpu-s")
}

// processCPU returns the CPU time (user + system, all threads) the process
// has used: a figure less distorted than wall time when the machine is
// shared.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// baselineDB opens a fresh file with the event store's schema and pragmas
// (WAL, synchronous=FULL) through database/sql directly. It syncs with
// fdatasync, as the store does.
func baselineDB(b *testing.B) *sql.DB {
	if _, err := sqlitedriver.Fdatasync(true); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "baseline.db")
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	schema, err := os.ReadFile(filepath.Join("migrations", "events", "0001_events.sql"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(string(schema)); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkReadAll measures reading the log in pages of 4,096 events, as
// a replay does, over 100,000 imported events of ~300 bytes.
//
//	go test -run '^$' -bench ReadAll ./sqlite/
func BenchmarkReadAll(b *testing.B) {
	const total, page = 100_000, 4096
	db := openDB(b, b.TempDir())
	defer db.Close()
	data := json.RawMessage(`{"title":"Printer on fire","description":"It is the third floor printer again.","priority":"high","requester":"alice","tags":["hardware"]}`)
	meta := eventdesk.Metadata{Actor: "alice", CorrelationID: "0195f2d4-7a1c-7000-8000-000000000000"}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]eventdesk.Event, 0, 10_000)
	prev := map[string]string{}
	for i := range total {
		stream := fmt.Sprintf("ticket-%d", i/5)
		e := eventdesk.Event{
			ID: uuid.Must(uuid.NewV7()).String(), Stream: stream, Version: int64(i%5 + 1), Position: int64(i + 1),
			Type: eventdesk.TypeTicketCreated, Schema: 2, Data: data, Metadata: meta, RecordedAt: at,
		}
		e.Hash = eventdesk.ChainHash(prev[stream], e)
		prev[stream] = e.Hash
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if err := db.Import(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		var after int64
		for {
			evs, err := db.ReadAll(ctx, after, page)
			if err != nil {
				b.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			after = evs[len(evs)-1].Position
		}
	}
	b.StopTimer() // Close (deferred) is not part of reading
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
}
