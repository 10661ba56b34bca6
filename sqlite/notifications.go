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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/webhook"
)

// NotificationsFile is the name of the notification subscribers' database
// in a data directory: webhook endpoints (configuration, with their
// secrets), the webhook delivery outbox and log, and users' notification
// preferences. Like subscribers.db it is never rebuilt, and it is opened
// without the directory lock so that the CLI can use it beside a server.
const NotificationsFile = "notifications.db"

//go:embed migrations/notifications/*.sql
var notificationsMigrations embed.FS

// notificationsSchema is the notifications file: application_id "EvNo".
var notificationsSchema = schema{name: "notifications", appID: 0x45764e6f, files: mustSub(notificationsMigrations, "migrations/notifications")}

// Notifications implements webhook.Store and the notification preferences
// in <dir>/notifications.db. Every change is synced before it returns. It
// is safe for concurrent use.
type Notifications struct {
	path  string
	write *sql.DB
	read  *sql.DB

	mu     sync.Mutex
	closed bool

	// The endpoints as Endpoints last read them: the webhook enqueuer
	// asks for every event, and they change rarely. epGen counts the
	// writes to webhook_endpoints (each bumps it once committed); a list
	// read while one happened is not kept, so that a cached answer is
	// never older than what a query would have answered.
	epMu     sync.Mutex
	epGen    uint64
	epCached []webhook.Endpoint
	epValid  bool
}

var _ webhook.Store = (*Notifications)(nil)

// OpenNotifications opens (creating and migrating if needed)
// <dir>/notifications.db on its own, without locking the directory.
func OpenNotifications(dir string, logger *slog.Logger) (*Notifications, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: notifications: %w", err)
	}
	path := filepath.Join(dir, NotificationsFile)
	write, read, err := openFile(context.Background(), path, notificationsSchema, options{logger: logger, readers: 4})
	if err != nil {
		return nil, err
	}
	return &Notifications{path: path, write: write, read: read}, nil
}

// OpenNotifications opens the notifications database of db's data
// directory and closes it when db closes.
func (db *DB) OpenNotifications() (*Notifications, error) {
	n, err := OpenNotifications(db.dir, db.opts.logger)
	if err != nil {
		return nil, err
	}
	db.onClose(n.Close)
	return n, nil
}

// Close releases the database.
func (n *Notifications) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if err := errors.Join(n.read.Close(), n.write.Close()); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", n.path, err)
	}
	return nil
}

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func errWebhookNotFound() error { return eventdesk.Errorf(eventdesk.ENotFound, "webhook not found") }

// CreateEndpoint implements webhook.Store.
func (n *Notifications) CreateEndpoint(ctx context.Context, e webhook.Endpoint) error {
	defer n.endpointsChanged()
	types, err := json.Marshal(nonNilStrings(e.EventTypes))
	if err != nil {
		return fmt.Errorf("sqlite: create webhook: %w", err)
	}
	secrets, err := json.Marshal(e.Secrets)
	if err != nil {
		return fmt.Errorf("sqlite: create webhook: %w", err)
	}
	_, err = n.write.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, url, event_types, description, secrets, created_at, created_by, start_position)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.URL, string(types), e.Description, string(secrets), e.CreatedAt.UnixMicro(), e.CreatedBy, e.StartPosition)
	if err != nil {
		return fmt.Errorf("sqlite: create webhook: %w", err)
	}
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const endpointColumns = `id, url, event_types, description, secrets, created_at, created_by, start_position,
	disabled, disabled_at, disabled_reason, failing_since, consecutive_failures`

