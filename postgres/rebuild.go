package postgres

import (
	"context"
	"fmt"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/jackc/pgx/v5"
)

// Tables a rebuild fills before they are swapped in.
const (
	nextTickets  = "rm_tickets_next"
	nextCounters = "rm_counters_next"
)

// rebuildPage is how many events a rebuild applies per transaction.
const rebuildPage = 2000

// RebuildReadModels rebuilds the ticket read models from position 0
// (blue/green), while the nodes keep running: it projects every event into
// new tables, then, in one transaction that holds the ticket projection's
// checkpoint row (so the live projection, on whichever node, waits),
// applies the events committed meanwhile, swaps the new tables in, moves
// the checkpoint and drops the old tables. Readers wait only for the
// swap itself. If it fails, the live read models are untouched. Side
// effects are not involved: their state is elsewhere. progress (may be
// nil) gets the position reached and the head. It returns the position
// the new read models reached.
func (db *DB) RebuildReadModels(ctx context.Context, progress func(done, total int64)) (int64, error) {
	fail := func(err error) (int64, error) { return 0, fmt.Errorf("postgres: rebuild read models: %w", err) }
	// One rebuild at a time: a session lock on a connection of its own.
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fail(unavailable(err))
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended('eventdesk.rebuild', 0))").Scan(&locked); err != nil {
		return fail(unavailable(err))
	}
	if !locked {
		return fail(eventdesk.Errorf(eventdesk.EConflict, "another rebuild of the read models is running"))
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtextextended('eventdesk.rebuild', 0))")
	}()

	for _, stmt := range []string{
		"DROP TABLE IF EXISTS " + nextTickets + ", " + nextCounters,
		"CREATE TABLE " + nextTickets + " (LIKE " + liveTickets + " INCLUDING ALL)",
		"CREATE TABLE " + nextCounters + " (LIKE " + liveCounters + " INCLUDING ALL)",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fail(unavailable(err))
		}
	}
	dropNext := func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+nextTickets+", "+nextCounters)
	}

	// Catch up outside of any lock.
	var at int64
	for {
		n, err := db.rebuildPage(ctx, conn, &at)
		if err != nil {
			dropNext()
			return fail(err)
		}
		if progress != nil {
			if head, err := db.Head(ctx); err == nil {
				progress(at, max(head, at))
			}
		}
		if n < rebuildPage {
			break
		}
	}

	// Swap: hold the live projection's checkpoint, finish, rename.
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", projection.TicketsName); err != nil {
			return err
		}
		var live int64
		if err := tx.QueryRow(ctx, "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE", projection.TicketsName).Scan(&live); err != nil {
			return err
		}
		for {
			events, err := db.ReadAll(ctx, at, rebuildPage)
			if err != nil {
				return err
			}
			if len(events) == 0 {
				break
			}
			ptx := newProjTx(ctx, tx, nextTickets, nextCounters)
			if err := (projection.Tickets{}).ApplyAll(ctx, ptx, events); err != nil {
				return err
			}
			ptx.done = true
			if err := ptx.flush("", 0); err != nil {
				return err
			}
			at = events[len(events)-1].Position
		}
		for _, stmt := range []string{
			"ALTER TABLE " + liveTickets + " RENAME TO rm_tickets_old",
			"ALTER TABLE " + liveCounters + " RENAME TO rm_counters_old",
			"ALTER TABLE " + nextTickets + " RENAME TO " + liveTickets,
			"ALTER TABLE " + nextCounters + " RENAME TO " + liveCounters,
			"DROP TABLE rm_tickets_old, rm_counters_old",
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1", projection.TicketsName, at); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", checkpointChannel, projection.TicketsName)
		return err
	})
	if err != nil {
		dropNext()
		return fail(unavailable(err))
	}
	db.cpSignal.Broadcast()
	if progress != nil {
		progress(at, at)
	}
	return at, nil
}

// rebuildPage applies the next page of events after *at into the new
// tables, in one transaction, and returns how many there were.
func (db *DB) rebuildPage(ctx context.Context, conn interface {
	Begin(context.Context) (pgx.Tx, error)
}, at *int64) (int, error) {
	events, err := db.ReadAll(ctx, *at, rebuildPage)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		ptx := newProjTx(ctx, tx, nextTickets, nextCounters)
		if err := (projection.Tickets{}).ApplyAll(ctx, ptx, events); err != nil {
			return err
		}
		ptx.done = true
		return ptx.flush("", 0)
	})
	if err != nil {
		return 0, unavailable(err)
	}
	*at = events[len(events)-1].Position
	return len(events), nil
}
