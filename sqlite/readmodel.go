package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
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

// The ticket read models live in their own database file next to the event
// store's, so that the projection writer never contends with the append
// writer, and so that a rebuild can build a whole new file and swap it in.

// ReadModelsFile is the name of the read-model database in a data directory.
const ReadModelsFile = "readmodels.db"

//go:embed migrations/readmodels/*.sql
var readModelMigrations embed.FS

// ReadModelsOptions tune ReadModels. The zero value is a sensible default.
type ReadModelsOptions struct {
	// CacheSize bounds how many decoded ticket rows the projection writer
	// keeps between transactions, so that a busy ticket is not read and
	// decoded again for each event. Default 4096; negative disables.
	CacheSize int
	// Logger receives operational messages. Default slog.Default().
	Logger *slog.Logger
}

// ReadModels is the SQLite ticket read model: it implements
// eventdesk.ProjectionStore (written by the ticket projection) and
// eventdesk.TicketReader (queried by the application). It is safe for
// concurrent use.
type ReadModels struct {
	dir  string
	path string
	opts ReadModelsOptions
	log  *slog.Logger

	// rowCache holds the tickets list queries decoded (readmodel_query.go).
	rowCache rowCache

	// swap is held for reading by every query and Project and for writing
	// while a rebuild swaps the database file.
	swap   sync.RWMutex
	closed bool
	r      *sql.DB // readers (query_only)
	w      *rmWriter

	// wmu serializes Project calls on the single writer connection.
	wmu sync.Mutex

	posMu sync.Mutex
	pos   map[string]int64 // committed checkpoints
	// waiters of WaitFor, each woken once the ticket projection's
	// checkpoint reaches its position (guarded by posMu)
	waiters []rmWaiter
}

var (
	_ eventdesk.ProjectionStore = (*ReadModels)(nil)
	_ eventdesk.TicketReader    = (*ReadModels)(nil)
)

// OpenReadModels opens (creating and migrating if needed) <dir>/readmodels.db
// on its own, without locking the directory: for tools and tests. A
// server opens it through DB.OpenReadModels. A damaged, foreign or
// newer-schema file is refused, unchanged, with a message that says how to
// rebuild it.
func OpenReadModels(dir string, opts ReadModelsOptions) (*ReadModels, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 4096
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: read models: %w", err)
	}
	m := &ReadModels{dir: dir, path: filepath.Join(dir, ReadModelsFile), opts: opts, log: opts.Logger}
	if err := m.open(); err != nil {
		return nil, err
	}
	return m, nil
}

// OpenReadModels opens the read models of db's data directory (see the
// package function) and closes them when db closes.
func (db *DB) OpenReadModels(opts ReadModelsOptions) (*ReadModels, error) {
	if opts.Logger == nil {
		opts.Logger = db.opts.logger
	}
	m, err := OpenReadModels(db.dir, opts)
	if err != nil {
		return nil, err
	}
	db.onClose(m.Close)
	return m, nil
}

// open opens the writer and the reader pool on m.path and loads the
// checkpoints. The caller holds m.swap for writing or owns m alone.
func (m *ReadModels) open() error {
	ctx := context.Background()
	write, read, err := openFile(ctx, m.path, readModelsSchema, options{logger: m.log, readers: 8})
	if err != nil {
		return fmt.Errorf("%w; %s", err, rebuildHint)
	}
	w, err := newRMWriter(ctx, write, m.opts.CacheSize)
	if err != nil {
		read.Close()
		return err
	}
	// A read model is rebuilt from the events, so it does not need each
	// commit synced: after a power loss it is consistent with its
	// checkpoint, which is all a projection needs to resume. Its WAL is
	// checkpointed in the background (checkpoint.go), not inside the
	// projection's commits, whose latency is the projection lag, and
	// written back as it commits (writeback.go).
	if _, err := w.conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL; "+checkpointedWriter); err != nil {
		read.Close()
		w.close()
		return fmt.Errorf("sqlite: open %s: %w", m.path, err)
	}
	if w.wb, err = openWALWriteback(m.path); err != nil {
		read.Close()
		w.close()
		return fmt.Errorf("sqlite: open %s: %w", m.path, err)
	}
	if w.ckpt, err = newCheckpointer(m.path, m.log); err != nil {
		read.Close()
		w.close()
		return fmt.Errorf("sqlite: open %s: %w", m.path, err)
	}
	pos, err := loadCheckpoints(ctx, read)
	if err != nil {
		read.Close()
		w.close()
		return err
	}
	m.w, m.r = w, read
	m.posMu.Lock()
	m.pos = pos
	m.wakeLocked()
	m.posMu.Unlock()
	return nil
}

