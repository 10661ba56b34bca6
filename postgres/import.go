package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/verify"
	"github.com/jackc/pgx/v5"
)

// importHeadKey names the store_meta row holding the last position an
// import wrote.
const importHeadKey = "import_head"

// Importer writes events exactly as given — ids, streams, versions,
// positions, RecordedAt, metadata, hashes — for `eventdesk import` and
// `eventdesk migrate`. Everything written through one Importer commits
// together (Commit) or not at all: a failed import leaves the store as it
// was. It holds the position lock until then, so appends from any node
// wait.
type Importer struct {
	db      *DB
	tx      pgx.Tx
	next    int64 // the position of the next event
	chains  *verify.Chains
	seeded  map[string]bool
	run     importRun
	written int64
}

// importRun is the keyed append an import is in: the events that follow
// the event carrying an idempotency key in the same stream, at consecutive
// versions and positions, with the same RecordedAt (one command's `now`).
// The original append boundaries are not in the events, so this is how the
// key's result is rebuilt; it is exact for the appends eventdesk makes.
type importRun struct {
	key, stream, firstID, requestHash string
	version, position                 int64
	at                                time.Time
}

// BeginImport starts an import. The store must hold nothing but events of
// earlier, committed imports (so: empty the first time).
func (db *DB) BeginImport(ctx context.Context) (*Importer, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("postgres: import: %w", unavailable(err))
	}
	fail := func(err error) (*Importer, error) {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("postgres: import: %w", err)
	}
	var head int64
	if err := tx.QueryRow(ctx, "SELECT position FROM store_head FOR UPDATE").Scan(&head); err != nil {
		return fail(unavailable(err))
	}
	if head > 0 {
		var v []byte
		err := tx.QueryRow(ctx, "SELECT value FROM store_meta WHERE name = $1", importHeadKey).Scan(&v)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fail(unavailable(err))
		}
		if string(v) != strconv.FormatInt(head, 10) {
			return fail(eventdesk.Errorf(eventdesk.EConflict, "the store already holds %d events that were not imported: import needs an empty store", head))
		}
	}
	return &Importer{db: db, tx: tx, next: head + 1, chains: verify.NewChains(), seeded: map[string]bool{}}, nil
}

