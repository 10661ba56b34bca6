package sqlite

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
)

// TestReadModelsPublicCommentCountMigration: tickets written before the
// read model kept publicCommentCount (schema 1) get it from their stored
// comments, so that a requester's list never counts internal notes.
func TestReadModelsPublicCommentCountMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := openAtFirstMigration(t, filepath.Join(dir, ReadModelsFile), readModelsSchema)
	const (
		noted = "0195a000-0000-7000-8000-00000000000a"
		quiet = "0195a000-0000-7000-8000-00000000000b"
	)
	insert := `INSERT INTO tickets (id, status, priority, prio_rank, assignee, requester, created_at, updated_at, version, position, doc, comments)
		VALUES (?, 'open', 'normal', 1, '', 'rita', 1, 1, 4, 4, ?, ?)`
	rows := []struct {
		id, doc  string
		comments any
	}{
		{noted, `{"id":"` + noted + `","requester":"rita","status":"open","priority":"normal","tags":[],"version":4,"commentCount":3}`,
			[]byte(`[{"id":"c1","author":"rita","body":"?","internal":false},{"id":"c2","author":"alice","body":"rita again","internal":true},{"id":"c3","author":"alice","body":"ok","internal":false}]`)},
		{quiet, `{"id":"` + quiet + `","requester":"rita","status":"open","priority":"normal","tags":[],"version":1,"commentCount":0}`, nil},
	}
	for _, row := range rows {
		if _, err := w.ExecContext(ctx, insert, row.id, []byte(row.doc), row.comments); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()

	var logged bytes.Buffer
	m, err := OpenReadModels(dir, ReadModelsOptions{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// An upgrade of a file with data is announced before it runs (it may
	// rebuild indices for minutes), then reported.
	if before, after, ok := strings.Cut(logged.String(), "sqlite: migrating"); !ok || !strings.Contains(before+after, "from=1") || !strings.Contains(after, "sqlite: migrated") {
		t.Errorf("the upgrade was not announced before it ran:\n%s", logged.String())
	}
	want := map[string][2]int{noted: {3, 2}, quiet: {0, 0}}
	for id, n := range want {
		got, err := m.Ticket(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.CommentCount != n[0] || got.PublicCommentCount != n[1] {
			t.Errorf("ticket %s after the migration: commentCount %d, publicCommentCount %d; want %d, %d", id, got.CommentCount, got.PublicCommentCount, n[0], n[1])
		}
	}
	page, err := m.Tickets(ctx, eventdesk.TicketFilter{Requester: "rita"})
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("Tickets = %d items, %v; want 2", len(page.Items), err)
	}
	for _, got := range page.Items {
		if n := want[got.ID]; got.PublicCommentCount != n[1] {
			t.Errorf("list item %s: publicCommentCount %d, want %d", got.ID, got.PublicCommentCount, n[1])
		}
	}
}
