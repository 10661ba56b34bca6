-- Configuration and state of the notification subscribers: webhook
-- endpoints with their delivery outbox/log, and users' notification
-- preferences. Not a read model: a rebuild never touches these tables.

CREATE TABLE webhook_endpoints (
    id                   text        PRIMARY KEY,
    url                  text        NOT NULL,
    event_types          jsonb       NOT NULL, -- [] = every public type
    description          text        NOT NULL,
    secrets              jsonb       NOT NULL, -- [{key, createdAt, expiresAt}]
    created_at           timestamptz NOT NULL,
    created_by           text        NOT NULL,
    start_position       bigint      NOT NULL,
    disabled             boolean     NOT NULL DEFAULT false,
    disabled_at          timestamptz,
    disabled_reason      text        NOT NULL DEFAULT '',
    failing_since        timestamptz,
    consecutive_failures int         NOT NULL DEFAULT 0
);

-- One row per (endpoint, event): the outbox while pending, the log after.
CREATE TABLE webhook_deliveries (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         text        NOT NULL,
    event_type       text        NOT NULL,
    stream           text        NOT NULL,
    position         bigint      NOT NULL,
    version          bigint      NOT NULL,
    payload          bytea       NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         int         NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz,
    delivered_at     timestamptz,
    last_attempt_at  timestamptz,
    last_status_code int         NOT NULL DEFAULT 0,
    last_latency_us  bigint      NOT NULL DEFAULT 0,
    last_error       text        NOT NULL DEFAULT '',
    UNIQUE (endpoint_id, event_id)
);

CREATE INDEX wd_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX wd_line ON webhook_deliveries (endpoint_id, stream, position) WHERE status = 'pending';
CREATE INDEX wd_log ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX wd_delivered ON webhook_deliveries (delivered_at) WHERE status = 'delivered';

CREATE TABLE notification_preferences (
    "user"        text        PRIMARY KEY,
    email_opt_out boolean     NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
