package dynamodb_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/dynamodb"
)

// BenchmarkAppend measures single-event appends to distinct streams
// against DynamoDB Local: a figure for spotting regressions in this
// adapter, not a prediction of DynamoDB's own throughput.
func BenchmarkAppend(b *testing.B) {
	s := newEventStore(b, dynamodb.EventStoreOptions{})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Append(ctx, fmt.Sprintf("bench-%d", i), eventdesk.NoStream, data(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendParallel measures concurrent single-event appends, each
// goroutine to its own streams.
func BenchmarkAppendParallel(b *testing.B) {
	s := newEventStore(b, dynamodb.EventStoreOptions{})
	ctx := context.Background()
	var n atomicCounter
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.next()
			if _, err := s.Append(ctx, fmt.Sprintf("bench-%d", i), eventdesk.NoStream, data(int(i))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}
