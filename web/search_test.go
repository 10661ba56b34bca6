package web_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/subscription"
	"github.com/eventdesk/eventdesk/web"
)

// TestSearchOnPostgres: on a read model that searches (PostgreSQL), the
// list's search box finds tickets by the words of their title or
// description, together with the other filters, and keeps the words in
// the box and in the next links.
func TestSearchOnPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	db, err := postgres.Open(ctx, dsn, postgres.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rm := db.ReadModels()
	a, err := app.New(app.Config{Store: db, Reader: rm, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runner := subscription.NewRunner(db, db.Subscribers(), subscription.Options{Logger: quiet})
	if err := runner.AddProjection(subscription.Projection{Name: projection.TicketsName, Store: rm, Projector: projection.Tickets{}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := runner.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("subscription runner: %v", err)
		}
	})
	key := make([]byte, 32)
	sessions, err := auth.NewSessions(key, 0)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := web.NewServer(web.Config{App: a, Sessions: sessions, Key: key, DemoLogin: true, Search: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		wg.Wait()
		db.Close()
	})
	agent := as("alice", eventdesk.RoleAgent)
	var last int64
	for _, tk := range []struct{ title, desc, prio string }{
		{"Printer jams", "Floor 3", "high"},
		{"VPN drops", "Since the printer update", "low"},
		{"Mouse broken", "Left button", "high"},
	} {
		res, err := a.CreateTicket.Handle(agent, app.CreateTicket{Title: tk.title, Description: tk.desc, Priority: eventdesk.Priority(tk.prio)})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	if _, err := a.Tickets.Handle(agent, app.ListTickets{MinPosition: last}); err != nil {
		t.Fatal(err)
	}
	e := &env{URL: srv.URL, App: a}
	c := e.client(t).signin("alice", eventdesk.RoleAgent)
	p := c.list("/tickets?q=printer&sort=created")
	mustContain(t, p.Body, `<input id="f-q" name="q" type="search" value="printer"`)
	if !slices.Equal(p.Titles, []string{"Printer jams", "VPN drops"}) {
		t.Errorf("search for printer: %q", p.Titles)
	}
	if p = c.list("/tickets?q=printer&priority=high"); !slices.Equal(p.Titles, []string{"Printer jams"}) {
		t.Errorf("search for printer among high priority: %q", p.Titles)
	}
	if q := mustQuery(t, p.TabURLs["Open"]); q.Get("q") != "printer" {
		t.Errorf("a status tab drops the search: %v", q)
	}
	if p = c.list("/tickets?q=keyboard"); len(p.Titles) != 0 {
		t.Errorf("search for keyboard: %q", p.Titles)
	}
	mustContain(t, p.Body, "No tickets match these filters.")
}
