package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/jackc/pgx/v5"
)

// Subscribers keeps the state of side-effect subscribers in PostgreSQL:
// checkpoints, the inbox of handled event ids and dead letters. It
// implements eventdesk.SubscriberStore, shares the DB's pool and is safe
// for concurrent use by every node.
type Subscribers struct {
	db *DB
}

var _ eventdesk.SubscriberStore = (*Subscribers)(nil)

// Subscribers returns the side-effect subscriber state of db.
func (db *DB) Subscribers() *Subscribers { return &Subscribers{db: db} }

// Checkpoint implements eventdesk.SubscriberStore.
func (s *Subscribers) Checkpoint(ctx context.Context, name string) (int64, bool, error) {
	var pos int64
	err := s.db.pool.QueryRow(ctx, "SELECT position FROM subscriber_checkpoints WHERE name = $1", name).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("postgres: subscriber checkpoint %s: %w", name, unavailable(err))
	}
	return pos, true, nil
}

const saveSubscriberCheckpoint = `INSERT INTO subscriber_checkpoints (name, position) VALUES ($1, $2)
	ON CONFLICT (name) DO UPDATE SET position = greatest(subscriber_checkpoints.position, excluded.position), updated_at = now()`

// SaveCheckpoint implements eventdesk.SubscriberStore.
func (s *Subscribers) SaveCheckpoint(ctx context.Context, name string, position int64) error {
	if _, err := s.db.pool.Exec(ctx, saveSubscriberCheckpoint, name, position); err != nil {
		return fmt.Errorf("postgres: save subscriber checkpoint %s: %w", name, unavailable(err))
	}
	return nil
}

// Handled implements eventdesk.SubscriberStore.
func (s *Subscribers) Handled(ctx context.Context, name, eventID string) (bool, error) {
	var ok bool
	err := s.db.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM subscriber_inbox WHERE name = $1 AND event_id = $2)", name, eventID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("postgres: handled %s %s: %w", name, eventID, unavailable(err))
	}
	return ok, nil
}

// MarkHandled implements eventdesk.SubscriberStore.
func (s *Subscribers) MarkHandled(ctx context.Context, name string, e eventdesk.Event) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue("INSERT INTO subscriber_inbox (name, event_id, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", name, e.ID, e.Position)
		b.Queue(saveSubscriberCheckpoint, name, e.Position)
		b.Queue("DELETE FROM dead_letters WHERE subscriber = $1 AND event_id = $2", name, e.ID)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: mark handled %s %s: %w", name, e.ID, unavailable(err))
	}
	if s.db.handled.Add(1)%1000 == 0 {
		s.pruneInbox(ctx)
	}
	return nil
}

// inboxRetention is how long handled event ids are kept once the
// subscriber's checkpoint has passed them: below the checkpoint, the
// checkpoint alone keeps an event from being handled again.
const inboxRetention = 7 * 24 * time.Hour

func (s *Subscribers) pruneInbox(ctx context.Context) {
	_, err := s.db.pool.Exec(ctx, `DELETE FROM subscriber_inbox i USING subscriber_checkpoints c
		WHERE c.name = i.name AND i.position <= c.position AND i.handled_at < $1`, time.Now().Add(-inboxRetention))
	if err != nil {
		s.db.log.Warn("postgres: prune subscriber inbox", "err", err)
	}
}

// Park implements eventdesk.SubscriberStore. Parking an event again (after
// a redrive failed) adds the attempts up.
func (s *Subscribers) Park(ctx context.Context, name string, e eventdesk.Event, attempts int, cause string) (eventdesk.DeadLetter, error) {
	ev, err := json.Marshal(e)
	if err != nil {
		return eventdesk.DeadLetter{}, fmt.Errorf("postgres: park %s %s: %w", name, e.ID, err)
	}
	d := eventdesk.DeadLetter{Subscriber: name, Event: e, Error: cause, FailedAt: eventdesk.NormalizeTime(time.Now())}
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO dead_letters (subscriber, event_id, event, attempts, error, failed_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (subscriber, event_id) DO UPDATE SET event = excluded.event, attempts = dead_letters.attempts + excluded.attempts,
				error = excluded.error, failed_at = excluded.failed_at, redriven = false
			RETURNING id, attempts`, name, e.ID, string(ev), attempts, cause, d.FailedAt).Scan(&d.ID, &d.Attempts)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, saveSubscriberCheckpoint, name, e.Position)
		return err
	})
	if err != nil {
		return eventdesk.DeadLetter{}, fmt.Errorf("postgres: park %s %s: %w", name, e.ID, unavailable(err))
	}
	return d, nil
}

const deadLetterColumns = "id, subscriber, event, attempts, error, failed_at, redriven"

func (s *Subscribers) deadLetters(ctx context.Context, where string, args ...any) ([]eventdesk.DeadLetter, error) {
	rows, err := s.db.pool.Query(ctx, "SELECT "+deadLetterColumns+" FROM dead_letters "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, unavailable(err)
	}
	out := []eventdesk.DeadLetter{}
	var d eventdesk.DeadLetter
	var ev []byte
	_, err = pgx.ForEachRow(rows, []any{&d.ID, &d.Subscriber, &ev, &d.Attempts, &d.Error, &d.FailedAt, &d.Redriven}, func() error {
		d.Event = eventdesk.Event{}
		if err := json.Unmarshal(ev, &d.Event); err != nil {
			return fmt.Errorf("dead letter %d: %w", d.ID, err)
		}
		d.FailedAt = d.FailedAt.UTC()
		d.Event.RecordedAt = d.Event.RecordedAt.UTC()
		out = append(out, d)
		return nil
	})
	return out, unavailable(err)
}

// DeadLetters implements eventdesk.SubscriberStore.
func (s *Subscribers) DeadLetters(ctx context.Context, name string) ([]eventdesk.DeadLetter, error) {
	var out []eventdesk.DeadLetter
	var err error
	if name == "" {
		out, err = s.deadLetters(ctx, "")
	} else {
		out, err = s.deadLetters(ctx, "WHERE subscriber = $1", name)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: dead letters: %w", err)
	}
	return out, nil
}

// Redrive implements eventdesk.SubscriberStore.
func (s *Subscribers) Redrive(ctx context.Context, id int64) error {
	tag, err := s.db.pool.Exec(ctx, "UPDATE dead_letters SET redriven = true WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("postgres: redrive %d: %w", id, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return eventdesk.Errorf(eventdesk.ENotFound, "dead letter %d not found", id)
	}
	return nil
}

// Redriven implements eventdesk.SubscriberStore.
func (s *Subscribers) Redriven(ctx context.Context, name string) ([]eventdesk.DeadLetter, error) {
	out, err := s.deadLetters(ctx, "WHERE subscriber = $1 AND redriven", name)
	if err != nil {
		return nil, fmt.Errorf("postgres: redriven %s: %w", name, err)
	}
	return out, nil
}
