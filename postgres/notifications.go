package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/webhook"
	"github.com/jackc/pgx/v5"
)

// Notifications implements webhook.Store and the users' notification
// preferences in PostgreSQL (migration 0006). It shares the DB's pool and
// is safe for concurrent use by every node; the webhook dispatcher runs on
// one node at a time (its lease).
type Notifications struct {
	db *DB
}

var _ webhook.Store = (*Notifications)(nil)

// Notifications returns the notification state of db.
func (db *DB) Notifications() *Notifications { return &Notifications{db: db} }

func errWebhookNotFound() error { return eventdesk.Errorf(eventdesk.ENotFound, "webhook not found") }

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// CreateEndpoint implements webhook.Store.
func (n *Notifications) CreateEndpoint(ctx context.Context, e webhook.Endpoint) error {
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	tb, _ := json.Marshal(types)
	sb, err := json.Marshal(e.Secrets)
	if err != nil {
		return fmt.Errorf("postgres: create webhook: %w", err)
	}
	_, err = n.db.pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, url, event_types, description, secrets, created_at, created_by, start_position)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, e.URL, string(tb), e.Description, string(sb), e.CreatedAt.UTC(), e.CreatedBy, e.StartPosition)
	if err != nil {
		return fmt.Errorf("postgres: create webhook: %w", unavailable(err))
	}
	return nil
}

const pgEndpointColumns = `id, url, event_types::text, description, secrets::text, created_at, created_by, start_position,
	disabled, disabled_at, disabled_reason, failing_since, consecutive_failures`

func scanPgEndpoint(row pgx.Row) (webhook.Endpoint, error) {
	var e webhook.Endpoint
	var types, secrets string
	var disabledAt, failingSince *time.Time
	if err := row.Scan(&e.ID, &e.URL, &types, &e.Description, &secrets, &e.CreatedAt, &e.CreatedBy, &e.StartPosition,
		&e.Disabled, &disabledAt, &e.DisabledReason, &failingSince, &e.ConsecutiveFailures); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(types), &e.EventTypes); err != nil {
		return e, fmt.Errorf("event types of webhook %s: %w", e.ID, err)
	}
	if err := json.Unmarshal([]byte(secrets), &e.Secrets); err != nil {
		return e, fmt.Errorf("secrets of webhook %s: %w", e.ID, err)
	}
	e.CreatedAt = e.CreatedAt.UTC()
	e.DisabledAt, e.FailingSince = fromNull(disabledAt), fromNull(failingSince)
	return e, nil
}

// Endpoint implements webhook.Store.
func (n *Notifications) Endpoint(ctx context.Context, id string) (webhook.Endpoint, error) {
	e, err := scanPgEndpoint(n.db.pool.QueryRow(ctx, "SELECT "+pgEndpointColumns+" FROM webhook_endpoints WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, errWebhookNotFound()
	}
	if err != nil {
		return e, fmt.Errorf("postgres: webhook %s: %w", id, unavailable(err))
	}
	return e, nil
}

// Endpoints implements webhook.Store.
func (n *Notifications) Endpoints(ctx context.Context) ([]webhook.Endpoint, error) {
	rows, err := n.db.pool.Query(ctx, "SELECT "+pgEndpointColumns+" FROM webhook_endpoints ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("postgres: webhooks: %w", unavailable(err))
	}
	defer rows.Close()
	var out []webhook.Endpoint
	for rows.Next() {
		e, err := scanPgEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: webhooks: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: webhooks: %w", unavailable(err))
	}
	return out, nil
}

func (n *Notifications) execEndpoint(ctx context.Context, what, id, query string, args ...any) error {
	tag, err := n.db.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s webhook %s: %w", what, id, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return errWebhookNotFound()
	}
	return nil
}

// SetSecrets implements webhook.Store.
func (n *Notifications) SetSecrets(ctx context.Context, id string, secrets []webhook.Secret) error {
	b, err := json.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("postgres: webhook %s secrets: %w", id, err)
	}
	return n.execEndpoint(ctx, "rotate secret of", id, "UPDATE webhook_endpoints SET secrets = $1 WHERE id = $2", string(b), id)
}

