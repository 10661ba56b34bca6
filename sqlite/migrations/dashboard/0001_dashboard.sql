-- The dashboard read model (projection.Dashboard). Everything here can be
-- deleted and rebuilt from the event store: delete dashboard.db and the
-- next start rebuilds it. Times are Unix microseconds (UTC), 0 for none.

CREATE TABLE projection_checkpoints (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- What the projection remembers of each ticket to tell what an event
-- changed (projection.Slim).
CREATE TABLE dash_tickets (
    id                TEXT PRIMARY KEY,
    version           INTEGER NOT NULL,
    position          INTEGER NOT NULL,
    status            TEXT NOT NULL,
    requester         TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    first_response_at INTEGER NOT NULL,
    resolved_at       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Counters named by day ("d:2025-03-10:created"), so that a window of days
-- is one range scan of the primary key.
CREATE TABLE dash_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
