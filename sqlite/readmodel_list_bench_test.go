package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/sqlite"
)

// BenchmarkListQueryLatency measures every list filter × sort on a large
// read model (the history of benchHistory, rebuilt): each iteration lists
// the first page of 50 and the next one through its cursor, rotating the
// filter's value (assignee, requester, tag) so that the walks do not
// always meet the same pages. It reports the p50 and p99 of single page
// queries and the CPU time per page. Pick a size by name, e.g.
// -test.bench 'BenchmarkListQueryLatency/tickets=1000000'.
func BenchmarkListQueryLatency(b *testing.B) {
	for _, tickets := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("tickets=%d", tickets), func(b *testing.B) {
			rm := rebuiltReadModels(b, tickets)
			benchListLatency(b, rm)
		})
	}
}

func benchListLatency(b *testing.B, rm *sqlite.ReadModels) {
	ctx := context.Background()
	st := func(s ...eventdesk.Status) []eventdesk.Status { return s }
	pr := func(p ...eventdesk.Priority) []eventdesk.Priority { return p }
	agent := func(i int) string { return fmt.Sprintf("agent%02d", i%50) }
	user := func(i int) string { return fmt.Sprintf("user%05d", (i*7919)%10000) }
	tag := func(i int) string { return fmt.Sprintf("tag%02d", i%30) }
	filters := []struct {
		name string
		f    func(i int) eventdesk.TicketFilter
	}{
		{"all", func(int) eventdesk.TicketFilter { return eventdesk.TicketFilter{} }},
		{"status=open", func(int) eventdesk.TicketFilter { return eventdesk.TicketFilter{Status: st(eventdesk.StatusOpen)} }},
		{"status=new,open,pending", func(int) eventdesk.TicketFilter {
			return eventdesk.TicketFilter{Status: st(eventdesk.StatusNew, eventdesk.StatusOpen, eventdesk.StatusPending)}
		}},
		{"priority=urgent", func(int) eventdesk.TicketFilter {
			return eventdesk.TicketFilter{Priority: pr(eventdesk.PriorityUrgent)}
		}},
		{"priority=urgent,high", func(int) eventdesk.TicketFilter {
			return eventdesk.TicketFilter{Priority: pr(eventdesk.PriorityUrgent, eventdesk.PriorityHigh)}
		}},
		{"status=closed+priority=low", func(int) eventdesk.TicketFilter {
			return eventdesk.TicketFilter{Status: st(eventdesk.StatusClosed), Priority: pr(eventdesk.PriorityLow)}
		}},
		{"assignee", func(i int) eventdesk.TicketFilter { return eventdesk.TicketFilter{Assignee: agent(i)} }},
		{"assignee+status=open", func(i int) eventdesk.TicketFilter {
			return eventdesk.TicketFilter{Assignee: agent(i), Status: st(eventdesk.StatusOpen)}
		}},
		{"unassigned", func(int) eventdesk.TicketFilter { return eventdesk.TicketFilter{Unassigned: true} }},
		{"requester", func(i int) eventdesk.TicketFilter { return eventdesk.TicketFilter{Requester: user(i)} }},
		{"requester+status=closed", func(i int) eventdesk.TicketFilter {
			return eventdesk.TicketFilter{Requester: user(i), Status: st(eventdesk.StatusClosed)}
		}},
		{"tag", func(i int) eventdesk.TicketFilter { return eventdesk.TicketFilter{Tag: tag(i)} }},
		{"tag+status=closed", func(i int) eventdesk.TicketFilter {
			return eventdesk.TicketFilter{Tag: tag(i), Status: st(eventdesk.StatusClosed)}
		}},
	}
	for _, fl := range filters {
		for _, sort := range eventdesk.TicketSorts {
			b.Run(fl.name+"/"+string(sort), func(b *testing.B) {
				var lat []time.Duration
				query := func(f eventdesk.TicketFilter) eventdesk.TicketPage {
					t0 := time.Now()
					p, err := rm.Tickets(ctx, f)
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					return p
				}
				cpu0 := cpuTime()
				for i := 0; b.Loop(); i++ {
					f := fl.f(i)
					f.Sort = sort
					if p := query(f); p.Next != "" {
						f.Cursor = p.Next
						query(f)
					}
				}
				cpu := cpuTime() - cpu0
				slices.Sort(lat)
				ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
				b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/page")
			})
		}
	}
}
