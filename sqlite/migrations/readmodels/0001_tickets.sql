-- The ticket read models. Everything here can be deleted and rebuilt from
-- the event store (eventdesk replay); times are Unix microseconds (UTC).

CREATE TABLE projection_checkpoints (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- One row per ticket: the columns that filters and sorts use, and the
-- ticket itself as JSON (doc without comments, which lists never show;
-- comments apart).
CREATE TABLE tickets (
    rid        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL,
    priority   TEXT NOT NULL,
    prio_rank  INTEGER NOT NULL,
    assignee   TEXT NOT NULL, -- '' when unassigned
    requester  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    doc        BLOB NOT NULL,
    comments   BLOB
) STRICT;

-- Every list query walks one of these in sort order (keyset pagination),
-- led by its most selective filter; see readmodel_query.go.
CREATE INDEX tk_created ON tickets (created_at, id);
CREATE INDEX tk_updated ON tickets (updated_at, id);
CREATE INDEX tk_prio ON tickets (prio_rank, created_at, id);
CREATE INDEX tk_prio_updated ON tickets (prio_rank, updated_at, id);
CREATE INDEX tk_status_created ON tickets (status, created_at, id);
CREATE INDEX tk_status_updated ON tickets (status, updated_at, id);
CREATE INDEX tk_status_prio ON tickets (status, prio_rank, created_at, id);
CREATE INDEX tk_assignee_created ON tickets (assignee, created_at, id);
CREATE INDEX tk_assignee_updated ON tickets (assignee, updated_at, id);
CREATE INDEX tk_assignee_prio ON tickets (assignee, prio_rank, created_at, id);
CREATE INDEX tk_requester_created ON tickets (requester, created_at, id);
CREATE INDEX tk_requester_updated ON tickets (requester, updated_at, id);
CREATE INDEX tk_requester_prio ON tickets (requester, prio_rank, created_at, id);

-- Tags of each ticket, with copies of the sort keys so that a tag filter
-- walks an index in sort order too.
CREATE TABLE ticket_tags (
    id         TEXT NOT NULL,
    tag        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    prio_rank  INTEGER NOT NULL,
    PRIMARY KEY (id, tag)
) STRICT, WITHOUT ROWID;

CREATE INDEX tg_created ON ticket_tags (tag, created_at, id);
CREATE INDEX tg_updated ON ticket_tags (tag, updated_at, id);
CREATE INDEX tg_prio ON ticket_tags (tag, prio_rank, created_at, id);

-- Counters kept incrementally by the ticket projection (Stats).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
