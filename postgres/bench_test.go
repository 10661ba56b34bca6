package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// BenchmarkAppend measures durable appends (PostgreSQL commit with fsync
// on) of one event each, each opening a new stream as opening a ticket
// does, from 64 concurrent writers: through the group-committing writer,
// and in the same run through the same writer committing each append in a
// transaction of its own (MaxBatch 1). It reports appends/s and the
// transactions committed per append (from pg_stat_database).
//
//	go test -run '^$' -bench Append -benchtime 5s ./postgres/
func BenchmarkAppend(b *testing.B) {
	data := json.RawMessage(`{"title":"Printer on fire","description":"It is the third floor printer again.","priority":"high","requester":"alice","tags":["hardware"]}`)
	meta := eventdesk.Metadata{Actor: "alice", CorrelationID: "0195f2d4-7a1c-7000-8000-000000000000"}
	for _, c := range []struct {
		name     string
		maxBatch int
	}{{"group-commit/writers=64", 256}, {"tx-per-append/writers=64", 1}} {
		b.Run(c.name, func(b *testing.B) {
			dsn := testenv.Postgres(b)
			db := open(b, dsn, postgres.Options{MaxBatch: c.maxBatch, MaxConns: 8})
			ctx := context.Background()
			before := commits(b, dsn)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range 64 {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						id := uuid.Must(uuid.NewV7()).String()
						if _, err := db.Append(ctx, "ticket-"+id, eventdesk.NoStream, eventdesk.EventData{
							ID: id, Type: eventdesk.TypeTicketCreated, Schema: 2, Data: data, Metadata: meta,
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(commits(b, dsn)-before)/float64(b.N), "tx/append")
		})
	}
}

// commits returns the number of transactions committed in the database
// (statistics lag a little; the small error is in the last digit).
func commits(tb testing.TB, dsn string) int64 {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT pg_stat_force_next_flush()").Scan(new(any)); err != nil {
		tb.Logf("flush stats: %v", err)
	}
	if err := conn.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
