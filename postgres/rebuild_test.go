package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/subscription"
	"github.com/google/uuid"
)

// appendTicketEvent appends the next event of ticket id. It reports
// failures with Errorf, so that other goroutines than the test's may call
// it.
func appendTicketEvent(tb testing.TB, db *postgres.DB, id string, p eventdesk.Payload) {
	tb.Helper()
	typ, schema, data, err := eventdesk.Encode(p)
	if err == nil {
		_, err = db.Append(context.Background(), eventdesk.TicketStream(id), eventdesk.AnyVersion,
			eventdesk.EventData{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Schema: schema, Data: data, Metadata: eventdesk.Metadata{Actor: "alice"}})
	}
	if err != nil {
		tb.Errorf("append to ticket %s: %v", id, err)
	}
}

func newTicket(tb testing.TB, db *postgres.DB, i int) string {
	tb.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	appendTicketEvent(tb, db, id, eventdesk.TicketCreated{Title: fmt.Sprintf("Ticket %d", i), Requester: "rita",
		Priority: eventdesk.Priorities[i%4], Tags: []string{"t" + fmt.Sprint(i%3)}})
	return id
}

// TestRebuildWhileRunning rebuilds damaged read models while a live
// projection keeps running and events keep coming: afterwards the read
// models equal a fold of every stream.
func TestRebuildWhileRunning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := open(t, testenv.Postgres(t), postgres.Options{PollInterval: 50 * time.Millisecond})
	rm := db.ReadModels()
	var ids []string
	for i := range 60 {
		ids = append(ids, newTicket(t, db, i))
	}
	runner := subscription.NewRunner(db, db.Subscribers(), subscription.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := runner.AddProjection(subscription.Projection{Name: projection.TicketsName, Store: rm, Projector: projection.Tickets{}}); err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = runner.Run(rctx) })
	defer func() { stop(); wg.Wait() }()
	head, _ := db.Head(ctx)
	if err := rm.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}

	// Damage the live read models.
	if err := db.ExecForTest(ctx, "DELETE FROM rm_tickets WHERE id = $1", ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := db.ExecForTest(ctx, "UPDATE rm_counters SET value = 999"); err != nil {
		t.Fatal(err)
	}

	writer := make(chan struct{})
	go func() {
		defer close(writer)
		for i := range 40 {
			appendTicketEvent(t, db, ids[i], eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen})
			if i%4 == 0 {
				ids = append(ids, newTicket(t, db, 100+i))
			}
		}
	}()
	pos, err := db.RebuildReadModels(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-writer
	head, _ = db.Head(ctx)
	if err := rm.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuilt up to %d while the store went on to %d", pos, head)

	want := eventdesk.Stats{ByStatus: map[eventdesk.Status]int{}, ByPriority: map[eventdesk.Priority]int{}}
	for _, s := range eventdesk.Statuses {
		want.ByStatus[s] = 0
	}
	for _, p := range eventdesk.Priorities {
		want.ByPriority[p] = 0
	}
	for _, id := range ids {
		events, err := db.ReadStream(ctx, eventdesk.TicketStream(id), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		tk, err := eventdesk.Fold(events)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rm.Ticket(ctx, id)
		if err != nil {
			t.Fatalf("ticket %s: %v", id, err)
		}
		if got.Version != tk.Version || got.Status != tk.Status || got.Title != tk.Title {
			t.Errorf("ticket %s: read model %+v, fold %+v", id, got, tk)
		}
		want.Total++
		want.ByStatus[tk.Status]++
		want.ByPriority[tk.Priority]++
	}
	st, err := rm.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Fatalf("stats after rebuild\n got %+v\nwant %+v", st, want)
	}
}
