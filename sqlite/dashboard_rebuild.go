package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// An offline rebuild (RebuildReadModels) rebuilds the dashboard in the same
// pass as the ticket read models: the ticket projection folds every ticket
// with eventdesk.Evolve anyway, and the dashboard's counters follow from
// each ticket before and after an event (projection.DashboardCounts), so
// the dashboard costs no second read or fold of the log. Its file is built
// beside the old one, dashboard.db.rebuild, and swapped in after the
// ticket read models' file, blue/green like it: a crash leaves either the
// old dashboard (consistent with its own checkpoint, caught up live by
// serve) or the complete new one.
//
// The counters are summed in memory (a few per day of history) and written
// once at the end with the checkpoint; the slim ticket rows of each batch
// are written by a goroutine of their own on the dashboard file's own
// connection, alongside the ticket read models' writes.

// dashRebuildFile is the name of the dashboard file under construction.
const dashRebuildFile = DashboardFile + ".rebuild"

// dashRebuild builds a new dashboard file from the folds of a rebuild.
type dashRebuild struct {
	path string
	db   *sql.DB
	conn *sql.Conn

	// Owned by the folding goroutine.
	counters map[string]int64
	rows     map[string]eventdesk.Ticket // slim rows changed in the current batch

	work chan map[string]eventdesk.Ticket // batches for the row writer
	errc chan error                       // the row writer's result
	done bool                             // swapped in
}

func newDashRebuild(dir string) (*dashRebuild, error) {
	path := filepath.Join(dir, dashRebuildFile)
	if err := removeDBFiles(path); err != nil {
		return nil, fmt.Errorf("sqlite: rebuild dashboard: %w", err)
	}
	ctx := context.Background()
	db, err := sql.Open("sqlite", rmBulkDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: rebuild dashboard: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	d := &dashRebuild{path: path, db: db, counters: map[string]int64{}, rows: map[string]eventdesk.Ticket{}}
	if d.conn, err = db.Conn(ctx); err != nil {
		d.discard()
		return nil, fmt.Errorf("sqlite: rebuild dashboard: %w", err)
	}
	if _, err := migrate(ctx, d.conn, path, dashboardSchema, nil); err != nil {
		d.discard()
		return nil, err
	}
	if _, err := d.conn.ExecContext(ctx, rebuildCachePragma); err != nil {
		d.discard()
		return nil, fmt.Errorf("sqlite: rebuild dashboard: %w", err)
	}
	one, err := d.conn.PrepareContext(ctx, dashUpsert(1))
	if err != nil {
		d.discard()
		return nil, fmt.Errorf("sqlite: rebuild dashboard: %w", err)
	}
	many, err := d.conn.PrepareContext(ctx, dashUpsert(dashRowsPerInsert))
	if err != nil {
		one.Close()
		d.discard()
		return nil, fmt.Errorf("sqlite: rebuild dashboard: %w", err)
	}
	d.work, d.errc = make(chan map[string]eventdesk.Ticket, 2), make(chan error, 1)
	go d.writeRows(one, many)
	return d, nil
}

// dashRowsPerInsert is how many slim rows one statement writes: the cost
// of a statement call is paid once per many rows.
const dashRowsPerInsert = 64

// dashUpsert returns the statement that writes n slim rows (ids distinct).
func dashUpsert(n int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO dash_tickets (id, version, position, status, requester, created_at, first_response_at, resolved_at) VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
	}
	q.WriteString(` ON CONFLICT (id) DO UPDATE SET version = excluded.version, position = excluded.position, status = excluded.status,
		requester = excluded.requester, created_at = excluded.created_at,
		first_response_at = excluded.first_response_at, resolved_at = excluded.resolved_at`)
	return q.String()
}