// SetDisabled implements webhook.Store.
func (n *Notifications) SetDisabled(ctx context.Context, id string, disabled bool, reason string, at time.Time) error {
	if disabled {
		return n.execEndpoint(ctx, "disable", id, "UPDATE webhook_endpoints SET disabled = true, disabled_at = $1, disabled_reason = $2 WHERE id = $3", at.UTC(), reason, id)
	}
	return n.execEndpoint(ctx, "enable", id, `UPDATE webhook_endpoints SET disabled = false, disabled_at = NULL, disabled_reason = '',
		failing_since = NULL, consecutive_failures = 0 WHERE id = $1`, id)
}

// DeleteEndpoint implements webhook.Store (its deliveries go with it: ON
// DELETE CASCADE).
func (n *Notifications) DeleteEndpoint(ctx context.Context, id string) error {
	return n.execEndpoint(ctx, "delete", id, "DELETE FROM webhook_endpoints WHERE id = $1", id)
}

// Enqueue implements webhook.Store.
func (n *Notifications) Enqueue(ctx context.Context, ds []webhook.Delivery) error {
	err := pgx.BeginFunc(ctx, n.db.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, d := range ds {
			b.Queue(`INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, stream, position, version, payload, status, created_at, next_attempt_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9) ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
				d.EndpointID, d.EventID, d.EventType, d.Stream, d.Position, d.Version, d.Payload, d.CreatedAt.UTC(), d.NextAttemptAt.UTC())
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: enqueue webhook deliveries: %w", unavailable(err))
	}
	return nil
}

const pgDeliveryColumns = `d.seq, d.endpoint_id, d.event_id, d.event_type, d.stream, d.position, d.version, d.payload, d.status,
	d.attempts, d.created_at, d.next_attempt_at, d.delivered_at, d.last_attempt_at, d.last_status_code, d.last_latency_us, d.last_error`

func collectDeliveries(rows pgx.Rows) ([]webhook.Delivery, error) {
	defer rows.Close()
	var out []webhook.Delivery
	for rows.Next() {
		var d webhook.Delivery
		var next, delivered, last *time.Time
		var latency int64
		var status string
		if err := rows.Scan(&d.Seq, &d.EndpointID, &d.EventID, &d.EventType, &d.Stream, &d.Position, &d.Version, &d.Payload, &status,
			&d.Attempts, &d.CreatedAt, &next, &delivered, &last, &d.LastStatusCode, &latency, &d.LastError); err != nil {
			return nil, err
		}
		d.Status = webhook.Status(status)
		d.CreatedAt = d.CreatedAt.UTC()
		d.NextAttemptAt, d.DeliveredAt, d.LastAttemptAt = fromNull(next), fromNull(delivered), fromNull(last)
		d.LastLatency = time.Duration(latency) * time.Microsecond
		out = append(out, d)
	}
	return out, rows.Err()
}

// Due implements webhook.Store.
func (n *Notifications) Due(ctx context.Context, now time.Time, limit int) ([]webhook.Delivery, error) {
	rows, err := n.db.pool.Query(ctx, `SELECT `+pgDeliveryColumns+` FROM webhook_deliveries d
		JOIN webhook_endpoints e ON e.id = d.endpoint_id AND NOT e.disabled
		WHERE d.status = 'pending' AND d.next_attempt_at <= $1
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.status = 'pending'
			AND p.endpoint_id = d.endpoint_id AND p.stream = d.stream AND p.position < d.position)
		ORDER BY d.next_attempt_at, d.seq LIMIT $2`, now.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: due webhook deliveries: %w", unavailable(err))
	}
	ds, err := collectDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: due webhook deliveries: %w", unavailable(err))
	}
	return ds, nil
}

// NextDue implements webhook.Store.
func (n *Notifications) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next *time.Time
	err := n.db.pool.QueryRow(ctx, `SELECT min(d.next_attempt_at) FROM webhook_deliveries d
		JOIN webhook_endpoints e ON e.id = d.endpoint_id AND NOT e.disabled WHERE d.status = 'pending'`).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next webhook delivery: %w", unavailable(err))
	}
	return fromNull(next), next != nil, nil
}

// RecordAttempt implements webhook.Store.
func (n *Notifications) RecordAttempt(ctx context.Context, a webhook.Attempt) (time.Time, int, error) {
	var failingSince *time.Time
	var failures int
	err := pgx.BeginFunc(ctx, n.db.pool, func(tx pgx.Tx) error {
		var delivered *time.Time
		if a.Status == webhook.StatusDelivered {
			delivered = nullTime(a.At)
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2,
			delivered_at = $3, last_attempt_at = $4, last_status_code = $5, last_latency_us = $6, last_error = $7 WHERE seq = $8`,
			string(a.Status), nullTime(a.NextAttemptAt), delivered, a.At.UTC(), a.StatusCode, a.Latency.Microseconds(), a.Error, a.Seq); err != nil {
			return err
		}
		ok := a.Status == webhook.StatusDelivered
		err := tx.QueryRow(ctx, `UPDATE webhook_endpoints SET
			consecutive_failures = CASE WHEN $1 THEN 0 ELSE consecutive_failures + 1 END,
			failing_since = CASE WHEN $1 THEN NULL ELSE coalesce(failing_since, $2) END
			WHERE id = $3 RETURNING failing_since, consecutive_failures`, ok, a.At.UTC(), a.EndpointID).Scan(&failingSince, &failures)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("postgres: record webhook attempt %d: %w", a.Seq, unavailable(err))
	}
	return fromNull(failingSince), failures, nil
}

