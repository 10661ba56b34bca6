package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
)

// SubscribersFile is the name of the side-effect subscribers' state
// database in a data directory. It is apart from the read models so that a
// rebuild, which replaces readmodels.db, can never make a side effect fire
// twice.
const SubscribersFile = "subscribers.db"

//go:embed migrations/subscribers/*.sql
var subscriberMigrations embed.FS

// subscribersSchema is the subscriber-state file: application_id "EvSB".
var subscribersSchema = schema{name: "subscriber state", appID: 0x45765342, files: mustSub(subscriberMigrations, "migrations/subscribers")}

// SubscriberStateOptions tune SubscriberState. The zero value is a sensible
// default.
type SubscriberStateOptions struct {
	// InboxRetention is how long handled event ids are kept once the
	// checkpoint has passed them (the checkpoint alone deduplicates
	// below it). Default 7 days.
	InboxRetention time.Duration
	// Logger receives operational messages. Default slog.Default().
	Logger *slog.Logger
}

// SubscriberState implements eventdesk.SubscriberStore in
// <dir>/subscribers.db: checkpoints, inbox and dead letters of side-effect
// subscribers. Every change is synced before it returns. It is safe for
// concurrent use.
type SubscriberState struct {
	path  string
	opts  SubscriberStateOptions
	write *sql.DB // one connection, IMMEDIATE transactions
	read  *sql.DB

	mu     sync.Mutex
	marks  int // MarkHandled calls since the last inbox pruning
	closed bool
}

var _ eventdesk.SubscriberStore = (*SubscriberState)(nil)

// OpenSubscriberState opens (creating and migrating if needed)
// <dir>/subscribers.db on its own, without locking the directory: for
// tools and tests. A server opens it through DB.OpenSubscriberState.
func OpenSubscriberState(dir string, opts SubscriberStateOptions) (*SubscriberState, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.InboxRetention <= 0 {
		opts.InboxRetention = 7 * 24 * time.Hour
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: subscriber state: %w", err)
	}
	path := filepath.Join(dir, SubscribersFile)
	write, read, err := openFile(context.Background(), path, subscribersSchema, options{logger: opts.Logger, readers: 4})
	if err != nil {
		return nil, err
	}
	return &SubscriberState{path: path, opts: opts, write: write, read: read}, nil
}

// OpenSubscriberState opens the subscriber state of db's data directory
// and closes it when db closes.
func (db *DB) OpenSubscriberState(opts SubscriberStateOptions) (*SubscriberState, error) {
	if opts.Logger == nil {
		opts.Logger = db.opts.logger
	}
	s, err := OpenSubscriberState(db.dir, opts)
	if err != nil {
		return nil, err
	}
	db.onClose(s.Close)
	return s, nil
}

// Close releases the database.
func (s *SubscriberState) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := errors.Join(s.read.Close(), s.write.Close()); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// Checkpoint implements eventdesk.SubscriberStore.
func (s *SubscriberState) Checkpoint(ctx context.Context, name string) (int64, bool, error) {
	var pos int64
	err := s.read.QueryRowContext(ctx, "SELECT position FROM subscriber_checkpoints WHERE name = ?", name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: subscriber %s: checkpoint: %w", name, err)
	}
	return pos, true, nil
}

const saveSubscriberCheckpoint = `INSERT INTO subscriber_checkpoints (name, position, updated_at) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position), updated_at = excluded.updated_at`

// saveHandledCheckpoint is saveSubscriberCheckpoint for a write that
// also puts events into the inbox, up to position handled_to.
const saveHandledCheckpoint = `INSERT INTO subscriber_checkpoints (name, position, updated_at, handled_to) VALUES (?, ?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position), updated_at = excluded.updated_at,
	handled_to = max(handled_to, excluded.handled_to)`

// InboxBound implements subscription.InboxBound: no event after the
// returned position is in name's inbox.
func (s *SubscriberState) InboxBound(ctx context.Context, name string) (int64, error) {
	var to int64
	err := s.read.QueryRowContext(ctx, "SELECT handled_to FROM subscriber_checkpoints WHERE name = ?", name).Scan(&to)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: subscriber %s: inbox bound: %w", name, err)
	}
	return to, nil
}

// SaveCheckpoint implements eventdesk.SubscriberStore.
func (s *SubscriberState) SaveCheckpoint(ctx context.Context, name string, position int64) error {
	if _, err := s.write.ExecContext(ctx, saveSubscriberCheckpoint, name, position, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("sqlite: subscriber %s: save checkpoint: %w", name, err)
	}
	return nil
}

// Handled implements eventdesk.SubscriberStore.
func (s *SubscriberState) Handled(ctx context.Context, name, eventID string) (bool, error) {
	var one int
	err := s.read.QueryRowContext(ctx, "SELECT 1 FROM subscriber_inbox WHERE subscriber = ? AND event_id = ?", name, eventID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: subscriber %s: inbox: %w", name, err)
	}
	return true, nil
}

// inTx runs fn in one write transaction.
func (s *SubscriberState) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// MarkHandled implements eventdesk.SubscriberStore.
func (s *SubscriberState) MarkHandled(ctx context.Context, name string, e eventdesk.Event) error {
	now := time.Now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO subscriber_inbox (subscriber, event_id, position, handled_at) VALUES (?, ?, ?, ?)",
			name, e.ID, e.Position, now.UnixMicro()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, saveHandledCheckpoint, name, e.Position, now.UnixMicro(), e.Position); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM dead_letters WHERE subscriber = ? AND event_id = ?", name, e.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: subscriber %s: mark event %s handled: %w", name, e.ID, err)
	}
	s.mu.Lock()
	s.marks++
	prune := s.marks >= 1000
	if prune {
		s.marks = 0
	}
	s.mu.Unlock()
	if prune {
		s.pruneInbox(ctx, now)
	}
	return nil
}

