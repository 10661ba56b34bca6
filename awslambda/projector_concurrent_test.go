package awslambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/awslambda"
	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

// TestProjectorConcurrentInvocations runs several projector instances at
// once on the same tables, as Lambda does with the projector's
// MaximumConcurrency > 1, each given messages for every stream (some at an
// intermediate version, some at the last, each six times over): the
// projections' writes are conditioned on the ticket's stored version, so a
// transaction that loses a race is run again on fresh reads (package
// dynamodb's Project) or fails its messages, which come back (the test
// redelivers them as SQS would) and find the work done. In the end every
// ticket is at its last version with its comments, and the stats and
// dashboard counters count each event exactly once — no double count from
// two instances applying the same event.
func TestProjectorConcurrentInvocations(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.Open(localAWS(), testenv.DynamoDB(t))
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	evTable, readTable := "conc-events-"+suffix, "conc-read-"+suffix
	if err := db.CreateEventsTable(ctx, evTable); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateReadTable(ctx, readTable); err != nil {
		t.Fatal(err)
	}
	store := db.EventStore(evTable, dynamodb.EventStoreOptions{})
	rm := db.ReadModels(readTable)
	a, err := app.New(app.Config{Store: store, Reader: rm})
	if err != nil {
		t.Fatal(err)
	}
	actx := eventdesk.NewContextWithActor(ctx, eventdesk.Actor{Name: "alice", Role: eventdesk.RoleAdmin})

	// Four tickets of five events each: created, three comments, opened.
	const tickets, comments = 4, 3
	open := eventdesk.StatusOpen
	var streams []string
	var messages []events.SQSMessage
	for i := range tickets {
		res, err := a.CreateTicket.Handle(actx, app.CreateTicket{Title: fmt.Sprintf("ticket %d", i), Description: "Broken."})
		if err != nil {
			t.Fatal(err)
		}
		for c := range comments {
			if _, err := a.AddComment.Handle(actx, app.AddComment{TicketID: res.Ticket.ID, Body: fmt.Sprintf("comment %d", c)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.UpdateTicket.Handle(actx, app.UpdateTicket{ID: res.Ticket.ID, Edit: eventdesk.EditTicket{Status: &open}}); err != nil {
			t.Fatal(err)
		}
		stream := eventdesk.TicketStream(res.Ticket.ID)
		streams = append(streams, stream)
		evs, err := store.ReadStream(ctx, stream, 1, 0)
		if err != nil || len(evs) != comments+2 {
			t.Fatalf("%s: %d events, %v", stream, len(evs), err)
		}
		for _, e := range evs {
			body, err := json.Marshal(awslambda.ToCloudEvent(e, "eventdesk"))
			if err != nil {
				t.Fatal(err)
			}
			messages = append(messages, events.SQSMessage{MessageId: fmt.Sprintf("%s-v%d", stream, e.Version), Body: string(body)})
		}
	}

	// Each instance gets every message, in its own order, in small batches
	// (so that many transactions interleave; the event source mapping sends
	// up to 10), and redelivers what failed until nothing does.
	const instances, batchSize = 6, 2
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, instances)
	for n := range instances {
		p, err := awslambda.NewProjector(db.EventStore(evTable, dynamodb.EventStoreOptions{}), db.ReadModels(readTable), nil)
		if err != nil {
			t.Fatal(err)
		}
		p.WithDashboard(db.Dashboard(readTable))
		wg.Go(func() {
			pending := make([]events.SQSMessage, 0, len(messages))
			for i := range messages {
				pending = append(pending, messages[(i+n*(comments+2)/2)%len(messages)])
			}
			<-start
			for attempt := 0; len(pending) > 0; attempt++ {
				if attempt == 50 {
					errs <- fmt.Errorf("instance %d: %d messages still failing after %d receives", n, len(pending), attempt)
					return
				}
				var failed []events.SQSMessage
				for from := 0; from < len(pending); from += batchSize {
					batch := pending[from:min(from+batchSize, len(pending))]
					res, err := p.Handle(ctx, events.SQSEvent{Records: batch})
					if err != nil {
						errs <- fmt.Errorf("instance %d: %w", n, err)
						return
					}
					for _, f := range res.BatchItemFailures {
						for _, m := range batch {
							if m.MessageId == f.ItemIdentifier {
								failed = append(failed, m)
							}
						}
					}
				}
				pending = failed
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for _, stream := range streams {
		id, _ := eventdesk.TicketIDFromStream(stream)
		tk, err := rm.Ticket(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", stream, err)
		}
		if tk.Version != comments+2 || len(tk.Comments) != comments || tk.Status != eventdesk.StatusOpen {
			t.Errorf("%s: version %d, %d comments, status %s; want %d, %d, open", stream, tk.Version, len(tk.Comments), tk.Status, comments+2, comments)
		}
	}
	stats, err := rm.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Total != tickets || stats.ByStatus[eventdesk.StatusOpen] != tickets || stats.ByStatus[eventdesk.StatusNew] != 0 {
		t.Errorf("stats %+v, want %d tickets, all open", stats, tickets)
	}
	today := eventdesk.Day(time.Now())
	dash, err := db.Dashboard(readTable).Dashboard(ctx, today.AddDate(0, 0, -1), today.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, d := range dash.Days {
		created += d.Created
	}
	if created != tickets || dash.Backlog[eventdesk.StatusOpen] != tickets || dash.Backlog[eventdesk.StatusNew] != 0 {
		t.Errorf("dashboard: %d created, backlog %v; want %d created, all open", created, dash.Backlog, tickets)
	}
}
