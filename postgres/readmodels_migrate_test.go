package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/projection"
)

// TestPublicCommentCountMigration: tickets projected before the read model
// kept publicCommentCount get it from their stored comments (migration
// 0008), so that a requester's list never counts internal notes.
func TestPublicCommentCountMigration(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	db := open(t, dsn, postgres.Options{})
	const noted, quiet = "0195a000-0000-7000-8000-00000000000a", "0195a000-0000-7000-8000-00000000000b"
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	var events []eventdesk.Event
	add := func(id string, p eventdesk.Payload, actor string) {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		version := int64(1)
		for _, e := range events {
			if e.Stream == eventdesk.TicketStream(id) {
				version++
			}
		}
		events = append(events, eventdesk.Event{
			ID:     fmt.Sprintf("0196a000-0000-7000-8000-%012x", len(events)+1),
			Stream: eventdesk.TicketStream(id), Version: version, Position: int64(len(events) + 1),
			Type: typ, Schema: schema, Data: data, Metadata: eventdesk.Metadata{Actor: actor}, RecordedAt: at.Add(time.Duration(len(events)) * time.Second),
		})
	}
	for _, id := range []string{noted, quiet} {
		add(id, eventdesk.TicketCreated{Title: "Printer", Requester: "rita", Priority: eventdesk.PriorityNormal}, "rita")
	}
	add(noted, eventdesk.TicketCommented{CommentID: "c1", Author: "rita", Body: "Any news?"}, "rita")
	add(noted, eventdesk.TicketCommented{CommentID: "c2", Author: "alice", Body: "rita again", Internal: true}, "alice")
	add(noted, eventdesk.TicketCommented{CommentID: "c3", Author: "alice", Body: "Looking."}, "alice")
	rm := db.ReadModels()
	if err := rm.Project(ctx, projection.TicketsName, events[len(events)-1].Position, func(tx eventdesk.ProjectionTx) error {
		return projection.Tickets{}.ApplyAll(ctx, tx, events)
	}); err != nil {
		t.Fatal(err)
	}
	// Back to the rows as the older binary left them: no publicCommentCount,
	// migration 0008 not applied.
	for _, stmt := range []string{
		"UPDATE rm_tickets SET doc = doc - 'publicCommentCount'",
		"DELETE FROM schema_migrations WHERE version = 8",
	} {
		if err := db.ExecForTest(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	rm = open(t, dsn, postgres.Options{}).ReadModels()
	want := map[string][2]int{noted: {3, 2}, quiet: {0, 0}}
	for id, n := range want {
		got, err := rm.Ticket(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.CommentCount != n[0] || got.PublicCommentCount != n[1] {
			t.Errorf("ticket %s after the migration: commentCount %d, publicCommentCount %d; want %d, %d", id, got.CommentCount, got.PublicCommentCount, n[0], n[1])
		}
	}
	page, err := rm.Tickets(ctx, eventdesk.TicketFilter{Requester: "rita"})
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("Tickets = %d items, %v; want 2", len(page.Items), err)
	}
	for _, got := range page.Items {
		if n := want[got.ID]; got.CommentCount != n[0] || got.PublicCommentCount != n[1] {
			t.Errorf("list item %s: commentCount %d, publicCommentCount %d; want %d, %d", got.ID, got.CommentCount, got.PublicCommentCount, n[0], n[1])
		}
	}
}