func scanEndpoint(row interface{ Scan(...any) error }) (webhook.Endpoint, error) {
	var e webhook.Endpoint
	var types, secrets string
	var created int64
	var disabledAt, failingSince sql.NullInt64
	if err := row.Scan(&e.ID, &e.URL, &types, &e.Description, &secrets, &created, &e.CreatedBy, &e.StartPosition,
		&e.Disabled, &disabledAt, &e.DisabledReason, &failingSince, &e.ConsecutiveFailures); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(types), &e.EventTypes); err != nil {
		return e, fmt.Errorf("event types of webhook %s: %w", e.ID, err)
	}
	if err := json.Unmarshal([]byte(secrets), &e.Secrets); err != nil {
		return e, fmt.Errorf("secrets of webhook %s: %w", e.ID, err)
	}
	e.CreatedAt = time.UnixMicro(created).UTC()
	e.DisabledAt, e.FailingSince = fromNullMicros(disabledAt), fromNullMicros(failingSince)
	return e, nil
}

// Endpoint implements webhook.Store.
func (n *Notifications) Endpoint(ctx context.Context, id string) (webhook.Endpoint, error) {
	e, err := scanEndpoint(n.read.QueryRowContext(ctx, "SELECT "+endpointColumns+" FROM webhook_endpoints WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, errWebhookNotFound()
	}
	if err != nil {
		return e, fmt.Errorf("sqlite: webhook %s: %w", id, err)
	}
	return e, nil
}

// Endpoints implements webhook.Store.
func (n *Notifications) Endpoints(ctx context.Context) ([]webhook.Endpoint, error) {
	n.epMu.Lock()
	if n.epValid {
		out := slices.Clone(n.epCached)
		n.epMu.Unlock()
		return out, nil
	}
	gen := n.epGen
	n.epMu.Unlock()
	out, err := n.readEndpoints(ctx)
	if err != nil {
		return nil, err
	}
	n.epMu.Lock()
	if n.epGen == gen {
		n.epCached, n.epValid = slices.Clone(out), true
	}
	n.epMu.Unlock()
	return out, nil
}

// endpointsChanged forgets the cached endpoints; every write to
// webhook_endpoints calls it when done, committed or not.
func (n *Notifications) endpointsChanged() {
	n.epMu.Lock()
	n.epGen++
	n.epCached, n.epValid = nil, false
	n.epMu.Unlock()
}

// readEndpoints reads every endpoint from the file.
func (n *Notifications) readEndpoints(ctx context.Context) ([]webhook.Endpoint, error) {
	rows, err := n.read.QueryContext(ctx, "SELECT "+endpointColumns+" FROM webhook_endpoints ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: webhooks: %w", err)
	}
	defer rows.Close()
	var out []webhook.Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: webhooks: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: webhooks: %w", err)
	}
	return out, nil
}

// exec runs a statement that must touch one endpoint.
func (n *Notifications) execEndpoint(ctx context.Context, what, id, query string, args ...any) error {
	res, err := n.write.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s webhook %s: %w", what, id, err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: %s webhook %s: %w", what, id, err)
	} else if k == 0 {
		return errWebhookNotFound()
	}
	return nil
}

// SetSecrets implements webhook.Store.
func (n *Notifications) SetSecrets(ctx context.Context, id string, secrets []webhook.Secret) error {
	defer n.endpointsChanged()
	b, err := json.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("sqlite: webhook %s secrets: %w", id, err)
	}
	return n.execEndpoint(ctx, "rotate secret of", id, "UPDATE webhook_endpoints SET secrets = ? WHERE id = ?", string(b), id)
}

// SetDisabled implements webhook.Store.
func (n *Notifications) SetDisabled(ctx context.Context, id string, disabled bool, reason string, at time.Time) error {
	defer n.endpointsChanged()
	if disabled {
		return n.execEndpoint(ctx, "disable", id, "UPDATE webhook_endpoints SET disabled = 1, disabled_at = ?, disabled_reason = ? WHERE id = ?", at.UnixMicro(), reason, id)
	}
	return n.execEndpoint(ctx, "enable", id, `UPDATE webhook_endpoints SET disabled = 0, disabled_at = NULL, disabled_reason = '',
		failing_since = NULL, consecutive_failures = 0 WHERE id = ?`, id)
}

