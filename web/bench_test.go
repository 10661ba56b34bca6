package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/web"
)

// benchTickets is the size of the read model the list page is measured
// against.
const benchTickets = 100_000

// benchUI seeds the SQLite ticket read model with n tickets directly
// through the ticket projection (no HTTP, no event store writes) and
// returns the UI over it and a session cookie for each role.
func benchUI(b *testing.B, n int) (*web.Server, map[eventdesk.Role]*http.Cookie) {
	b.Helper()
	quiet := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(b.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	var pos int64
	batch := make([]eventdesk.Event, 0, 2000)
	flush := func() {
		if err := rm.Project(ctx, projection.TicketsName, pos, func(tx eventdesk.ProjectionTx) error {
			return projection.Tickets{}.ApplyAll(ctx, tx, batch)
		}); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	event := func(id string, version int64, p eventdesk.Payload, at time.Time, actor string) eventdesk.Event {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			b.Fatal(err)
		}
		pos++
		return eventdesk.Event{ID: fmt.Sprintf("%08x-0000-7000-8000-%012x", pos, pos), Stream: eventdesk.TicketStream(id),
			Version: version, Position: pos, Type: typ, Schema: schema, Data: data, RecordedAt: at, Metadata: eventdesk.Metadata{Actor: actor}}
	}
	for i := range n {
		id := fmt.Sprintf("%08x-0000-7000-8000-%012x", i, i)
		at := start.Add(time.Duration(i) * 30 * time.Second)
		requester := fmt.Sprintf("user%04d", rng.IntN(5000))
		if i%1000 == 7 {
			requester = "rita" // rita has 100 tickets
		}
		tags, _ := eventdesk.NormalizeTags([]string{fmt.Sprintf("tag%02d", rng.IntN(30))})
		batch = append(batch, event(id, 1, eventdesk.TicketCreated{
			Title: fmt.Sprintf("Ticket %d: the printer on floor %d jams", i, rng.IntN(9)), Description: "It jams.",
			Priority: eventdesk.Priorities[rng.IntN(4)], Requester: requester, Tags: tags,
		}, at, requester))
		if rng.IntN(3) > 0 {
			batch = append(batch, event(id, 2, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen}, at.Add(time.Minute), "bob"))
		}
		if len(batch) >= 1000 {
			flush()
		}
	}
	flush()
	a, err := app.New(app.Config{Store: db, Reader: rm, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	key := make([]byte, 32)
	sessions, err := auth.NewSessions(key, 0)
	if err != nil {
		b.Fatal(err)
	}
	ws, err := web.NewServer(web.Config{App: a, Sessions: sessions, Key: key, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	cookies := map[eventdesk.Role]*http.Cookie{}
	for r, name := range map[eventdesk.Role]string{eventdesk.RoleAgent: "bob", eventdesk.RoleRequester: "rita"} {
		cookies[r] = &http.Cookie{Name: auth.CookieName, Value: sessions.Encode(eventdesk.Actor{Name: name, Role: r})}
	}
	return ws, cookies
}

// cpuTime returns the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTicketListPage renders the ticket list (50 rows, the status
// counts, the filter form) through the whole handler, middleware included,
// at 100,000 tickets.
func BenchmarkTicketListPage(b *testing.B) {
	ws, cookies := benchUI(b, benchTickets)
	for _, c := range []struct {
		name string
		role eventdesk.Role
		path string
	}{
		{"agent/newest", eventdesk.RoleAgent, "/tickets"},
		{"agent/open-by-update", eventdesk.RoleAgent, "/tickets?status=open&sort=-updated"},
		{"agent/tag-urgent-first", eventdesk.RoleAgent, "/tickets?tag=tag07&sort=-priority"},
		{"requester/own", eventdesk.RoleRequester, "/tickets"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", c.path, nil)
			req.AddCookie(cookies[c.role])
			rec := httptest.NewRecorder()
			ws.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
			// A page of 50 tickets, as the goal says, not an empty one.
			if n := strings.Count(rec.Body.String(), "<tr data-id="); n != eventdesk.DefaultListLimit {
				b.Fatalf("%s shows %d tickets, want %d", c.path, n, eventdesk.DefaultListLimit)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				rec := httptest.NewRecorder()
				ws.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
			// CPU time per page too: on a shared machine wall time
			// includes waiting for a core.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
