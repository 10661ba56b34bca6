package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sqlite"
)

// dumpTables returns every row of the named tables of a database file, as
// text, in a stable order, leaving out the columns in skip.
func dumpTables(tb testing.TB, file string, skip map[string]bool, tables ...string) string {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var out strings.Builder
	for _, table := range tables {
		rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1, 2")
		if err != nil {
			tb.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintf(&out, "%s:", table)
			for i, c := range cols {
				if skip[c] {
					continue
				}
				if b, ok := vals[i].([]byte); ok {
					vals[i] = string(b)
				}
				fmt.Fprintf(&out, " %s=%v", c, vals[i])
			}
			out.WriteByte('\n')
			n++
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
		rows.Close()
		if n == 0 {
			tb.Fatalf("%s of %s is empty", table, file)
		}
	}
	return out.String()
}

// TestRebuildEqualsLiveProjection: the offline rebuild (ticket read models
// and, in the same pass, the dashboard) writes exactly the rows that the
// live projections write batch by batch, over a history long enough to
// span several rebuild transactions (made small here, and the tickets kept
// in memory between them few, so that most are read back from the file),
// with sentiment scores, resolutions, first responses, tickets changed
// again many batches later (tags added and removed, new titles) and text
// that encoding/json escapes.
func TestRebuildEqualsLiveProjection(t *testing.T) {
	ctx := rmCtx(t)
	live := t.TempDir()
	db, err := sqlite.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const tickets = 800
	defer sqlite.SetRebuildBatchForTest(256, 1000)()
	defer sqlite.SetRebuildCacheForTest(100)()
	log := benchHistory(tickets)
	if err := db.Import(ctx, log); err != nil {
		t.Fatal(err)
	}
	// Sentiment scores of some tickets, after everything else.
	for i := 0; i < tickets; i += 7 {
		id := fmt.Sprintf("%08x-0000-7000-8000-%012x", i, i)
		p := eventdesk.SentimentScored{SourceEventID: "x", Score: float64(i%21-10) / 10, Label: "neutral"}
		if _, err := db.Append(ctx, eventdesk.TicketStream(id), eventdesk.AnyVersion, rmEvent(t, p, "sentiment")); err != nil {
			t.Fatal(err)
		}
	}
	// Late changes: tags, titles and comments with text that encoding/json
	// escapes or that is not ASCII.
	late := 0
	for i := 0; i < tickets; i += 5 {
		id := fmt.Sprintf("%08x-0000-7000-8000-%012x", i, i)
		var p eventdesk.Payload
		switch i % 4 {
		case 0:
			p = eventdesk.TagsChanged{Added: []string{"late", "x<y&z"}, Removed: []string{"tag01", "tag02", "tag03"}}
		case 1:
			p = eventdesk.TitleChanged{From: "?", To: fmt.Sprintf("Ärger mit \"Rechnung\" <%d> \u2028 über €", i)}
		case 2:
			p = eventdesk.TicketCommented{CommentID: fmt.Sprintf("late%d", i), Author: "agent07", Body: "<b>tab\there</b>\n\x7f é", Internal: i%3 == 0}
		default:
			p = eventdesk.TagsChanged{Removed: []string{"tag04", "tag05", "tag06", "tag07", "tag08", "tag09", "tag10"}}
		}
		if _, err := db.Append(ctx, eventdesk.TicketStream(id), eventdesk.AnyVersion, rmEvent(t, p, "agent07")); err != nil {
			t.Fatal(err)
		}
		late++
	}

	rm, err := sqlite.OpenReadModels(live, sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dash, err := sqlite.OpenDashboard(live, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		store eventdesk.ProjectionStore
		name  string
		apply func(eventdesk.ProjectionTx, []eventdesk.Event) error
	}{
		{rm, projection.TicketsName, func(tx eventdesk.ProjectionTx, evs []eventdesk.Event) error {
			return projection.Tickets{}.ApplyAll(ctx, tx, evs)
		}},
		{dash, projection.DashboardName, func(tx eventdesk.ProjectionTx, evs []eventdesk.Event) error {
			return projection.Dashboard{}.ApplyAll(ctx, tx, evs)
		}},
	} {
		for pos := int64(0); ; {
			evs, err := db.ReadAll(ctx, pos, 500)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			pos = evs[len(evs)-1].Position
			if err := p.store.Project(ctx, p.name, pos, func(tx eventdesk.ProjectionTx) error { return p.apply(tx, evs) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rm.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dash.Close(); err != nil {
		t.Fatal(err)
	}

	rebuilt := t.TempDir()
	if err := sqlite.RebuildReadModels(ctx, rebuilt, db, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file   string
		tables []string
	}{
		{sqlite.ReadModelsFile, []string{"tickets", "ticket_tags", "counters", "projection_checkpoints"}},
		{sqlite.DashboardFile, []string{"dash_tickets", "dash_counters", "projection_checkpoints"}},
	} {
		skip := map[string]bool{"rid": true}
		// The checkpoints' updated_at is the wall clock of the write.
		want := dumpTables(t, filepath.Join(live, c.file), skip, c.tables...)
		got := dumpTables(t, filepath.Join(rebuilt, c.file), skip, c.tables...)
		want = dropCheckpointTimes(want)
		got = dropCheckpointTimes(got)
		if got != want {
			gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
			for i := range min(len(gl), len(wl)) {
				if gl[i] != wl[i] {
					t.Fatalf("%s differs (%d rows rebuilt, %d live); first difference:\nrebuilt: %s\nlive:    %s", c.file, len(gl), len(wl), gl[i], wl[i])
				}
			}
			t.Fatalf("%s differs: %d rows rebuilt, %d live", c.file, len(gl), len(wl))
		}
	}
	// The rebuilt dashboard opens and answers like any other.
	d, err := sqlite.OpenDashboard(rebuilt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pos, _, err := d.Checkpoint(ctx, projection.DashboardName); err != nil || pos != int64(len(log))+(tickets+6)/7+int64(late) {
		t.Errorf("dashboard checkpoint %d, %v; want the head", pos, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// dropCheckpointTimes removes the updated_at of projection_checkpoints
// rows, which is when the row was written, not what was projected, and
// counters at 0, which read as absent ones (live, a counter that went up
// in one batch and down in another stays as a row at 0).
func dropCheckpointTimes(dump string) string {
	lines := strings.Split(dump, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "projection_checkpoints:") {
			if j := strings.Index(l, " updated_at="); j >= 0 {
				l = l[:j]
			}
		}
		if strings.Contains(l, "counters: ") && strings.HasSuffix(l, " value=0") {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n")
}

// TestRebuildReplacesTheDashboard: a rebuild swaps a complete dashboard in
// over one that is behind (or unreadable), and a leftover of an
// interrupted rebuild is started afresh, never swapped in.
func TestRebuildReplacesTheDashboard(t *testing.T) {
	for _, old := range []string{"behind", "unreadable"} {
		t.Run(old, func(t *testing.T) {
			ctx := rmCtx(t)
			dir := t.TempDir()
			db, err := sqlite.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rmHistory(t, db, 30)
			head, _ := db.Head(ctx)
			switch old {
			case "behind":
				d, err := sqlite.OpenDashboard(dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				evs, err := db.ReadAll(ctx, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Project(ctx, projection.DashboardName, evs[len(evs)-1].Position, func(tx eventdesk.ProjectionTx) error {
					return projection.Dashboard{}.ApplyAll(ctx, tx, evs)
				}); err != nil {
					t.Fatal(err)
				}
				if err := d.Close(); err != nil {
					t.Fatal(err)
				}
			case "unreadable":
				if err := os.WriteFile(filepath.Join(dir, sqlite.DashboardFile), []byte(strings.Repeat("not a database ", 300)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// A leftover of a rebuild that was interrupted.
			if err := os.WriteFile(filepath.Join(dir, sqlite.DashboardFile+".rebuild"), []byte("half a file"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := sqlite.RebuildReadModels(ctx, dir, db, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, sqlite.DashboardFile+".rebuild")); !os.IsNotExist(err) {
				t.Errorf("the file under construction is still there: %v", err)
			}
			d, err := sqlite.OpenDashboard(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if pos, _, err := d.Checkpoint(ctx, projection.DashboardName); err != nil || pos != head {
				t.Fatalf("dashboard checkpoint %d, %v; want the head %d", pos, err, head)
			}
			dd, err := d.Dashboard(ctx, time.Now().AddDate(0, 0, -1), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			created := 0
			for _, day := range dd.Days {
				created += day.Created
			}
			if created != 30 {
				t.Errorf("the rebuilt dashboard counts %d tickets created, want 30", created)
			}
		})
	}
}