// writeRows writes each batch of slim rows in one transaction. After an
// error it only drains, so that the folding side never blocks; the error
// is reported by finish.
func (d *dashRebuild) writeRows(one, many *sql.Stmt) {
	ctx := context.Background()
	var ferr error
	var ids []string
	args := make([]any, 0, 8*dashRowsPerInsert)
	for rows := range d.work {
		if ferr != nil {
			continue
		}
		ids = ids[:0]
		for id := range rows {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		_, ferr = d.conn.ExecContext(ctx, "BEGIN")
		for len(ids) > 0 && ferr == nil {
			st, n := one, 1
			if len(ids) >= dashRowsPerInsert {
				st, n = many, dashRowsPerInsert
			}
			args = args[:0]
			for _, id := range ids[:n] {
				t := rows[id]
				args = append(args, id, t.Version, t.Position, string(t.Status), t.Requester,
					micros(t.CreatedAt), micros(t.FirstResponseAt), micros(t.ResolvedAt))
			}
			_, ferr = st.ExecContext(ctx, args...)
			ids = ids[n:]
		}
		if ferr == nil {
			_, ferr = d.conn.ExecContext(ctx, "COMMIT")
		} else {
			_, _ = d.conn.ExecContext(ctx, "ROLLBACK")
		}
	}
	one.Close()
	many.Close()
	d.errc <- ferr
}

// observe records what the ticket projection's saving of t (folded from
// old by e) changes on the dashboard.
func (d *dashRebuild) observe(old, t eventdesk.Ticket, e *eventdesk.Event) error {
	if err := projection.DashboardCounts(old, t, *e, d.add); err != nil {
		return err
	}
	d.rows[t.ID] = projection.Slim(t)
	return nil
}

func (d *dashRebuild) add(name string, n int64) { d.counters[name] += n }

// flush hands the rows of the batch just committed to the row writer.
func (d *dashRebuild) flush() {
	if len(d.rows) == 0 {
		return
	}
	d.work <- d.rows
	d.rows = make(map[string]eventdesk.Ticket, len(d.rows))
}

// finish waits for the row writer, writes the counters and the checkpoint
// at position, and makes the file a complete, synced WAL database.
func (d *dashRebuild) finish(position int64) error {
	d.flush()
	close(d.work)
	err := <-d.errc
	d.work = nil
	if err != nil {
		return fmt.Errorf("sqlite: rebuild dashboard: %w", err)
	}
	ctx := context.Background()
	names := make([]string, 0, len(d.counters))
	for name, v := range d.counters {
		if v != 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	err = func() error {
		if _, err := d.conn.ExecContext(ctx, "BEGIN"); err != nil {
			return err
		}
		ins, err := d.conn.PrepareContext(ctx, "INSERT INTO dash_counters (name, value) VALUES (?, ?)")
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, name := range names {
			if _, err := ins.ExecContext(ctx, name, d.counters[name]); err != nil {
				return fmt.Errorf("counter %s: %w", name, err)
			}
		}
		if _, err := d.conn.ExecContext(ctx, "INSERT INTO projection_checkpoints (name, position, updated_at) VALUES (?, ?, ?)",
			projection.DashboardName, position, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		_, err = d.conn.ExecContext(ctx, "COMMIT")
		return err
	}()
	if err != nil {
		_, _ = d.conn.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("sqlite: rebuild dashboard: %w", err)
	}
	for _, stmt := range []string{"PRAGMA journal_mode = DELETE", "PRAGMA locking_mode = NORMAL", "PRAGMA synchronous = FULL", "PRAGMA journal_mode = WAL"} {
		if _, err := d.conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: rebuild dashboard: %s: %w", stmt, err)
		}
	}
	err = d.close()
	if err != nil {
		return fmt.Errorf("sqlite: rebuild dashboard: close: %w", err)
	}
	if err := syncFile(d.path); err != nil {
		return fmt.Errorf("sqlite: rebuild dashboard: %w", err)
	}
	return nil
}

// swapInto renames the finished file over <dir>/dashboard.db, first
// folding in (or dropping) a WAL the old file may have left.
func (d *dashRebuild) swapInto(dir string) error {
	target := filepath.Join(dir, DashboardFile)
	if err := settleOldFile(target); err != nil {
		return err
	}
	if err := os.Rename(d.path, target); err != nil {
		return fmt.Errorf("sqlite: rebuild dashboard: swap: %w", err)
	}
	d.done = true
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(target + suffix); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("sqlite: rebuild dashboard: swap: %w", err)
		}
	}
	return syncDir(dir)
}

func (d *dashRebuild) close() error {
	var err error
	if d.conn != nil {
		err = d.conn.Close()
		d.conn = nil
	}
	if d.db != nil {
		if cerr := d.db.Close(); err == nil {
			err = cerr
		}
		d.db = nil
	}
	return err
}

// discard drops an unfinished build.
func (d *dashRebuild) discard() {
	if d.work != nil {
		close(d.work)
		<-d.errc
		d.work = nil
	}
	_ = d.close()
	if !d.done {
		_ = removeDBFiles(d.path)
	}
}

// dashTap is the ticket projection's transaction during an offline
// rebuild: it passes everything through and shows the dashboard each
// ticket before and after the current event.
type dashTap struct {
	eventdesk.ProjectionTx
	d   *dashRebuild
	e   *eventdesk.Event
	old eventdesk.Ticket
}

// Ticket implements eventdesk.ProjectionTx, remembering the ticket as it
// was before the event.
func (t *dashTap) Ticket(ctx context.Context, id string) (eventdesk.Ticket, bool, error) {
	tk, found, err := t.ProjectionTx.Ticket(ctx, id)
	if found {
		t.old = tk
	} else {
		t.old = eventdesk.Ticket{}
	}
	return tk, found, err
}

// SaveTicket implements eventdesk.ProjectionTx.
func (t *dashTap) SaveTicket(ctx context.Context, tk eventdesk.Ticket) error {
	if err := t.ProjectionTx.SaveTicket(ctx, tk); err != nil {
		return err
	}
	return t.d.observe(t.old, tk, t.e)
}
