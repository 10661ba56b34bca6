-- The event log. position is the rowid: the single writer assigns it, so it
-- is gap-free in commit order. data and metadata are JSON kept byte for
-- byte as appended; recorded_at is Unix microseconds, UTC.
CREATE TABLE events (
    position    INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL,
    stream      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    schema      INTEGER NOT NULL,
    data        BLOB    NOT NULL,
    metadata    BLOB    NOT NULL,
    recorded_at INTEGER NOT NULL,
    hash        TEXT    NOT NULL
) STRICT;

-- Event ids are unique store-wide.
CREATE UNIQUE INDEX events_id ON events (id);

-- ReadStream, stream heads, and the guarantee that versions never repeat.
CREATE UNIQUE INDEX events_stream_version ON events (stream, version);

-- Idempotency keys: one row per keyed append, written in the append's
-- transaction. version and position are those of the append's last event.
CREATE TABLE idempotency (
    key            TEXT    PRIMARY KEY,
    stream         TEXT    NOT NULL,
    first_event_id TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    request_hash   TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

-- Small facts about the store, e.g. 'import_head': the last position
-- written by Import, which may continue only while nothing else wrote.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