// Requeue implements webhook.Store.
func (n *Notifications) Requeue(ctx context.Context, endpointID, eventID string, at time.Time) (webhook.Status, error) {
	var before string
	err := pgx.BeginFunc(ctx, n.db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "SELECT status FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2 FOR UPDATE", endpointID, eventID).Scan(&before)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil || before != string(webhook.StatusDead) {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1
			WHERE endpoint_id = $2 AND event_id = $3`, at.UTC(), endpointID, eventID)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("postgres: requeue webhook delivery of %s to %s: %w", eventID, endpointID, unavailable(err))
	}
	return webhook.Status(before), nil
}

// Deliveries implements webhook.Store.
func (n *Notifications) Deliveries(ctx context.Context, endpointID string, before int64, limit int) ([]webhook.Delivery, error) {
	q := `SELECT ` + pgDeliveryColumns + ` FROM webhook_deliveries d WHERE d.endpoint_id = $1`
	args := []any{endpointID}
	if before > 0 {
		q += " AND d.seq < $3"
	}
	q += " ORDER BY d.seq DESC LIMIT $2"
	args = append(args, limit)
	if before > 0 {
		args = append(args, before)
	}
	rows, err := n.db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: webhook deliveries: %w", unavailable(err))
	}
	ds, err := collectDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: webhook deliveries: %w", unavailable(err))
	}
	return ds, nil
}

// Counts implements webhook.Store.
func (n *Notifications) Counts(ctx context.Context) (map[string]map[webhook.Status]int64, error) {
	rows, err := n.db.pool.Query(ctx, "SELECT endpoint_id, status, count(*) FROM webhook_deliveries GROUP BY endpoint_id, status")
	if err != nil {
		return nil, fmt.Errorf("postgres: count webhook deliveries: %w", unavailable(err))
	}
	defer rows.Close()
	out := map[string]map[webhook.Status]int64{}
	for rows.Next() {
		var id, status string
		var c int64
		if err := rows.Scan(&id, &status, &c); err != nil {
			return nil, fmt.Errorf("postgres: count webhook deliveries: %w", err)
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
	tag, err := n.db.pool.Exec(ctx, "DELETE FROM webhook_deliveries WHERE status = 'delivered' AND delivered_at < $1", cutoff.UTC())
	if err != nil {
		return 0, fmt.Errorf("postgres: prune webhook deliveries: %w", unavailable(err))
	}
	return tag.RowsAffected(), nil
}

// EmailOptOut reports whether user turned e-mail notifications off.
func (n *Notifications) EmailOptOut(ctx context.Context, user string) (bool, error) {
	var off bool
	err := n.db.pool.QueryRow(ctx, `SELECT email_opt_out FROM notification_preferences WHERE "user" = $1`, user).Scan(&off)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: preferences of %s: %w", user, unavailable(err))
	}
	return off, nil
}

// SetEmailOptOut turns user's e-mail notifications off (true) or on.
func (n *Notifications) SetEmailOptOut(ctx context.Context, user string, optOut bool) error {
	if strings.TrimSpace(user) == "" {
		return eventdesk.FieldError("user", "must not be empty")
	}
	_, err := n.db.pool.Exec(ctx, `INSERT INTO notification_preferences ("user", email_opt_out, updated_at) VALUES ($1, $2, now())
		ON CONFLICT ("user") DO UPDATE SET email_opt_out = excluded.email_opt_out, updated_at = now()`, user, optOut)
	if err != nil {
		return fmt.Errorf("postgres: set preferences of %s: %w", user, unavailable(err))
	}
	return nil
}
