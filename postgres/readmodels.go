package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/jackc/pgx/v5"
)

// checkpointChannel is the LISTEN/NOTIFY channel on which every projection
// commit announces itself, so that WaitFor on any node wakes at once,
// whichever node runs the projection.
const checkpointChannel = "eventdesk_checkpoint"

// ReadModels is the ticket read model in PostgreSQL: it implements
// eventdesk.ProjectionStore (written by the ticket projection on whichever
// node holds its lease) and eventdesk.TicketReader (queried by every node).
// It shares the DB's pool and is safe for concurrent use.
type ReadModels struct {
	projStore
}

// projStore is a ProjectionStore over one pair of tables (tickets,
// counters) with checkpoints in projection_checkpoints.
type projStore struct {
	db                *DB
	tickets, counters string
	// slim stores tickets as projection.Slim keeps them (the dashboard).
	slim bool
}

var (
	_ eventdesk.ProjectionStore = (*ReadModels)(nil)
	_ eventdesk.TicketReader    = (*ReadModels)(nil)
)

// ReadModels returns the ticket read models of db. They live in the same
// database as the events and close with db.
func (db *DB) ReadModels() *ReadModels {
	db.startListener()
	return &ReadModels{projStore{db: db, tickets: liveTickets, counters: liveCounters}}
}

// Checkpoint implements eventdesk.ProjectionStore.
func (m *projStore) Checkpoint(ctx context.Context, name string) (int64, bool, error) {
	var pos int64
	err := m.db.pool.QueryRow(ctx, "SELECT position FROM projection_checkpoints WHERE name = $1", name).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("postgres: checkpoint %s: %w", name, unavailable(err))
	}
	return pos, true, nil
}