// inTx runs fn in one write transaction.
func (n *Notifications) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := n.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// DeleteEndpoint implements webhook.Store.
func (n *Notifications) DeleteEndpoint(ctx context.Context, id string) error {
	defer n.endpointsChanged()
	found := true
	err := n.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM webhook_endpoints WHERE id = ?", id)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k == 0 {
			found = false
			return nil
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM webhook_deliveries WHERE endpoint_id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete webhook %s: %w", id, err)
	}
	if !found {
		return errWebhookNotFound()
	}
	return nil
}

// Enqueue implements webhook.Store.
func (n *Notifications) Enqueue(ctx context.Context, ds []webhook.Delivery) error {
	err := n.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO webhook_deliveries
			(endpoint_id, event_id, event_type, stream, position, version, payload, status, created_at, next_attempt_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, d := range ds {
			if _, err := stmt.ExecContext(ctx, d.EndpointID, d.EventID, d.EventType, d.Stream, d.Position, d.Version, d.Payload,
				d.CreatedAt.UnixMicro(), d.NextAttemptAt.UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: enqueue webhook deliveries: %w", err)
	}
	return nil
}

const deliveryColumns = `d.seq, d.endpoint_id, d.event_id, d.event_type, d.stream, d.position, d.version, d.payload, d.status,
	d.attempts, d.created_at, d.next_attempt_at, d.delivered_at, d.last_attempt_at, d.last_status_code, d.last_latency_us, d.last_error`

func scanDeliveries(rows *sql.Rows) ([]webhook.Delivery, error) {
	defer rows.Close()
	var out []webhook.Delivery
	for rows.Next() {
		var d webhook.Delivery
		var created int64
		var next, delivered, last sql.NullInt64
		var latency int64
		var status string
		if err := rows.Scan(&d.Seq, &d.EndpointID, &d.EventID, &d.EventType, &d.Stream, &d.Position, &d.Version, &d.Payload, &status,
			&d.Attempts, &created, &next, &delivered, &last, &d.LastStatusCode, &latency, &d.LastError); err != nil {
			return nil, err
		}
		d.Status = webhook.Status(status)
		d.CreatedAt = time.UnixMicro(created).UTC()
		d.NextAttemptAt, d.DeliveredAt, d.LastAttemptAt = fromNullMicros(next), fromNullMicros(delivered), fromNullMicros(last)
		d.LastLatency = time.Duration(latency) * time.Microsecond
		out = append(out, d)
	}
	return out, rows.Err()
}

// Due implements webhook.Store.
func (n *Notifications) Due(ctx context.Context, now time.Time, limit int) ([]webhook.Delivery, error) {
	rows, err := n.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled = 0
		WHERE d.status = 'pending' AND d.next_attempt_at <= ?
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.status = 'pending'
			AND p.endpoint_id = d.endpoint_id AND p.stream = d.stream AND p.position < d.position)
		ORDER BY d.next_attempt_at, d.seq LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: due webhook deliveries: %w", err)
	}
	ds, err := scanDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: due webhook deliveries: %w", err)
	}
	return ds, nil
}

// NextDue implements webhook.Store.
func (n *Notifications) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := n.read.QueryRowContext(ctx, `SELECT min(d.next_attempt_at) FROM webhook_deliveries d
		JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled = 0 WHERE d.status = 'pending'`).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next webhook delivery: %w", err)
	}
	return fromNullMicros(next), next.Valid, nil
}

// RecordAttempt implements webhook.Store.
func (n *Notifications) RecordAttempt(ctx context.Context, a webhook.Attempt) (time.Time, int, error) {
	defer n.endpointsChanged()
	var failingSince sql.NullInt64
	var failures int
	err := n.inTx(ctx, func(tx *sql.Tx) error {
		var delivered any
		if a.Status == webhook.StatusDelivered {
			delivered = a.At.UnixMicro()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,
			delivered_at = ?, last_attempt_at = ?, last_status_code = ?, last_latency_us = ?, last_error = ? WHERE seq = ?`,
			string(a.Status), nullMicros(a.NextAttemptAt), delivered, a.At.UnixMicro(), a.StatusCode, a.Latency.Microseconds(), a.Error, a.Seq); err != nil {
			return err
		}
		ok := a.Status == webhook.StatusDelivered
		err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET
			consecutive_failures = CASE WHEN ? THEN 0 ELSE consecutive_failures + 1 END,
			failing_since = CASE WHEN ? THEN NULL ELSE coalesce(failing_since, ?) END
			WHERE id = ? RETURNING failing_since, consecutive_failures`, ok, ok, a.At.UnixMicro(), a.EndpointID).Scan(&failingSince, &failures)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // deleted meanwhile
		}
		return err
	})
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("sqlite: record webhook attempt %d: %w", a.Seq, err)
	}
	return fromNullMicros(failingSince), failures, nil
}