// MarkHandledBatch implements subscription.BatchMarker: the inbox rows of
// events, their dead letters removed and the checkpoint moved, in one
// transaction (one sync for the whole batch).
func (s *SubscriberState) MarkHandledBatch(ctx context.Context, name string, events []eventdesk.Event, checkpoint int64) error {
	now := time.Now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO subscriber_inbox (subscriber, event_id, position, handled_at) VALUES (?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer ins.Close()
		del, err := tx.PrepareContext(ctx, "DELETE FROM dead_letters WHERE subscriber = ? AND event_id = ?")
		if err != nil {
			return err
		}
		defer del.Close()
		var to int64
		for _, e := range events {
			if _, err := ins.ExecContext(ctx, name, e.ID, e.Position, now.UnixMicro()); err != nil {
				return err
			}
			if _, err := del.ExecContext(ctx, name, e.ID); err != nil {
				return err
			}
			to = max(to, e.Position)
		}
		_, err = tx.ExecContext(ctx, saveHandledCheckpoint, name, checkpoint, now.UnixMicro(), to)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: subscriber %s: mark %d events handled: %w", name, len(events), err)
	}
	s.mu.Lock()
	s.marks += len(events)
	prune := s.marks >= 1000
	if prune {
		s.marks = 0
	}
	s.mu.Unlock()
	if prune {
		s.pruneInbox(ctx, now)
	}
	return nil
}

// pruneInbox forgets handled ids older than the retention that the
// subscriber's checkpoint has passed: below it, the checkpoint alone
// keeps them from being handled again.
func (s *SubscriberState) pruneInbox(ctx context.Context, now time.Time) {
	_, err := s.write.ExecContext(ctx, `DELETE FROM subscriber_inbox WHERE handled_at < ? AND position <=
		(SELECT position FROM subscriber_checkpoints c WHERE c.name = subscriber_inbox.subscriber)`,
		now.Add(-s.opts.InboxRetention).UnixMicro())
	if err != nil {
		s.opts.Logger.Warn("sqlite: prune subscriber inbox", "err", err)
	}
}

// Park implements eventdesk.SubscriberStore.
func (s *SubscriberState) Park(ctx context.Context, name string, e eventdesk.Event, attempts int, cause string) (eventdesk.DeadLetter, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return eventdesk.DeadLetter{}, fmt.Errorf("sqlite: subscriber %s: park event %s: %w", name, e.ID, err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	d := eventdesk.DeadLetter{Subscriber: name, Event: e, Error: cause, FailedAt: now}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO dead_letters (subscriber, event_id, position, event, attempts, error, failed_at, redriven)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0)
			ON CONFLICT (subscriber, event_id) DO UPDATE SET attempts = attempts + excluded.attempts,
				error = excluded.error, failed_at = excluded.failed_at, redriven = 0
			RETURNING id, attempts`,
			name, e.ID, e.Position, body, attempts, cause, now.UnixMicro()).Scan(&d.ID, &d.Attempts)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, saveSubscriberCheckpoint, name, e.Position, now.UnixMicro())
		return err
	})
	if err != nil {
		return eventdesk.DeadLetter{}, fmt.Errorf("sqlite: subscriber %s: park event %s: %w", name, e.ID, err)
	}
	return d, nil
}

// DeadLetters implements eventdesk.SubscriberStore.
func (s *SubscriberState) DeadLetters(ctx context.Context, name string) ([]eventdesk.DeadLetter, error) {
	return s.deadLetters(ctx, "(? = '' OR subscriber = ?)", name, name)
}

// Redriven implements eventdesk.SubscriberStore.
func (s *SubscriberState) Redriven(ctx context.Context, name string) ([]eventdesk.DeadLetter, error) {
	return s.deadLetters(ctx, "subscriber = ? AND redriven = 1", name)
}

func (s *SubscriberState) deadLetters(ctx context.Context, where string, args ...any) ([]eventdesk.DeadLetter, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT id, subscriber, event, attempts, error, failed_at, redriven FROM dead_letters WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: dead letters: %w", err)
	}
	defer rows.Close()
	var out []eventdesk.DeadLetter
	for rows.Next() {
		var d eventdesk.DeadLetter
		var body []byte
		var failed int64
		if err := rows.Scan(&d.ID, &d.Subscriber, &body, &d.Attempts, &d.Error, &failed, &d.Redriven); err != nil {
			return nil, fmt.Errorf("sqlite: dead letters: %w", err)
		}
		if err := json.Unmarshal(body, &d.Event); err != nil {
			return nil, fmt.Errorf("sqlite: dead letter %d: %w", d.ID, err)
		}
		d.FailedAt = time.UnixMicro(failed).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: dead letters: %w", err)
	}
	return out, nil
}

// Redrive implements eventdesk.SubscriberStore.
func (s *SubscriberState) Redrive(ctx context.Context, id int64) error {
	res, err := s.write.ExecContext(ctx, "UPDATE dead_letters SET redriven = 1 WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("sqlite: redrive dead letter %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: redrive dead letter %d: %w", id, err)
	} else if n == 0 {
		return eventdesk.Errorf(eventdesk.ENotFound, "dead letter %d not found", id)
	}
	return nil
}
