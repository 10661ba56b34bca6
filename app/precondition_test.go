package app_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/sqlite"
)

// racingStore records a sentiment score on a ticket just before the next
// person's append reaches the store, as the sentiment subscriber may do
// between a command's read and its write.
type racingStore struct {
	eventdesk.EventStore
	score  atomic.Pointer[func()]
	scored atomic.Int32
}

func (s *racingStore) Append(ctx context.Context, stream string, expected eventdesk.ExpectedVersion, events ...eventdesk.EventData) (eventdesk.AppendResult, error) {
	if f := s.score.Swap(nil); f != nil {
		(*f)()
		s.scored.Add(1)
	}
	return s.EventStore.Append(ctx, stream, expected, events...)
}

// TestPreconditionHoldsWhenAScoreRacesTheWrite: a score appended between
// a command's read and its append only annotates the ticket, so an
// If-Match precondition that held at the read still holds; a real change
// in between still fails it.
func TestPreconditionHoldsWhenAScoreRacesTheWrite(t *testing.T) {
	db, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := &racingStore{EventStore: db}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	a, err := app.New(app.Config{Store: store, Reader: rm, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rita := as("rita", eventdesk.RoleRequester)
	agnes := as("agnes", eventdesk.RoleAgent)
	policy := eventdesk.NewContextWithActor(context.Background(), eventdesk.PolicyActor("sentiment"))

	created, err := a.CreateTicket.Handle(rita, app.CreateTicket{Title: "VPN drops", Description: "every hour"})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Ticket.ID
	sources, err := db.ReadStream(context.Background(), eventdesk.TicketStream(id), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	scoreBeforeNextAppend := func(source string) {
		f := func() {
			if _, err := a.Automation().RecordSentiment(policy, app.RecordSentiment{TicketID: id, SourceEventID: source, Score: -0.2, Label: "negative"}); err != nil {
				t.Errorf("record sentiment: %v", err)
			}
		}
		store.score.Store(&f)
	}

	seen := created.Ticket.Version
	scoreBeforeNextAppend(sources[0].ID)
	upd, err := a.UpdateTicket.Handle(agnes, app.UpdateTicket{ID: id, ExpectedVersion: seen, Edit: eventdesk.EditTicket{Priority: new(eventdesk.PriorityHigh)}})
	if err != nil {
		t.Fatalf("update with a precondition raced by a score: %v", err)
	}
	if store.scored.Load() != 1 || upd.Ticket.Version != seen+2 {
		t.Fatalf("scored %d times, ticket at version %d, want 1 and %d", store.scored.Load(), upd.Ticket.Version, seen+2)
	}

	seen = upd.Ticket.Version
	evs, err := db.ReadStream(context.Background(), eventdesk.TicketStream(id), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	scoreBeforeNextAppend(evs[len(evs)-1].ID) // the priority change
	c, err := a.AddComment.Handle(rita, app.AddComment{TicketID: id, Body: "still broken", ExpectedVersion: seen})
	if err != nil {
		t.Fatalf("comment with a precondition raced by a score: %v", err)
	}
	if store.scored.Load() != 2 || c.Ticket.Version != seen+2 {
		t.Fatalf("scored %d times, ticket at version %d, want 2 and %d", store.scored.Load(), c.Ticket.Version, seen+2)
	}

	// A person's change in between still fails the precondition, with
	// the current version.
	seen = c.Ticket.Version
	if _, err := a.AddComment.Handle(agnes, app.AddComment{TicketID: id, Body: "looking"}); err != nil {
		t.Fatal(err)
	}
	_, err = a.UpdateTicket.Handle(agnes, app.UpdateTicket{ID: id, ExpectedVersion: seen, Edit: eventdesk.EditTicket{Priority: new(eventdesk.PriorityLow)}})
	if eventdesk.ErrorCode(err) != eventdesk.EPrecondition {
		t.Fatalf("update after another person's change: %v, want %s", err, eventdesk.EPrecondition)
	}
}