// Close releases the database. Pending waiters are not woken; their
// contexts bound them.
func (m *ReadModels) Close() error {
	m.swap.Lock()
	defer m.swap.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.closeDBs()
}

func (m *ReadModels) closeDBs() error {
	var errs []error
	if m.r != nil {
		errs = append(errs, m.r.Close())
		m.r = nil
	}
	if m.w != nil {
		if m.w.ckpt != nil {
			errs = append(errs, m.w.ckpt.close())
			m.w.ckpt = nil
		}
		// Fold the WAL back into the file so that the file alone is the
		// database (a rebuild swaps files).
		if _, err := m.w.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, m.w.close())
		m.w = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", m.path, err)
	}
	return nil
}

// errReadModelsClosed is returned by every call after Close.
var errReadModelsClosed = eventdesk.Errorf(eventdesk.EUnavailable, "read models are closed")

// Checkpoint implements eventdesk.ProjectionStore.
func (m *ReadModels) Checkpoint(ctx context.Context, name string) (int64, bool, error) {
	m.swap.RLock()
	defer m.swap.RUnlock()
	if m.closed {
		return 0, false, errReadModelsClosed
	}
	var pos int64
	err := m.r.QueryRowContext(ctx, "SELECT position FROM projection_checkpoints WHERE name = ?", name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: checkpoint %s: %w", name, err)
	}
	return pos, true, nil
}

// Project implements eventdesk.ProjectionStore. The transaction is one
// SQLite write transaction on a dedicated connection; every waiter of
// WaitFor is woken after it commits.
func (m *ReadModels) Project(ctx context.Context, name string, position int64, fn func(eventdesk.ProjectionTx) error) error {
	m.swap.RLock()
	defer m.swap.RUnlock()
	if m.closed {
		return errReadModelsClosed
	}
	m.wmu.Lock()
	err := m.w.project(ctx, name, position, fn)
	m.wmu.Unlock()
	if err != nil {
		return err
	}
	m.posMu.Lock()
	if position > m.pos[name] {
		m.pos[name] = position
		if name == projection.TicketsName {
			m.wakeLocked()
		}
	}
	m.posMu.Unlock()
	return nil
}

// rmWaiter is a WaitFor call: ch is closed once the ticket projection's
// checkpoint reaches pos.
type rmWaiter struct {
	pos int64
	ch  chan struct{}
}

