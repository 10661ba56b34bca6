package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sqlite"
)

// TestProjectionUpdatesIndexedColumns: the projection updates a stored
// ticket row setting only the indexed columns that changed, so after every
// kind of change, one event per transaction, the columns and the tag rows
// (with their sort-key copies) must still equal the ticket, whether the
// row came from the writer's cache or was read back from the file.
func TestProjectionUpdatesIndexedColumns(t *testing.T) {
	for _, cache := range []int{0, -1} {
		t.Run(fmt.Sprintf("cache=%d", cache), func(t *testing.T) {
			ctx := rmCtx(t)
			dir := t.TempDir()
			rm, err := sqlite.OpenReadModels(dir, sqlite.ReadModelsOptions{CacheSize: cache})
			if err != nil {
				t.Fatal(err)
			}
			defer rm.Close()
			ro, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.ReadModelsFile)+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			const id = "01950000-0000-7000-8000-000000000001"
			at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			payloads := []eventdesk.Payload{
				eventdesk.TicketCreated{Title: "Printer", Requester: "rita", Priority: eventdesk.PriorityNormal, Tags: []string{"a", "b"}, Assignee: "alice"},
				eventdesk.PriorityChanged{From: eventdesk.PriorityNormal, To: eventdesk.PriorityUrgent},
				eventdesk.TicketAssigned{Assignee: "bob", Previous: "alice"},
				eventdesk.TicketUnassigned{Previous: "bob"},
				eventdesk.TagsChanged{Added: []string{"c"}, Removed: []string{"a"}},
				eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen},
				eventdesk.TicketCommented{CommentID: "c1", Author: "alice", Body: "On it."},
				eventdesk.TitleChanged{From: "Printer", To: "Printer on fire"},
				eventdesk.TagsChanged{Removed: []string{"b", "c"}},
				eventdesk.PriorityChanged{From: eventdesk.PriorityUrgent, To: eventdesk.PriorityLow},
				eventdesk.StatusChanged{From: eventdesk.StatusOpen, To: eventdesk.StatusResolved},
			}
			for i, p := range payloads {
				typ, schema, data, err := eventdesk.Encode(p)
				if err != nil {
					t.Fatal(err)
				}
				at = at.Add(time.Minute)
				e := eventdesk.Event{ID: fmt.Sprintf("01950000-0000-7000-8000-%012x", 100+i), Stream: eventdesk.TicketStream(id),
					Version: int64(i + 1), Position: int64(i + 1), Type: typ, Schema: schema, Data: data,
					Metadata: eventdesk.Metadata{Actor: "alice"}, RecordedAt: eventdesk.NormalizeTime(at)}
				if err := rm.Project(ctx, projection.TicketsName, e.Position, func(tx eventdesk.ProjectionTx) error {
					return projection.Tickets{}.Apply(ctx, tx, e)
				}); err != nil {
					t.Fatal(err)
				}
				want, err := rm.Ticket(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				var (
					status, priority, assignee, requester string
					rank                                  int
					created, updated, version             int64
				)
				if err := ro.QueryRowContext(ctx, "SELECT status, priority, prio_rank, assignee, requester, created_at, updated_at, version FROM tickets WHERE id = ?", id).
					Scan(&status, &priority, &rank, &assignee, &requester, &created, &updated, &version); err != nil {
					t.Fatal(err)
				}
				if status != string(want.Status) || priority != string(want.Priority) || rank != want.Priority.Rank() || assignee != want.Assignee ||
					requester != want.Requester || created != want.CreatedAt.UnixMicro() || updated != want.UpdatedAt.UnixMicro() || version != want.Version {
					t.Fatalf("after %T: columns %s %s %d %q %q %d %d %d, ticket %+v", p, status, priority, rank, assignee, requester, created, updated, version, want)
				}
				rows, err := ro.QueryContext(ctx, "SELECT tag, created_at, updated_at, prio_rank FROM ticket_tags WHERE id = ? ORDER BY tag", id)
				if err != nil {
					t.Fatal(err)
				}
				var tags []string
				for rows.Next() {
					var tag string
					var c, u int64
					var r int
					if err := rows.Scan(&tag, &c, &u, &r); err != nil {
						t.Fatal(err)
					}
					if c != created || u != updated || r != rank {
						t.Errorf("after %T: tag row %s has keys %d %d %d, ticket %d %d %d", p, tag, c, u, r, created, updated, rank)
					}
					tags = append(tags, tag)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				rows.Close()
				if !slices.Equal(tags, want.Tags) && len(tags)+len(want.Tags) > 0 {
					t.Fatalf("after %T: tag rows %v, ticket tags %v", p, tags, want.Tags)
				}
			}
		})
	}
}
