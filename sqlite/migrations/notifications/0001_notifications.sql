-- Configuration and state of the notification subscribers: webhook
-- endpoints and their delivery outbox/log, and users' notification
-- preferences. Like subscribers.db it is NOT a read model: a rebuild never
-- touches it. Times are Unix microseconds (UTC).

CREATE TABLE webhook_endpoints (
    id                   TEXT PRIMARY KEY,
    url                  TEXT NOT NULL,
    event_types          TEXT NOT NULL, -- JSON array; [] = every public type
    description          TEXT NOT NULL,
    secrets              TEXT NOT NULL, -- JSON array of {key, createdAt, expiresAt}
    created_at           INTEGER NOT NULL,
    created_by           TEXT NOT NULL,
    start_position       INTEGER NOT NULL,
    disabled             INTEGER NOT NULL DEFAULT 0,
    disabled_at          INTEGER,
    disabled_reason      TEXT NOT NULL DEFAULT '',
    failing_since        INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One row per (endpoint, event): the outbox while pending, the log after.
CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id      TEXT NOT NULL, -- deleted with its endpoint
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    stream           TEXT NOT NULL,
    position         INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    payload          BLOB NOT NULL,
    status           TEXT NOT NULL, -- pending | delivered | dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    delivered_at     INTEGER,
    last_attempt_at  INTEGER,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_latency_us  INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    UNIQUE (endpoint_id, event_id)
) STRICT;

-- The dispatcher's queue: pending deliveries by due time, and the
-- head-of-line check per (endpoint, stream).
CREATE INDEX wd_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX wd_line ON webhook_deliveries (endpoint_id, stream, position) WHERE status = 'pending';
-- The delivery log of an endpoint, newest first.
CREATE INDEX wd_log ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX wd_delivered ON webhook_deliveries (delivered_at) WHERE status = 'delivered';

-- Users' notification preferences (the e-mail opt-out).
CREATE TABLE notification_preferences (
    user          TEXT PRIMARY KEY,
    email_opt_out INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
) STRICT;