// Requeue implements webhook.Store.
func (n *Notifications) Requeue(ctx context.Context, endpointID, eventID string, at time.Time) (webhook.Status, error) {
	var before string
	err := n.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT status FROM webhook_deliveries WHERE endpoint_id = ? AND event_id = ?", endpointID, eventID).Scan(&before)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil || before != string(webhook.StatusDead) {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?
			WHERE endpoint_id = ? AND event_id = ?`, at.UnixMicro(), endpointID, eventID)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: requeue webhook delivery of %s to %s: %w", eventID, endpointID, err)
	}
	return webhook.Status(before), nil
}

// Deliveries implements webhook.Store.
func (n *Notifications) Deliveries(ctx context.Context, endpointID string, before int64, limit int) ([]webhook.Delivery, error) {
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d WHERE d.endpoint_id = ?`
	args := []any{endpointID}
	if before > 0 {
		q += " AND d.seq < ?"
		args = append(args, before)
	}
	rows, err := n.read.QueryContext(ctx, q+" ORDER BY d.seq DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: webhook deliveries: %w", err)
	}
	ds, err := scanDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: webhook deliveries: %w", err)
	}
	return ds, nil
}

// Counts implements webhook.Store.
func (n *Notifications) Counts(ctx context.Context) (map[string]map[webhook.Status]int64, error) {
	rows, err := n.read.QueryContext(ctx, "SELECT endpoint_id, status, count(*) FROM webhook_deliveries GROUP BY endpoint_id, status")
	if err != nil {
		return nil, fmt.Errorf("sqlite: count webhook deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string]map[webhook.Status]int64{}
	for rows.Next() {
		var id, status string
		var c int64
		if err := rows.Scan(&id, &status, &c); err != nil {
			return nil, fmt.Errorf("sqlite: count webhook deliveries: %w", err)
		}
		if out[id] == nil {
			out[id] = map[webhook.Status]int64{}
		}
		out[id][webhook.Status(status)] = c
	}
	return out, rows.Err()
}

// Prune implements webhook.Store.
func (n *Notifications) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := n.write.ExecContext(ctx, "DELETE FROM webhook_deliveries WHERE status = 'delivered' AND delivered_at < ?", cutoff.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune webhook deliveries: %w", err)
	}
	k, _ := res.RowsAffected()
	return k, nil
}

// EmailOptOut reports whether user turned e-mail notifications off.
func (n *Notifications) EmailOptOut(ctx context.Context, user string) (bool, error) {
	var out bool
	err := n.read.QueryRowContext(ctx, "SELECT email_opt_out FROM notification_preferences WHERE user = ?", user).Scan(&out)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: preferences of %s: %w", user, err)
	}
	return out, nil
}

// SetEmailOptOut turns user's e-mail notifications off (true) or on.
func (n *Notifications) SetEmailOptOut(ctx context.Context, user string, optOut bool) error {
	if strings.TrimSpace(user) == "" {
		return eventdesk.FieldError("user", "must not be empty")
	}
	_, err := n.write.ExecContext(ctx, `INSERT INTO notification_preferences (user, email_opt_out, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (user) DO UPDATE SET email_opt_out = excluded.email_opt_out, updated_at = excluded.updated_at`,
		user, optOut, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite: set preferences of %s: %w", user, err)
	}
	return nil
}
