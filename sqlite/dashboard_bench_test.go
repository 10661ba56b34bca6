package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sqlite"
)

// BenchmarkDashboardCatchUp measures the live dashboard projection
// catching up from position 0 (a dashboard.db deleted or reset by a
// migration, as serve would project it: transactions of 1,000 events),
// in events per second.
func BenchmarkDashboardCatchUp(b *testing.B) {
	for _, tickets := range []int{20_000} {
		b.Run(fmt.Sprintf("tickets=%d", tickets), func(b *testing.B) {
			db, _, events := benchStore(b, tickets)
			ctx := context.Background()
			var log []eventdesk.Event
			for pos := int64(0); ; {
				evs, err := db.ReadAll(ctx, pos, 1000)
				if err != nil {
					b.Fatal(err)
				}
				if len(evs) == 0 {
					break
				}
				pos = evs[len(evs)-1].Position
				log = append(log, evs...)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				b.StopTimer()
				s, err := sqlite.OpenDashboard(b.TempDir(), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for i := 0; i < len(log); i += 1000 {
					batch := log[i:min(i+1000, len(log))]
					if err := s.Project(ctx, projection.DashboardName, batch[len(batch)-1].Position, func(tx eventdesk.ProjectionTx) error {
						return projection.Dashboard{}.ApplyAll(ctx, tx, batch)
					}); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(events)*float64(b.N)/cpu.Seconds(), "events/cpu-s")
		})
	}
}
