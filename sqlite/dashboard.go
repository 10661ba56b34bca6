package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// The dashboard read model (projection.Dashboard) lives in a file of its
// own: it has its own checkpoint and lifetime, so it can be deleted and
// rebuilt (from position 0, at the next start) without touching the ticket
// read models, and its writer never waits for theirs.

// DashboardFile is the name of the dashboard's database in a data
// directory.
const DashboardFile = "dashboard.db"

//go:embed migrations/dashboard/*.sql
var dashboardMigrations embed.FS

// dashboardSchema is the dashboard file: application_id "EvDa".
var dashboardSchema = schema{name: "dashboard", appID: 0x45764461, files: mustSub(dashboardMigrations, "migrations/dashboard")}

// DashboardStore is the SQLite dashboard read model: an
// eventdesk.ProjectionStore for projection.Dashboard (its ticket rows are
// slim, see projection.Slim) and an eventdesk.DashboardReader. It is safe
// for concurrent use.
type DashboardStore struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex // serializes Project on the writer connection, and Close
	closed bool
	w      *sql.DB
	conn   *sql.Conn
	r      *sql.DB
	// statements prepared on conn (guarded by mu): a catch-up from
	// position 0 runs a few of them per event
	stmts map[string]*sql.Stmt
	// wb starts writing each commit's WAL frames out (writeback.go).
	wb *walWriteback
}

