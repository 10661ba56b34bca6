package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// The bulk load is the first pass of a rebuild, into a file without
// indices that nobody reads. It is a pipeline over three goroutines, so
// that both cores of a small machine stay busy: the reader reads and
// decodes the log (project's reader), the folder (the caller) folds each
// batch of events into the tickets it keeps in memory and encodes the rows
// that changed, and the row writer writes each batch in one transaction
// with multi-row INSERTs while the folder goes on with the next.
//
// The folder keeps the tickets it has seen, up to rebuildCacheSize of them
// past a batch, evicting only rows whose last write has been committed;
// an evicted ticket that shows up again is read back from the file on the
// shared connection (database/sql serializes the two goroutines' calls;
// the writer's open transaction holds no write to an evicted row). The
// counters are summed in memory and written once at the end.

// bulkRowsPerInsert and bulkTagsPerInsert are the rows one INSERT writes:
// the statement's fixed cost (database/sql, the driver, the VDBE program)
// is paid once per many rows.
const (
	bulkRowsPerInsert = 32
	bulkTagsPerInsert = 64
)

// bulkLoad is the folding side of a bulk load.
type bulkLoad struct {
	conn     *sql.Conn
	get      *sql.Stmt // a stored row, for an evicted ticket
	rows     map[string]*bulkRow
	dirty    []*bulkRow // changed in the current batch
	counters map[string]int64
	batch    int64 // number of the batch being folded, from 1
	max      int   // rows kept past a batch

	// The batch the writer has (sent last) and one it is done with, whose
	// buffers the next batch reuses: the JSON of a batch is megabytes.
	sent, spare *bulkBatch
	ends        [][2]int

	work   chan *bulkBatch
	errc   chan error
	failed atomic.Bool // the writer has failed: stop folding
	w      *bulkWriter
}

// bulkRow is a ticket as the folder sees it.
type bulkRow struct {
	t      eventdesk.Ticket
	exists bool     // t is a ticket (false: known not to exist)
	stored bool     // a row is in the file or on its way (an earlier batch)
	tags   []string // the tag rows stored or on their way
	batch  int64    // the last batch that changed it (0: none)
}

// bulkBatch is one transaction's rows for the writer.
type bulkBatch struct {
	position int64
	rows     []bulkWrite
	arena    []byte // the rows' JSON
}

// bulkWrite is one row to write: the columns of tickets, and what the
// ticket's tag rows were before (update only).
type bulkWrite struct {
	id, status, priority, assignee, requester string
	rank                                      int
	created, updated, version, position       int64
	doc, comments                             []byte // comments nil: none
	tags                                      []string
	update                                    bool     // a row is stored: replace it
	oldTags                                   []string // update only
}

func newBulkLoad(ctx context.Context, conn *sql.Conn, max int) (*bulkLoad, error) {
	w, err := newBulkWriter(ctx, conn)
	if err != nil {
		return nil, err
	}
	get, err := conn.PrepareContext(ctx, "SELECT doc, comments FROM tickets WHERE id = ?")
	if err != nil {
		w.close()
		return nil, fmt.Errorf("sqlite: rebuild: %w", err)
	}
	l := &bulkLoad{conn: conn, get: get, rows: map[string]*bulkRow{}, counters: map[string]int64{}, batch: 1, max: max,
		work: make(chan *bulkBatch), errc: make(chan error, 1), w: w}
	go l.writeLoop()
	return l, nil
}

// writeLoop writes the batches in order. After an error it only drains,
// so that the folder never blocks; the error is reported by finish.
func (l *bulkLoad) writeLoop() {
	var err error
	for b := range l.work {
		if err == nil {
			if err = l.w.write(b); err != nil {
				l.failed.Store(true)
			}
		}
	}
	l.errc <- err
}

// begin prepares the folding of a batch: the tickets created by its
// events are known not to be in the file (it is built from position 0),
// which spares a lookup per new ticket.
func (l *bulkLoad) begin(events []eventdesk.Event) {
	for i := range events {
		if e := &events[i]; e.Version == 1 {
			if id, ok := eventdesk.TicketIDFromStream(e.Stream); ok && l.rows[id] == nil {
				l.rows[id] = &bulkRow{}
			}
		}
	}
}

