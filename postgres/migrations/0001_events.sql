-- The event store: the system of record.

-- events holds every event ever appended. position is assigned by the
-- writer while it holds the row lock on store_head, so positions are
-- contiguous (1, 2, 3, …) and commit in position order: a reader that saw
-- position N has already been able to see every position below N.
CREATE TABLE events (
    position    bigint      PRIMARY KEY,
    id          text        NOT NULL UNIQUE,
    stream      text        NOT NULL,
    version     bigint      NOT NULL,
    type        text        NOT NULL,
    schema      integer     NOT NULL,
    -- data is kept byte for byte as written (the hash chain covers it).
    data        bytea       NOT NULL,
    metadata    jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL,
    hash        text        NOT NULL,
    UNIQUE (stream, version)
);

-- streams caches each stream's head so that an append checks its expected
-- version and chains its hash without scanning events.
CREATE TABLE streams (
    stream   text   PRIMARY KEY,
    version  bigint NOT NULL,
    position bigint NOT NULL,
    hash     text   NOT NULL
);

-- append_keys records idempotency keys in the same transaction as the
-- events they guard.
CREATE TABLE append_keys (
    key            text   PRIMARY KEY,
    stream         text   NOT NULL,
    first_event_id text   NOT NULL,
    version        bigint NOT NULL,
    position       bigint NOT NULL,
    request_hash   text   NOT NULL
);

-- store_head is the one-row counter whose row lock serializes position
-- assignment across every process writing to this database.
CREATE TABLE store_head (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint  NOT NULL
);
INSERT INTO store_head (id, position) VALUES (true, 0);