// Write checks and writes a batch of events, in log order. Each event must
// be valid, at the next position (0: the store assigns it, as when coming
// from a store without a global order), at the next version of its stream,
// and its hash must be ChainHash of the previous one. An error names the
// first offending event; the import must then be rolled back.
func (im *Importer) Write(ctx context.Context, events []eventdesk.Event) error {
	if len(events) == 0 {
		return nil
	}
	var streams []string
	for _, e := range events {
		if !im.seeded[e.Stream] {
			streams = append(streams, e.Stream)
		}
	}
	if len(streams) > 0 {
		rows, err := im.tx.Query(ctx, "SELECT stream, version, hash FROM streams WHERE stream = ANY($1)", streams)
		if err != nil {
			return fmt.Errorf("postgres: import: %w", unavailable(err))
		}
		var name, hash string
		var version int64
		if _, err := pgx.ForEachRow(rows, []any{&name, &version, &hash}, func() error {
			im.chains.Seed(name, version, hash)
			return nil
		}); err != nil {
			return fmt.Errorf("postgres: import: %w", unavailable(err))
		}
		for _, s := range streams {
			im.seeded[s] = true
		}
	}
	heads := map[string]streamHead{}
	var keys []importRun
	batch := make([]eventdesk.Event, 0, len(events))
	for i, e := range events {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("postgres: import: %w", eventdesk.Errorf(eventdesk.EInvalid, "event %d of the batch (%s v%d, id %s, position %d): %s",
				i, e.Stream, e.Version, e.ID, e.Position, fmt.Sprintf(format, args...)))
		}
		in := []eventdesk.EventData{{ID: e.ID, Type: e.Type, Schema: e.Schema, Data: e.Data}}
		if err := eventdesk.ValidateAppend(e.Stream, eventdesk.AnyVersion, in); err != nil {
			return bad("%v", err)
		}
		e.RecordedAt = eventdesk.NormalizeTime(e.RecordedAt)
		switch e.Position {
		case 0:
			e.Position = im.next
		case im.next:
		default:
			return bad("position %d does not follow position %d", e.Position, im.next-1)
		}
		for _, b := range im.chains.Check(e) {
			return bad("%s", b.Message)
		}
		im.next++
		batch = append(batch, e)
		heads[e.Stream] = streamHead{version: e.Version, position: e.Position, hash: e.Hash}

		key := e.Metadata.IdempotencyKey
		r := &im.run
		if r.key != "" && r.stream == e.Stream && r.version+1 == e.Version && r.position+1 == e.Position &&
			r.at.Equal(e.RecordedAt) && (key == "" || key == r.key) {
			r.version, r.position = e.Version, e.Position
			continue
		}
		if r.key != "" {
			keys = append(keys, *r)
		}
		im.run = importRun{}
		if key != "" {
			im.run = importRun{key: key, stream: e.Stream, firstID: e.ID, requestHash: e.Metadata.RequestHash,
				version: e.Version, position: e.Position, at: e.RecordedAt}
		}
	}
	if im.run.key != "" {
		keys = append(keys, im.run) // written now, updated if the run goes on
	}

	b := &pgx.Batch{}
	if err := queueEvents(b, batch); err != nil {
		return fmt.Errorf("postgres: import: %w", err)
	}
	for name, h := range heads {
		b.Queue(`INSERT INTO streams (stream, version, position, hash) VALUES ($1, $2, $3, $4)
			ON CONFLICT (stream) DO UPDATE SET version = excluded.version, position = excluded.position, hash = excluded.hash`,
			name, h.version, h.position, h.hash)
	}
	for _, k := range keys {
		b.Queue(`INSERT INTO append_keys (key, stream, first_event_id, version, position, request_hash) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (key) DO UPDATE SET version = excluded.version, position = excluded.position
			WHERE append_keys.first_event_id = excluded.first_event_id`,
			k.key, k.stream, k.firstID, k.version, k.position, k.requestHash)
	}
	b.Queue("UPDATE store_head SET position = $1", im.next-1)
	b.Queue(`INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		importHeadKey, []byte(strconv.FormatInt(im.next-1, 10)))
	if err := im.tx.SendBatch(ctx, b).Close(); err != nil {
		err = translate(err)
		if eventdesk.ErrorCode(err) == eventdesk.EConflict {
			return fmt.Errorf("postgres: import: an event id or idempotency key of this batch already exists: %w", err)
		}
		return fmt.Errorf("postgres: import: %w", err)
	}
	im.written += int64(len(batch))
	return nil
}

// Head returns the position of the last event written so far.
func (im *Importer) Head() int64 { return im.next - 1 }

// Commit makes the import durable and visible.
func (im *Importer) Commit(ctx context.Context) error {
	if err := im.tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: import: commit: %w", unavailable(err))
	}
	if im.written > 0 {
		im.db.signal.Broadcast()
	}
	return nil
}

// Rollback abandons the import; after Commit it does nothing.
func (im *Importer) Rollback(ctx context.Context) error {
	err := im.tx.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

// Verify checks the whole event store in one pass in position order:
// positions run 1, 2, 3… without a gap, each stream's versions run 1, 2,
// 3… and each hash is ChainHash of the previous event's. progress may be
// nil. The error is for failing to read; breaks go in the report.
func (db *DB) Verify(ctx context.Context, progress func(done, total int64)) (verify.Report, error) {
	head, err := db.Head(ctx)
	if err != nil {
		return verify.Report{}, err
	}
	rep, err := verify.Log(ctx, db, head, progress)
	if err != nil {
		return rep, fmt.Errorf("postgres: verify: %w", err)
	}
	if rep.LastPosition < head {
		rep.Add(verify.Break{Kind: verify.KindPosition, Position: rep.LastPosition,
			Message: fmt.Sprintf("the store's head is %d but the last event is at position %d", head, rep.LastPosition)})
	}
	return rep, nil
}

// Secret returns the named secret of the store (size random bytes, made by
// the first node that asks), so that every node of a cluster signs and
// checks sessions with the same key.
func (db *DB) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("postgres: secret %s: %w", name, err)
	}
	for attempt := 1; ; attempt++ {
		var v []byte
		err := db.pool.QueryRow(ctx, `WITH ins AS (
				INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value)
			SELECT value FROM ins UNION ALL SELECT value FROM store_meta WHERE name = $1 LIMIT 1`, "secret:"+name, fresh).Scan(&v)
		// No row: another node inserted it concurrently, after this
		// statement's snapshot; the next attempt sees it.
		if errors.Is(err, pgx.ErrNoRows) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: secret %s: %w", name, unavailable(err))
		}
		return v, nil
	}
}