// wakeLocked wakes the waiters whose position the ticket projection has
// reached, and only those: a commit does not wake every waiter to let
// most of them find that it is not their turn (which, under load, delays
// the ones it is for). The caller holds posMu.
func (m *ReadModels) wakeLocked() {
	at := m.pos[projection.TicketsName]
	kept := m.waiters[:0]
	for _, w := range m.waiters {
		if w.pos <= at {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	clear(m.waiters[len(kept):])
	m.waiters = kept
}

// position returns the committed checkpoint of a projection (0 if none).
func (m *ReadModels) position(name string) int64 {
	m.posMu.Lock()
	defer m.posMu.Unlock()
	return m.pos[name]
}

// Position implements eventdesk.TicketReader: the checkpoint of the ticket
// projection.
func (m *ReadModels) Position(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return m.position(projection.TicketsName), nil
}

// WaitFor implements eventdesk.TicketReader. It sleeps until the commit
// of the projection transaction that reaches position wakes it: no
// polling, and no wake-up for other positions.
func (m *ReadModels) WaitFor(ctx context.Context, position int64) error {
	m.posMu.Lock()
	if m.pos[projection.TicketsName] >= position {
		m.posMu.Unlock()
		return nil
	}
	w := rmWaiter{pos: position, ch: make(chan struct{})}
	m.waiters = append(m.waiters, w)
	m.posMu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
	}
	m.posMu.Lock()
	defer m.posMu.Unlock()
	at := m.pos[projection.TicketsName]
	if i := slices.IndexFunc(m.waiters, func(o rmWaiter) bool { return o.ch == w.ch }); i >= 0 {
		m.waiters = slices.Delete(m.waiters, i, i+1)
	} else if at >= position {
		return nil // woken meanwhile
	}
	return fmt.Errorf("%w: %w", eventdesk.Errorf(eventdesk.EUnavailable,
		"the read models have not reached position %d yet (they are at %d); try again shortly", position, at), ctx.Err())
}

func loadCheckpoints(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT name, position FROM projection_checkpoints")
	if err != nil {
		return nil, fmt.Errorf("sqlite: load checkpoints: %w", err)
	}
	defer rows.Close()
	pos := map[string]int64{}
	for rows.Next() {
		var name string
		var p int64
		if err := rows.Scan(&name, &p); err != nil {
			return nil, fmt.Errorf("sqlite: load checkpoints: %w", err)
		}
		pos[name] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load checkpoints: %w", err)
	}
	return pos, nil
}

// rmWriter is the single writer connection of a read-model file, with its
// prepared statements and the cache of decoded rows.
type rmWriter struct {
	db    *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	cache *rmCache
	ckpt  *checkpointer // nil for a file under rebuild
	wb    *walWriteback // nil for a file under rebuild
	enc   rowEncoder
}

// newRMWriter takes db's single connection for the writer.
func newRMWriter(ctx context.Context, db *sql.DB, cacheSize int) (*rmWriter, error) {
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: read models: %w", err)
	}
	return &rmWriter{db: db, conn: conn, stmts: map[string]*sql.Stmt{}, cache: newRMCache(cacheSize)}, nil
}

func (w *rmWriter) close() error {
	var errs []error
	if w.ckpt != nil {
		errs = append(errs, w.ckpt.close())
		w.ckpt = nil
	}
	for _, s := range w.stmts {
		s.Close()
	}
	w.stmts = nil
	errs = append(errs, w.conn.Close(), w.db.Close(), w.wb.close())
	w.wb = nil
	return errors.Join(errs...)
}

// stmt returns the prepared statement for query on the writer connection.
func (w *rmWriter) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = s
	return s, nil
}

func (w *rmWriter) exec(ctx context.Context, query string, args ...any) error {
	s, err := w.stmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(ctx, args...)
	return err
}