// Project implements eventdesk.ProjectionStore. The transaction first locks
// the projection's checkpoint row: should two nodes ever run the same
// projection at once (a lease lost but not yet noticed), their
// transactions take turns, and the second sees the first's rows, so the
// projection's version check skips what was already applied instead of
// counting it twice.
func (m *projStore) Project(ctx context.Context, name string, position int64, fn func(eventdesk.ProjectionTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := m.db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("postgres: project %s: %w", name, unavailable(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", name); err != nil {
		return fmt.Errorf("postgres: project %s: %w", name, unavailable(err))
	}
	var at int64
	if err := tx.QueryRow(ctx, "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE", name).Scan(&at); err != nil {
		return fmt.Errorf("postgres: project %s: %w", name, unavailable(err))
	}
	ptx := newProjTx(ctx, tx, m.tickets, m.counters)
	ptx.slim = m.slim
	err = fn(ptx)
	ptx.done = true
	if err != nil {
		return err
	}
	if err := ptx.flush(name, position); err != nil {
		return fmt.Errorf("postgres: project %s: %w", name, unavailable(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: project %s: commit: %w", name, unavailable(err))
	}
	m.db.cpSignal.Broadcast()
	return nil
}

// rmRow is one ticket as a projection transaction sees it.
type rmRow struct {
	t      eventdesk.Ticket
	exists bool
	dirty  bool
}

// projTx implements eventdesk.ProjectionTx. It buffers saved tickets and
// counter deltas and writes them once, at flush, in one round trip.
type projTx struct {
	// tickets and counters name the tables written: the live ones, or
	// those a rebuild fills.
	tickets, counters string
	slim              bool
	ctx               context.Context
	tx                pgx.Tx
	rows              map[string]*rmRow
	order             []string // dirty ids in first-saved order
	deltas            map[string]int64
	done              bool
}

// The live read-model tables.
const (
	liveTickets  = "rm_tickets"
	liveCounters = "rm_counters"
)

func newProjTx(ctx context.Context, tx pgx.Tx, tickets, counters string) *projTx {
	return &projTx{tickets: tickets, counters: counters, ctx: ctx, tx: tx, rows: map[string]*rmRow{}, deltas: map[string]int64{}}
}

var errTxDone = errors.New("postgres: projection transaction used after its function returned")

// Ticket implements eventdesk.ProjectionTx.
func (p *projTx) Ticket(ctx context.Context, id string) (eventdesk.Ticket, bool, error) {
	if p.done {
		return eventdesk.Ticket{}, false, errTxDone
	}
	r, err := p.row(ctx, id)
	if err != nil {
		return eventdesk.Ticket{}, false, err
	}
	return r.t, r.exists, nil
}

func (p *projTx) row(ctx context.Context, id string) (*rmRow, error) {
	if r, ok := p.rows[id]; ok {
		return r, nil
	}
	r := &rmRow{}
	var doc, comments []byte
	err := p.tx.QueryRow(ctx, "SELECT doc, comments FROM "+p.tickets+" WHERE id = $1", id).Scan(&doc, &comments)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("postgres: load ticket %s: %w", id, unavailable(err))
	default:
		t, err := decodeTicketRow(doc, comments)
		if err != nil {
			return nil, fmt.Errorf("postgres: load ticket %s: %w", id, err)
		}
		r.t, r.exists = t, true
	}
	p.rows[id] = r
	return r, nil
}

// SaveTicket implements eventdesk.ProjectionTx.
func (p *projTx) SaveTicket(ctx context.Context, t eventdesk.Ticket) error {
	if p.done {
		return errTxDone
	}
	if !eventdesk.ValidID(t.ID) {
		return fmt.Errorf("postgres: save ticket: invalid id %q", t.ID)
	}
	r, err := p.row(ctx, t.ID)
	if err != nil {
		return err
	}
	if !r.dirty {
		p.order = append(p.order, t.ID)
	}
	if p.slim {
		t = projection.Slim(t)
	}
	r.t, r.exists, r.dirty = t, true, true
	return nil
}

// AddCount implements eventdesk.ProjectionTx.
func (p *projTx) AddCount(_ context.Context, counter string, delta int64) error {
	if p.done {
		return errTxDone
	}
	p.deltas[counter] += delta
	return nil
}

// flush writes the buffered rows and counters, moves the checkpoint of
// name forward (never back; no checkpoint for "") and queues the
// notification, which PostgreSQL delivers only if the transaction commits.
func (p *projTx) flush(name string, position int64) error {
	b := &pgx.Batch{}
	for _, id := range p.order {
		t := p.rows[id].t
		doc, comments, err := encodeTicketRow(t)
		if err != nil {
			return fmt.Errorf("encode ticket %s: %w", id, err)
		}
		tags := t.Tags
		if tags == nil {
			tags = []string{}
		}
		b.Queue(`INSERT INTO `+p.tickets+` (id, status, priority, prio_rank, assignee, requester, tags, created_at, updated_at, version, position, search, doc, comments)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, priority = excluded.priority, prio_rank = excluded.prio_rank,
				assignee = excluded.assignee, requester = excluded.requester, tags = excluded.tags, created_at = excluded.created_at,
				updated_at = excluded.updated_at, version = excluded.version, position = excluded.position, search = excluded.search,
				doc = excluded.doc, comments = excluded.comments`,
			t.ID, string(t.Status), string(t.Priority), t.Priority.Rank(), t.Assignee, t.Requester, tags,
			micros(t.CreatedAt), micros(t.UpdatedAt), t.Version, t.Position, searchText(t), doc, comments)
	}
	for c, d := range p.deltas {
		if d != 0 {
			b.Queue("INSERT INTO "+p.counters+" AS c (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = c.value + excluded.value", c, d)
		}
	}
	if name != "" {
		b.Queue(`UPDATE projection_checkpoints SET position = greatest(position, $2), updated_at = now() WHERE name = $1`, name, position)
		b.Queue("SELECT pg_notify($1, $2)", checkpointChannel, name)
	}
	return p.tx.SendBatch(p.ctx, b).Close()
}

// searchText is what the free-text filter matches: title and description,
// lower-cased.
func searchText(t eventdesk.Ticket) string {
	return strings.ToLower(t.Title + "\n" + t.Description)
}

// encodeTicketRow returns the JSON of t without its comments, and of its
// comments (nil if none).
func encodeTicketRow(t eventdesk.Ticket) (doc, comments []byte, err error) {
	if len(t.Comments) > 0 {
		if comments, err = json.Marshal(t.Comments); err != nil {
			return nil, nil, err
		}
	}
	t.Comments = nil
	doc, err = json.Marshal(t)
	return doc, comments, err
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

// micros is how sort keys store times: Unix microseconds (0 for none).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Ticket implements eventdesk.TicketReader.
func (m *ReadModels) Ticket(ctx context.Context, id string) (eventdesk.Ticket, error) {
	if !eventdesk.ValidID(id) {
		return eventdesk.Ticket{}, eventdesk.Errorf(eventdesk.ENotFound, "ticket %q not found", id)
	}
	var doc, comments []byte
	err := m.db.pool.QueryRow(ctx, "SELECT doc, comments FROM rm_tickets WHERE id = $1", id).Scan(&doc, &comments)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventdesk.Ticket{}, eventdesk.Errorf(eventdesk.ENotFound, "ticket %s not found", id)
	}
	if err != nil {
		return eventdesk.Ticket{}, fmt.Errorf("postgres: ticket %s: %w", id, unavailable(err))
	}
	t, err := decodeTicketRow(doc, comments)
	if err != nil {
		return eventdesk.Ticket{}, fmt.Errorf("postgres: ticket %s: %w", id, err)
	}
	return t, nil
}

// Stats implements eventdesk.TicketReader from the counters the projection
// keeps: a handful of rows whatever the number of tickets.
func (m *ReadModels) Stats(ctx context.Context) (eventdesk.Stats, error) {
	rows, err := m.db.pool.Query(ctx, "SELECT name, value FROM rm_counters")
	if err != nil {
		return eventdesk.Stats{}, fmt.Errorf("postgres: stats: %w", unavailable(err))
	}
	counters := map[string]int64{}
	var name string
	var v int64
	_, err = pgx.ForEachRow(rows, []any{&name, &v}, func() error {
		counters[name] = v
		return nil
	})
	if err != nil {
		return eventdesk.Stats{}, fmt.Errorf("postgres: stats: %w", unavailable(err))
	}
	return eventdesk.StatsFromCounters(counters), nil
}

// Position implements eventdesk.TicketReader: the checkpoint of the ticket
// projection, as committed by whichever node runs it.
func (m *ReadModels) Position(ctx context.Context) (int64, error) {
	pos, _, err := m.Checkpoint(ctx, projection.TicketsName)
	return pos, err
}

// waitPoll bounds how long WaitFor sleeps between checks when no
// notification arrives (the listener connection may be down).
const waitPoll = 100 * time.Millisecond

// WaitFor implements eventdesk.TicketReader. It wakes on every projection
// commit in the cluster (LISTEN/NOTIFY), and polls slowly in case the
// notification connection is down.
func (m *ReadModels) WaitFor(ctx context.Context, position int64) error {
	timer := time.NewTimer(waitPoll)
	defer timer.Stop()
	for {
		woken := m.db.cpSignal.Wait()
		at, err := m.Position(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil && at >= position {
			return nil
		}
		timer.Reset(waitPoll)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", eventdesk.Errorf(eventdesk.EUnavailable,
				"the read models have not reached position %d yet (they are at %d); try again shortly", position, at), ctx.Err())
		case <-woken:
		case <-timer.C:
		}
	}
}

// startListener starts, once, the goroutine that LISTENs for projection
// commits of every node on a connection of its own and wakes local
// waiters. It reconnects with backoff; meanwhile waiters poll.
func (db *DB) startListener() {
	db.listenOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		db.stopListener = func() { cancel(); <-done }
		go func() {
			defer close(done)
			backoff := 100 * time.Millisecond
			for ctx.Err() == nil {
				err := db.listen(ctx)
				db.cpSignal.Broadcast() // let waiters look for themselves
				if ctx.Err() != nil {
					return
				}
				db.log.Warn("postgres: checkpoint listener lost its connection; retrying", "err", err, "in", backoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 5*time.Second)
			}
		}()
	})
}

func (db *DB) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+checkpointChannel); err != nil {
		return err
	}
	db.cpSignal.Broadcast() // commits may have happened while we were away
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		db.cpSignal.Broadcast()
	}
}
