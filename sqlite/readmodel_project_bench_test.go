package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sqlite"
)

// BenchmarkProjectEvent measures the live ticket projection's cost per
// event, one event per transaction as the live runner projects an event
// that arrives alone: "created" projects a new ticket, "commented" a
// comment on one of 20,000 existing tickets, "status" a status change of
// one (open, then pending, and back); "created-batch32" projects new
// tickets 32 to a transaction, as the live runner does under load. It reports CPU time per event
// (user + system, all threads), which a shared machine distorts less than
// the wall clock.
func BenchmarkProjectEvent(b *testing.B) {
	for _, kind := range []string{"created", "commented", "status", "created-batch32"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			rm, err := sqlite.OpenReadModels(b.TempDir(), sqlite.ReadModelsOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer rm.Close()
			var (
				pos     int64
				at      = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
				version = map[string]int64{}
				p       projection.Tickets
			)
			event := func(id string, pl eventdesk.Payload) eventdesk.Event {
				typ, schema, data, err := eventdesk.Encode(pl)
				if err != nil {
					b.Fatal(err)
				}
				pos++
				version[id]++
				at = at.Add(time.Millisecond)
				return eventdesk.Event{ID: fmt.Sprintf("%08x-eeee-7000-8000-%012x", pos, pos), Stream: eventdesk.TicketStream(id),
					Version: version[id], Position: pos, Type: typ, Schema: schema, Data: data,
					Metadata: eventdesk.Metadata{Actor: "agent01"}, RecordedAt: eventdesk.NormalizeTime(at)}
			}
			tags := []string{"billing", "login", "mobile"}
			created := func(i int) eventdesk.Event {
				id := fmt.Sprintf("%08x-0000-7000-8000-%012x", i, i)
				return event(id, eventdesk.TicketCreated{Title: fmt.Sprintf("Ticket number %d about something", i),
					Description: "The thing does not work as it should. Please help.", Priority: eventdesk.PriorityNormal,
					Requester: fmt.Sprintf("user%05d", i%10000), Tags: tags[:i%3], Assignee: fmt.Sprintf("agent%02d", i%50)})
			}
			const seed = 20_000
			for i := 0; i < seed; i += 1000 {
				var batch []eventdesk.Event
				for j := i; j < i+1000; j++ {
					batch = append(batch, created(j))
				}
				if err := rm.Project(ctx, projection.TicketsName, pos, func(tx eventdesk.ProjectionTx) error {
					return p.ApplyAll(ctx, tx, batch)
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; kind == "created-batch32" && b.Loop(); i++ {
				batch := make([]eventdesk.Event, 32)
				for j := range batch {
					batch[j] = created(seed + 32*i + j)
				}
				if err := rm.Project(ctx, projection.TicketsName, pos, func(tx eventdesk.ProjectionTx) error {
					return p.ApplyAll(ctx, tx, batch)
				}); err != nil {
					b.Fatal(err)
				}
			}
			if kind == "created-batch32" {
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(32*b.N), "cpu-µs/event")
				return
			}
			for i := 0; b.Loop(); i++ {
				var e eventdesk.Event
				id := fmt.Sprintf("%08x-0000-7000-8000-%012x", i%seed, i%seed)
				switch pass := i / seed; kind {
				case "created":
					e = created(seed + i)
				case "commented":
					e = event(id, eventdesk.TicketCommented{CommentID: fmt.Sprintf("c%d", i), Author: "agent01", Body: "Thanks, we are looking into it."})
				default:
					from, to := eventdesk.StatusPending, eventdesk.StatusOpen
					switch {
					case pass == 0:
						from = eventdesk.StatusNew
					case pass%2 == 1:
						from, to = eventdesk.StatusOpen, eventdesk.StatusPending
					}
					e = event(id, eventdesk.StatusChanged{From: from, To: to})
				}
				if err := rm.Project(ctx, projection.TicketsName, e.Position, func(tx eventdesk.ProjectionTx) error {
					return p.Apply(ctx, tx, e)
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
		})
	}
}