// stmt returns the statement of query prepared on the writer connection.
// The caller holds s.mu.
func (s *DashboardStore) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// exec runs query as a prepared statement on the writer connection. The
// caller holds s.mu.
func (s *DashboardStore) exec(ctx context.Context, query string, args ...any) error {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

var (
	_ eventdesk.ProjectionStore = (*DashboardStore)(nil)
	_ eventdesk.DashboardReader = (*DashboardStore)(nil)
)

// OpenDashboard opens (creating and migrating if needed) <dir>/dashboard.db
// on its own, without locking the directory: for tools and tests. A server
// opens it through DB.OpenDashboard.
func OpenDashboard(dir string, logger *slog.Logger) (*DashboardStore, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: dashboard: %w", err)
	}
	path := filepath.Join(dir, DashboardFile)
	ctx := context.Background()
	w, r, err := openFile(ctx, path, dashboardSchema, options{logger: logger, readers: 4})
	if err != nil {
		return nil, fmt.Errorf("%w; the dashboard is rebuilt from the event store when %s is deleted", err, path)
	}
	conn, err := w.Conn(ctx)
	if err == nil {
		// Like the ticket read models, a rebuildable file needs no sync
		// per commit: after a crash it is consistent with its checkpoint.
		_, err = conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL")
	}
	var wb *walWriteback
	if err == nil {
		wb, err = openWALWriteback(path)
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &DashboardStore{path: path, log: logger, w: w, conn: conn, r: r, wb: wb}, nil
}

// OpenDashboard opens the dashboard of db's data directory (see the package
// function) and closes it when db closes.
func (db *DB) OpenDashboard() (*DashboardStore, error) {
	s, err := OpenDashboard(db.dir, db.opts.logger)
	if err != nil {
		return nil, err
	}
	db.onClose(s.Close)
	return s, nil
}

// Close releases the database; it is safe to call more than once.
func (s *DashboardStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	_, cerr := s.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	err := errors.Join(cerr, s.conn.Close(), s.w.Close(), s.r.Close(), s.wb.close())
	if err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

var errDashboardClosed = eventdesk.Errorf(eventdesk.EUnavailable, "the dashboard read model is closed")

// Checkpoint implements eventdesk.ProjectionStore.
func (s *DashboardStore) Checkpoint(ctx context.Context, name string) (int64, bool, error) {
	var pos int64
	err := s.r.QueryRowContext(ctx, "SELECT position FROM projection_checkpoints WHERE name = ?", name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: dashboard checkpoint %s: %w", name, err)
	}
	return pos, true, nil
}

// Project implements eventdesk.ProjectionStore: fn's writes are buffered
// and written with the checkpoint in one transaction.
func (s *DashboardStore) Project(ctx context.Context, name string, position int64, fn func(eventdesk.ProjectionTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errDashboardClosed
	}
	// As in the ticket read models: statements inside the transaction
	// ignore cancellation, so that the connection is never left half-way.
	wctx := context.WithoutCancel(ctx)
	if _, err := s.conn.ExecContext(wctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: dashboard %s: begin: %w", name, err)
	}
	tx := &dashTx{s: s, ctx: wctx, rows: map[string]*dashRow{}, counters: map[string]int64{}}
	err := fn(tx)
	tx.done = true
	if err == nil {
		if err = tx.flush(name, position); err != nil {
			err = fmt.Errorf("sqlite: dashboard %s: %w", name, err)
		}
	}
	if err == nil {
		if _, err = s.conn.ExecContext(wctx, "COMMIT"); err != nil {
			err = fmt.Errorf("sqlite: dashboard %s: commit: %w", name, err)
		}
	}
	if err != nil {
		if _, rerr := s.conn.ExecContext(wctx, "ROLLBACK"); rerr != nil && !isNoTx(rerr) {
			err = errors.Join(err, fmt.Errorf("sqlite: dashboard %s: rollback: %w", name, rerr))
		}
		return err
	}
	s.wb.kick()
	return nil
}

type dashRow struct {
	t      eventdesk.Ticket
	exists bool
	dirty  bool
}

// dashTx implements eventdesk.ProjectionTx over the dashboard's tables.
type dashTx struct {
	s        *DashboardStore
	ctx      context.Context
	rows     map[string]*dashRow
	counters map[string]int64
	done     bool
}

func (tx *dashTx) row(id string) (*dashRow, error) {
	if r, ok := tx.rows[id]; ok {
		return r, nil
	}
	r := &dashRow{}
	var t eventdesk.Ticket
	var status string
	var created, responded, resolved int64
	st, err := tx.s.stmt(tx.ctx, `SELECT version, position, status, requester, created_at, first_response_at, resolved_at
		FROM dash_tickets WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: dashboard: load ticket %s: %w", id, err)
	}
	err = st.QueryRowContext(tx.ctx, id).Scan(&t.Version, &t.Position, &status, &t.Requester, &created, &responded, &resolved)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("sqlite: dashboard: load ticket %s: %w", id, err)
	default:
		t.ID, t.Status = id, eventdesk.Status(status)
		t.CreatedAt, t.FirstResponseAt, t.ResolvedAt = fromMicros(created), fromMicros(responded), fromMicros(resolved)
		r.t, r.exists = t, true
	}
	tx.rows[id] = r
	return r, nil
}

// Ticket implements eventdesk.ProjectionTx; the ticket is slim.
func (tx *dashTx) Ticket(_ context.Context, id string) (eventdesk.Ticket, bool, error) {
	if tx.done {
		return eventdesk.Ticket{}, false, errTxDone
	}
	r, err := tx.row(id)
	if err != nil {
		return eventdesk.Ticket{}, false, err
	}
	return r.t, r.exists, nil
}

// SaveTicket implements eventdesk.ProjectionTx: it keeps what
// projection.Slim keeps and nothing else.
func (tx *dashTx) SaveTicket(_ context.Context, t eventdesk.Ticket) error {
	if tx.done {
		return errTxDone
	}
	if !eventdesk.ValidID(t.ID) {
		return fmt.Errorf("sqlite: dashboard: save ticket: invalid id %q", t.ID)
	}
	r, err := tx.row(t.ID)
	if err != nil {
		return err
	}
	r.t, r.exists, r.dirty = projection.Slim(t), true, true
	return nil
}

// AddCount implements eventdesk.ProjectionTx.
func (tx *dashTx) AddCount(_ context.Context, counter string, delta int64) error {
	if tx.done {
		return errTxDone
	}
	tx.counters[counter] += delta
	return nil
}

func (tx *dashTx) flush(name string, position int64) error {
	ctx := tx.ctx
	ids := make([]string, 0, len(tx.rows))
	for id, r := range tx.rows {
		if r.dirty {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		t := tx.rows[id].t
		if err := tx.s.exec(ctx, `INSERT INTO dash_tickets (id, version, position, status, requester, created_at, first_response_at, resolved_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, position = excluded.position, status = excluded.status,
				requester = excluded.requester, created_at = excluded.created_at,
				first_response_at = excluded.first_response_at, resolved_at = excluded.resolved_at`,
			id, t.Version, t.Position, string(t.Status), t.Requester, micros(t.CreatedAt), micros(t.FirstResponseAt), micros(t.ResolvedAt)); err != nil {
			return fmt.Errorf("save ticket %s: %w", id, err)
		}
	}
	names := make([]string, 0, len(tx.counters))
	for c, d := range tx.counters {
		if d != 0 {
			names = append(names, c)
		}
	}
	slices.Sort(names)
	for _, c := range names {
		if err := tx.s.exec(ctx, `INSERT INTO dash_counters (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`, c, tx.counters[c]); err != nil {
			return fmt.Errorf("counter %s: %w", c, err)
		}
	}
	if err := tx.s.exec(ctx, `INSERT INTO projection_checkpoints (name, position, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position), updated_at = excluded.updated_at`,
		name, position, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// Dashboard implements eventdesk.DashboardReader: one range scan of the
// counters from day from onwards, whatever the number of tickets.
func (s *DashboardStore) Dashboard(ctx context.Context, from, to time.Time) (eventdesk.Dashboard, error) {
	from, to = eventdesk.Day(from), eventdesk.Day(to)
	if to.Before(from) {
		return eventdesk.Dashboard{}, eventdesk.FieldError("from", "must not be after to")
	}
	if to.Sub(from) >= eventdesk.MaxDashboardDays*24*time.Hour {
		return eventdesk.Dashboard{}, eventdesk.FieldError("from", fmt.Sprintf("the window must be at most %d days", eventdesk.MaxDashboardDays))
	}
	lo, hi := projection.DashboardCounterRange(from)
	now := projection.DashboardNowPrefix
	rows, err := s.r.QueryContext(ctx, `SELECT name, value FROM dash_counters WHERE (name >= ? AND name < ?) OR (name >= ? AND name < ?)`,
		lo, hi, now, now[:len(now)-1]+";")
	if err != nil {
		return eventdesk.Dashboard{}, fmt.Errorf("sqlite: dashboard: %w", err)
	}
	defer rows.Close()
	counters := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return eventdesk.Dashboard{}, fmt.Errorf("sqlite: dashboard: %w", err)
		}
		counters[name] = v
	}
	if err := rows.Err(); err != nil {
		return eventdesk.Dashboard{}, fmt.Errorf("sqlite: dashboard: %w", err)
	}
	return projection.BuildDashboard(counters, from, to)
}