// row returns the folder's ticket id, reading an evicted one back.
func (l *bulkLoad) row(id string) (*bulkRow, error) {
	if r, ok := l.rows[id]; ok {
		return r, nil
	}
	r := &bulkRow{}
	t, found, err := scanTicketRow(l.get.QueryRow(id), id)
	if err != nil {
		return nil, err
	}
	if found {
		r.t, r.exists, r.stored, r.tags = t, true, true, t.Tags
	}
	l.rows[id] = r
	return r, nil
}

// commit encodes the rows changed by the batch ending at position and
// hands them to the writer, which then has committed every batch before.
func (l *bulkLoad) commit(position int64) error {
	slices.SortFunc(l.dirty, func(a, b *bulkRow) int { return strings.Compare(a.t.ID, b.t.ID) })
	b := l.spare
	if b == nil {
		b = &bulkBatch{}
	}
	l.spare = nil
	b.position, b.arena = position, b.arena[:0]
	b.rows = slices.Grow(b.rows[:0], len(l.dirty))[:len(l.dirty)]
	// Where each row's doc and comments end in the arena.
	ends := slices.Grow(l.ends[:0], len(l.dirty))[:len(l.dirty)]
	l.ends = ends
	for i, r := range l.dirty {
		t := &r.t
		b.rows[i] = bulkWrite{id: t.ID, status: string(t.Status), priority: string(t.Priority), assignee: t.Assignee, requester: t.Requester,
			rank: t.Priority.Rank(), created: micros(t.CreatedAt), updated: micros(t.UpdatedAt), version: t.Version, position: t.Position,
			tags: t.Tags, update: r.stored, oldTags: r.tags}
		var err error
		if b.arena, err = appendTicketDoc(b.arena, t); err != nil {
			return fmt.Errorf("sqlite: rebuild: save ticket %s: %w", t.ID, err)
		}
		ends[i][0] = len(b.arena)
		if len(t.Comments) > 0 {
			if b.arena, err = appendComments(b.arena, t.Comments); err != nil {
				return fmt.Errorf("sqlite: rebuild: save ticket %s: %w", t.ID, err)
			}
		}
		ends[i][1] = len(b.arena)
		r.stored, r.tags = true, t.Tags
	}
	start := 0
	for i := range b.rows {
		w, e := &b.rows[i], ends[i]
		w.doc = b.arena[start:e[0]:e[0]]
		if e[1] > e[0] {
			w.comments = b.arena[e[0]:e[1]:e[1]]
		}
		start = e[1]
	}
	l.dirty = l.dirty[:0]
	if l.failed.Load() {
		return l.stop()
	}
	l.work <- b
	// The writer has taken batch l.batch: every earlier one is committed.
	l.spare, l.sent = l.sent, b
	if len(l.rows) > l.max {
		for id, r := range l.rows {
			if r.batch < l.batch {
				delete(l.rows, id)
				if len(l.rows) <= l.max-l.max/8 {
					break
				}
			}
		}
	}
	l.batch++
	return nil
}

// stop waits for the writer to finish and returns its error.
func (l *bulkLoad) stop() error {
	close(l.work)
	err := <-l.errc
	l.work = nil
	l.get.Close()
	l.w.close()
	if err != nil {
		return fmt.Errorf("sqlite: rebuild: %w", err)
	}
	return nil
}

