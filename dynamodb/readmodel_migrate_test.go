package dynamodb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/projection"
)

// TestMigrateReadModels: ticket items written before the read model kept
// publicCommentCount get it from their comment items, once.
func TestMigrateReadModels(t *testing.T) {
	ctx := context.Background()
	r := newReadModels(t)
	const noted, quiet = "0195a000-0000-7000-8000-00000000000a", "0195a000-0000-7000-8000-00000000000b"
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	var events []eventdesk.Event
	versions := map[string]int64{}
	add := func(id string, p eventdesk.Payload, actor string) {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		versions[id]++
		events = append(events, eventdesk.Event{
			ID: fmt.Sprintf("0196a000-0000-7000-8000-%012x", len(events)+1), Stream: eventdesk.TicketStream(id),
			Version: versions[id], Type: typ, Schema: schema, Data: data,
			Metadata: eventdesk.Metadata{Actor: actor}, RecordedAt: at.Add(time.Duration(len(events)) * time.Second),
		})
	}
	for _, id := range []string{noted, quiet} {
		add(id, eventdesk.TicketCreated{Title: "Printer", Requester: "rita", Priority: eventdesk.PriorityNormal}, "rita")
	}
	add(noted, eventdesk.TicketCommented{CommentID: "c1", Author: "rita", Body: "Any news?"}, "rita")
	add(noted, eventdesk.TicketCommented{CommentID: "c2", Author: "alice", Body: "rita again", Internal: true}, "alice")
	add(noted, eventdesk.TicketCommented{CommentID: "c3", Author: "alice", Body: "Looking."}, "alice")
	if err := r.Project(ctx, projection.TicketsName, 0, func(tx eventdesk.ProjectionTx) error {
		return projection.Tickets{}.ApplyAll(ctx, tx, events)
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{noted, quiet} {
		if err := r.DropPublicCommentCountForTest(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := r.Ticket(ctx, noted); err != nil || got.PublicCommentCount != 0 {
		t.Fatalf("before the migration: publicCommentCount %d, %v; want 0 (the field dropped)", got.PublicCommentCount, err)
	}

	if v, err := r.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("schema version of an old table = %d, %v; want 0", v, err)
	}
	// What the projector runs at its first invocation after an upgrade.
	if n, err := r.Upgrade(ctx); err != nil || n != 2 {
		t.Fatalf("Upgrade = %d, %v; want 2 tickets rewritten", n, err)
	}
	if v, err := r.SchemaVersion(ctx); err != nil || v != dynamodb.ReadModelSchema {
		t.Fatalf("schema version after the upgrade = %d, %v; want %d", v, err, dynamodb.ReadModelSchema)
	}
	// Recorded: a second upgrade is one read and migrates nothing, even an
	// item that lacks the field (which only a bug could write now).
	if err := r.DropPublicCommentCountForTest(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Upgrade(ctx); err != nil || n != 0 {
		t.Fatalf("Upgrade again = %d, %v; want 0", n, err)
	}
	if n, err := r.MigrateReadModels(ctx); err != nil || n != 1 {
		t.Fatalf("MigrateReadModels = %d, %v; want the one item dropped again", n, err)
	}
	if n, err := r.MigrateReadModels(ctx); err != nil || n != 0 {
		t.Fatalf("MigrateReadModels again = %d, %v; want 0", n, err)
	}
	want := map[string][2]int{noted: {3, 2}, quiet: {0, 0}}
	page, err := r.Tickets(ctx, eventdesk.TicketFilter{Requester: "rita"})
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("Tickets = %d items, %v; want 2", len(page.Items), err)
	}
	for _, got := range page.Items {
		if n := want[got.ID]; got.CommentCount != n[0] || got.PublicCommentCount != n[1] || got.Title != "Printer" {
			t.Errorf("list item %s: %q, commentCount %d, publicCommentCount %d; want %d, %d", got.ID, got.Title, got.CommentCount, got.PublicCommentCount, n[0], n[1])
		}
	}
}
