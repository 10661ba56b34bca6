-- State of side-effect subscribers (webhooks, email, sentiment…), apart
-- from the read models so that a rebuild never re-fires a side effect.

CREATE TABLE subscriber_checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The inbox: events a subscriber handled, so that a redelivery is skipped.
CREATE TABLE subscriber_inbox (
    name       text        NOT NULL,
    event_id   text        NOT NULL,
    position   bigint      NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, event_id)
);

CREATE TABLE dead_letters (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber text        NOT NULL,
    event_id   text        NOT NULL,
    event      json        NOT NULL, -- kept as written
    attempts   int         NOT NULL,
    error      text        NOT NULL,
    failed_at  timestamptz NOT NULL,
    redriven   boolean     NOT NULL DEFAULT false,
    UNIQUE (subscriber, event_id)
);

-- API tokens: only the SHA-256 (hex) of a secret is kept.
CREATE TABLE api_tokens (
    id         text        PRIMARY KEY,
    hash       text        NOT NULL UNIQUE,
    username   text        NOT NULL,
    role       text        NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text        NOT NULL,
    revoked_at timestamptz
);