// project runs fn and the checkpoint update in one transaction.
func (w *rmWriter) project(ctx context.Context, name string, position int64, fn func(eventdesk.ProjectionTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Statements inside the transaction ignore cancellation: a
	// transaction is short, and an interrupted statement would leave the
	// connection in a state we would have to repair.
	wctx := context.WithoutCancel(ctx)
	if w.ckpt != nil {
		w.ckpt.finishOn(w.conn)
	}
	if _, err := w.conn.ExecContext(wctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: project %s: begin: %w", name, err)
	}
	tx := &rmTx{w: w, ctx: wctx, rows: map[string]*rmRow{}, counters: map[string]int64{}}
	err := fn(tx)
	tx.done = true
	if err == nil {
		if err = tx.flush(name, position); err != nil {
			err = fmt.Errorf("sqlite: project %s: %w", name, err)
		}
	}
	if err == nil {
		if _, err = w.conn.ExecContext(wctx, "COMMIT"); err != nil {
			err = fmt.Errorf("sqlite: project %s: commit: %w", name, err)
		}
	}
	if err != nil {
		if _, rerr := w.conn.ExecContext(wctx, "ROLLBACK"); rerr != nil && !isNoTx(rerr) {
			err = errors.Join(err, fmt.Errorf("sqlite: project %s: rollback: %w", name, rerr))
		}
		return err
	}
	w.wb.kick()
	if w.ckpt != nil {
		w.ckpt.committed(framesWritten(w.conn))
	}
	for id, r := range tx.rows {
		w.cache.put(id, r)
	}
	return nil
}

func isNoTx(err error) bool {
	return err != nil && (containsFold(err.Error(), "no transaction is active"))
}

// rmRow is one ticket as a transaction sees it, and as it is stored.
type rmRow struct {
	t      eventdesk.Ticket
	exists bool // t is a ticket (false: known not to exist)
	stored bool // a row is in the table
	// The indexed columns as stored, so that an update sets only those
	// that changed: SQLite rewrites an index only when a column of it is
	// in the SET list, and most events change only updated_at of them.
	status, priority, assignee, requester string
	created, updated                      int64
	rank                                  int
	// The tag rows as stored (their sort-key copies are the columns above).
	tags  []string
	dirty bool
}

// setStored records the indexed columns of t as the stored ones.
func (r *rmRow) setStored(t *eventdesk.Ticket) {
	r.status, r.priority, r.assignee, r.requester = string(t.Status), string(t.Priority), t.Assignee, t.Requester
	r.created, r.updated, r.rank = micros(t.CreatedAt), micros(t.UpdatedAt), t.Priority.Rank()
	r.tags = t.Tags
}

// rmTx implements eventdesk.ProjectionTx: it buffers rows and counters and
// writes them once at commit, so that a batch touching a ticket many times
// writes it once.
type rmTx struct {
	w        *rmWriter
	ctx      context.Context
	rows     map[string]*rmRow
	counters map[string]int64
	done     bool
}

var errTxDone = errors.New("sqlite: projection transaction used after its function returned")

// Ticket implements eventdesk.ProjectionTx.
func (tx *rmTx) Ticket(_ context.Context, id string) (eventdesk.Ticket, bool, error) {
	if tx.done {
		return eventdesk.Ticket{}, false, errTxDone
	}
	r, err := tx.row(id)
	if err != nil {
		return eventdesk.Ticket{}, false, err
	}
	return r.t, r.exists, nil
}

func (tx *rmTx) row(id string) (*rmRow, error) {
	if r, ok := tx.rows[id]; ok {
		return r, nil
	}
	if r, ok := tx.w.cache.get(id); ok {
		c := *r
		c.dirty = false
		tx.rows[id] = &c
		return &c, nil
	}
	s, err := tx.w.stmt(tx.ctx, "SELECT doc, comments FROM tickets WHERE id = ?")
	if err != nil {
		return nil, fmt.Errorf("sqlite: load ticket %s: %w", id, err)
	}
	r := &rmRow{}
	t, found, err := scanTicketRow(s.QueryRowContext(tx.ctx, id), id)
	if err != nil {
		return nil, err
	}
	if found {
		r.t, r.exists, r.stored = t, true, true
		r.setStored(&t)
	}
	tx.rows[id] = r
	return r, nil
}

// SaveTicket implements eventdesk.ProjectionTx.
func (tx *rmTx) SaveTicket(_ context.Context, t eventdesk.Ticket) error {
	if tx.done {
		return errTxDone
	}
	if !eventdesk.ValidID(t.ID) {
		return fmt.Errorf("sqlite: save ticket: invalid id %q", t.ID)
	}
	r, err := tx.row(t.ID)
	if err != nil {
		return err
	}
	r.t, r.exists, r.dirty = t, true, true
	return nil
}

// AddCount implements eventdesk.ProjectionTx.
func (tx *rmTx) AddCount(_ context.Context, counter string, delta int64) error {
	if tx.done {
		return errTxDone
	}
	tx.counters[counter] += delta
	return nil
}

// flush writes the buffered rows, counters and the checkpoint.
func (tx *rmTx) flush(name string, position int64) error {
	ctx := tx.ctx
	ids := make([]string, 0, len(tx.rows))
	for id, r := range tx.rows {
		if r.dirty {
			ids = append(ids, id)
		}
	}
	// A stable order keeps page writes local and runs reproducible.
	slices.Sort(ids)
	for _, id := range ids {
		if err := tx.writeRow(ctx, tx.rows[id]); err != nil {
			return fmt.Errorf("save ticket %s: %w", id, err)
		}
	}
	for c, d := range tx.counters {
		if d == 0 {
			continue
		}
		if err := tx.w.exec(ctx, "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", c, d); err != nil {
			return fmt.Errorf("counter %s: %w", c, err)
		}
	}
	if err := tx.w.exec(ctx, `INSERT INTO projection_checkpoints (name, position, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position), updated_at = excluded.updated_at`,
		name, position, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func (tx *rmTx) writeRow(ctx context.Context, r *rmRow) error {
	t := r.t
	doc, comments, err := tx.w.enc.encode(t)
	if err != nil {
		return err
	}
	created, updated, rank := micros(t.CreatedAt), micros(t.UpdatedAt), t.Priority.Rank()
	if r.stored {
		err = tx.updateRow(ctx, r, &t, doc, comments)
	} else {
		err = tx.w.exec(ctx, `INSERT INTO tickets (id, status, priority, prio_rank, assignee, requester, created_at, updated_at, version, position, doc, comments)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, string(t.Status), string(t.Priority), rank, t.Assignee, t.Requester, created, updated, t.Version, t.Position, doc, comments)
	}
	if err != nil {
		return err
	}
	switch {
	case !slices.Equal(r.tags, t.Tags):
		if r.stored && len(r.tags) > 0 {
			if err := tx.w.exec(ctx, "DELETE FROM ticket_tags WHERE id = ?", t.ID); err != nil {
				return err
			}
		}
		for _, tag := range t.Tags {
			if err := tx.w.exec(ctx, "INSERT INTO ticket_tags (id, tag, created_at, updated_at, prio_rank) VALUES (?, ?, ?, ?, ?)",
				t.ID, tag, created, updated, rank); err != nil {
				return err
			}
		}
	case len(t.Tags) > 0 && r.created != created:
		// Never happens (a ticket keeps its creation time), but the
		// copies must follow the row if it did.
		if err := tx.w.exec(ctx, "UPDATE ticket_tags SET created_at = ?, updated_at = ?, prio_rank = ? WHERE id = ?", created, updated, rank, t.ID); err != nil {
			return err
		}
	case len(t.Tags) > 0 && r.updated != updated && r.rank != rank:
		if err := tx.w.exec(ctx, "UPDATE ticket_tags SET updated_at = ?, prio_rank = ? WHERE id = ?", updated, rank, t.ID); err != nil {
			return err
		}
	case len(t.Tags) > 0 && r.updated != updated:
		if err := tx.w.exec(ctx, "UPDATE ticket_tags SET updated_at = ? WHERE id = ?", updated, t.ID); err != nil {
			return err
		}
	case len(t.Tags) > 0 && r.rank != rank:
		if err := tx.w.exec(ctx, "UPDATE ticket_tags SET prio_rank = ? WHERE id = ?", rank, t.ID); err != nil {
			return err
		}
	}
	r.stored, r.dirty = true, false
	r.setStored(&t)
	return nil
}

// updateRow updates the stored row of r to t, setting only the indexed
// columns that changed (version, position, doc and comments are in no
// index and change with every event). Each combination of columns is one
// prepared statement, a few dozen at most.
func (tx *rmTx) updateRow(ctx context.Context, r *rmRow, t *eventdesk.Ticket, doc, comments []byte) error {
	var (
		q    [256]byte
		args [12]any
	)
	b := append(q[:0], "UPDATE tickets SET version = ?, position = ?, doc = ?, comments = ?"...)
	a := append(args[:0], t.Version, t.Position, doc, comments)
	set := func(col string, v any) {
		b = append(b, ", "...)
		b = append(b, col...)
		b = append(b, " = ?"...)
		a = append(a, v)
	}
	if s := string(t.Status); s != r.status {
		set("status", s)
	}
	if p := string(t.Priority); p != r.priority {
		set("priority", p)
	}
	if k := t.Priority.Rank(); k != r.rank {
		set("prio_rank", k)
	}
	if t.Assignee != r.assignee {
		set("assignee", t.Assignee)
	}
	if t.Requester != r.requester {
		set("requester", t.Requester)
	}
	if c := micros(t.CreatedAt); c != r.created {
		set("created_at", c)
	}
	if u := micros(t.UpdatedAt); u != r.updated {
		set("updated_at", u)
	}
	b = append(b, " WHERE id = ?"...)
	a = append(a, t.ID)
	return tx.w.exec(ctx, string(b), a...)
}

// rowEncoder encodes ticket rows into buffers reused from row to row:
// SQLite copies what it is bound to, so the JSON need not outlive the
// statement.
type rowEncoder struct {
	doc, comments       bytes.Buffer
	docEnc, commentsEnc *json.Encoder
}

// encode returns the JSON of t without its comments, and of its comments
// (nil if none), as json.Marshal writes them; both are valid until the
// next call.
func (e *rowEncoder) encode(t eventdesk.Ticket) (doc, comments []byte, err error) {
	if e.docEnc == nil {
		e.docEnc, e.commentsEnc = json.NewEncoder(&e.doc), json.NewEncoder(&e.comments)
	}
	e.doc.Reset()
	e.comments.Reset()
	if len(t.Comments) > 0 {
		if err := e.commentsEnc.Encode(t.Comments); err != nil {
			return nil, nil, err
		}
		comments = bytes.TrimSuffix(e.comments.Bytes(), []byte("\n"))
	}
	t.Comments = nil
	if err := e.docEnc.Encode(t); err != nil {
		return nil, nil, err
	}
	return bytes.TrimSuffix(e.doc.Bytes(), []byte("\n")), comments, nil
}

// scanTicketRow reads the stored document and comments of ticket id from
// row (a SELECT doc, comments); found is false if there is no such row.
func scanTicketRow(row *sql.Row, id string) (t eventdesk.Ticket, found bool, err error) {
	var doc, comments []byte
	switch err := row.Scan(&doc, &comments); {
	case errors.Is(err, sql.ErrNoRows):
		return t, false, nil
	case err != nil:
		return t, false, fmt.Errorf("sqlite: load ticket %s: %w", id, err)
	}
	if t, err = decodeTicketRow(doc, comments); err != nil {
		return t, false, fmt.Errorf("sqlite: load ticket %s: %w", id, err)
	}
	return t, true, nil
}

func decodeTicketRow(doc, comments []byte) (eventdesk.Ticket, error) {
	var t eventdesk.Ticket
	if err := json.Unmarshal(doc, &t); err != nil {
		return t, fmt.Errorf("decode ticket row: %w", err)
	}
	if len(comments) > 0 {
		if err := json.Unmarshal(comments, &t.Comments); err != nil {
			return t, fmt.Errorf("decode ticket comments: %w", err)
		}
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	return t, nil
}

// micros is how read models store times: Unix microseconds.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// rmCache keeps committed rows between transactions. Only the writer uses
// it (under ReadModels.wmu), and only committed rows enter it, so it is
// always what the table holds.
type rmCache struct {
	max  int
	rows map[string]*rmRow
}

func newRMCache(max int) *rmCache {
	if max < 0 {
		max = 0
	}
	return &rmCache{max: max, rows: make(map[string]*rmRow, min(max, 1<<16))}
}

func (c *rmCache) get(id string) (*rmRow, bool) {
	r, ok := c.rows[id]
	return r, ok
}

func (c *rmCache) put(id string, r *rmRow) {
	if c.max == 0 || !r.stored {
		return
	}
	if _, ok := c.rows[id]; !ok && len(c.rows) >= c.max {
		// Evict an eighth, in map order (random): cheap, and good enough
		// for rows that are hot for minutes at most.
		n := c.max/8 + 1
		for k := range c.rows {
			delete(c.rows, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.rows[id] = r
}