// finish waits for the writer and writes the counters.
func (l *bulkLoad) finish(ctx context.Context) error {
	if err := l.stop(); err != nil {
		return err
	}
	names := make([]string, 0, len(l.counters))
	for name, v := range l.counters {
		if v != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	err := func() error {
		if _, err := l.conn.ExecContext(ctx, "BEGIN"); err != nil {
			return err
		}
		for _, name := range names {
			if _, err := l.conn.ExecContext(ctx, "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
				name, l.counters[name]); err != nil {
				return fmt.Errorf("counter %s: %w", name, err)
			}
		}
		_, err := l.conn.ExecContext(ctx, "COMMIT")
		return err
	}()
	if err != nil {
		_, _ = l.conn.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("sqlite: rebuild: %w", err)
	}
	return nil
}

// discard stops the writer of an unfinished load.
func (l *bulkLoad) discard() {
	if l.work != nil {
		_ = l.stop()
	}
}

// bulkTx is the ticket projection's transaction during a bulk load: the
// folder's rows, counters summed in memory.
type bulkTx struct{ l *bulkLoad }

// Ticket implements eventdesk.ProjectionTx.
func (tx bulkTx) Ticket(_ context.Context, id string) (eventdesk.Ticket, bool, error) {
	r, err := tx.l.row(id)
	if err != nil {
		return eventdesk.Ticket{}, false, err
	}
	return r.t, r.exists, nil
}

// SaveTicket implements eventdesk.ProjectionTx.
func (tx bulkTx) SaveTicket(_ context.Context, t eventdesk.Ticket) error {
	if !eventdesk.ValidID(t.ID) {
		return fmt.Errorf("sqlite: save ticket: invalid id %q", t.ID)
	}
	r, err := tx.l.row(t.ID)
	if err != nil {
		return err
	}
	r.t, r.exists = t, true
	if r.batch != tx.l.batch {
		r.batch = tx.l.batch
		tx.l.dirty = append(tx.l.dirty, r)
	}
	return nil
}

// AddCount implements eventdesk.ProjectionTx.
func (tx bulkTx) AddCount(_ context.Context, counter string, delta int64) error {
	tx.l.counters[counter] += delta
	return nil
}

// bulkWriter is the writing side of a bulk load: its statements.
type bulkWriter struct {
	conn                         *sql.Conn
	ins1, insN, tag1, tagN       *sql.Stmt
	update, delTags, updTags, ck *sql.Stmt
	args                         []any
}

func newBulkWriter(ctx context.Context, conn *sql.Conn) (*bulkWriter, error) {
	w := &bulkWriter{conn: conn}
	rows := func(n int, head, one string) string {
		var q strings.Builder
		q.WriteString(head)
		for i := range n {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(one)
		}
		return q.String()
	}
	const insTicket = "INSERT INTO tickets (id, status, priority, prio_rank, assignee, requester, created_at, updated_at, version, position, doc, comments) VALUES "
	const insTag = "INSERT INTO ticket_tags (id, tag, created_at, updated_at, prio_rank) VALUES "
	for _, s := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&w.ins1, rows(1, insTicket, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")},
		{&w.insN, rows(bulkRowsPerInsert, insTicket, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")},
		{&w.tag1, rows(1, insTag, "(?, ?, ?, ?, ?)")},
		{&w.tagN, rows(bulkTagsPerInsert, insTag, "(?, ?, ?, ?, ?)")},
		{&w.update, `UPDATE tickets SET status = ?, priority = ?, prio_rank = ?, assignee = ?, requester = ?, created_at = ?, updated_at = ?,
			version = ?, position = ?, doc = ?, comments = ? WHERE id = ?`},
		{&w.delTags, "DELETE FROM ticket_tags WHERE id = ?"},
		{&w.updTags, "UPDATE ticket_tags SET created_at = ?, updated_at = ?, prio_rank = ? WHERE id = ?"},
		{&w.ck, `INSERT INTO projection_checkpoints (name, position, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position), updated_at = excluded.updated_at`},
	} {
		st, err := conn.PrepareContext(ctx, s.q)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("sqlite: rebuild: %w", err)
		}
		*s.st = st
	}
	return w, nil
}

func (w *bulkWriter) close() {
	for _, st := range []*sql.Stmt{w.ins1, w.insN, w.tag1, w.tagN, w.update, w.delTags, w.updTags, w.ck} {
		if st != nil {
			st.Close()
		}
	}
}

// failBulkWrite, set by tests only, fails the write of the batch ending
// at a position: the way to the row writer's failure path without a
// broken disk.
var failBulkWrite func(position int64) error

// write writes one batch in one transaction.
func (w *bulkWriter) write(b *bulkBatch) error {
	ctx := context.Background()
	if _, err := w.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	err := w.writeRows(ctx, b)
	if err == nil && failBulkWrite != nil {
		err = failBulkWrite(b.position)
	}
	if err == nil {
		_, err = w.ck.ExecContext(ctx, projection.TicketsName, b.position, time.Now().UnixMicro())
	}
	if err == nil {
		_, err = w.conn.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
	}
	return err
}

func (w *bulkWriter) writeRows(ctx context.Context, b *bulkBatch) error {
	// New rows, many per statement, then their tag rows likewise.
	var fresh []*bulkWrite
	type tagRow struct {
		r   *bulkWrite
		tag string
	}
	var tags []tagRow
	for i := range b.rows {
		if r := &b.rows[i]; !r.update {
			fresh = append(fresh, r)
			for _, tag := range r.tags {
				tags = append(tags, tagRow{r, tag})
			}
		}
	}
	err := insertChunked(ctx, w, fresh, w.ins1, w.insN, bulkRowsPerInsert, func(args []any, r *bulkWrite) []any {
		return append(args, r.id, r.status, r.priority, r.rank, r.assignee, r.requester, r.created, r.updated, r.version, r.position, r.doc, nilIfEmpty(r.comments))
	})
	if err != nil {
		return fmt.Errorf("save tickets: %w", err)
	}
	err = insertChunked(ctx, w, tags, w.tag1, w.tagN, bulkTagsPerInsert, func(args []any, t tagRow) []any {
		return append(args, t.r.id, t.tag, t.r.created, t.r.updated, t.r.rank)
	})
	if err != nil {
		return fmt.Errorf("save tags: %w", err)
	}
	// Rows of an earlier batch: replaced whole (there are no indices yet
	// to spare), their tag rows rewritten if the tags changed.
	for i := range b.rows {
		r := &b.rows[i]
		if !r.update {
			continue
		}
		if _, err := w.update.ExecContext(ctx, r.status, r.priority, r.rank, r.assignee, r.requester, r.created, r.updated, r.version, r.position,
			r.doc, nilIfEmpty(r.comments), r.id); err != nil {
			return fmt.Errorf("save ticket %s: %w", r.id, err)
		}
		switch {
		case !slices.Equal(r.oldTags, r.tags):
			if len(r.oldTags) > 0 {
				if _, err := w.delTags.ExecContext(ctx, r.id); err != nil {
					return fmt.Errorf("save ticket %s: %w", r.id, err)
				}
			}
			for _, tag := range r.tags {
				if _, err := w.tag1.ExecContext(ctx, r.id, tag, r.created, r.updated, r.rank); err != nil {
					return fmt.Errorf("save ticket %s: %w", r.id, err)
				}
			}
		case len(r.tags) > 0:
			if _, err := w.updTags.ExecContext(ctx, r.created, r.updated, r.rank, r.id); err != nil {
				return fmt.Errorf("save ticket %s: %w", r.id, err)
			}
		}
	}
	return nil
}

// nilIfEmpty binds no comments as NULL, as the live projection stores
// them.
func nilIfEmpty(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// insertChunked inserts rows with one, many-row statement (stN, n rows)
// per n rows and the one-row statement (st1) for the rest; bind appends a
// row's arguments.
func insertChunked[T any](ctx context.Context, w *bulkWriter, rows []T, st1, stN *sql.Stmt, n int, bind func([]any, T) []any) error {
	for len(rows) > 0 {
		st, k := st1, 1
		if len(rows) >= n {
			st, k = stN, n
		}
		w.args = w.args[:0]
		for _, r := range rows[:k] {
			w.args = bind(w.args, r)
		}
		if _, err := st.ExecContext(ctx, w.args...); err != nil {
			return err
		}
		rows = rows[k:]
	}
	return nil
}
