-- State of side-effect subscribers (webhooks, email, sentiment…). It is
-- NOT a read model: a rebuild never touches this file, so that no side
-- effect fires twice. Times are Unix microseconds (UTC).

CREATE TABLE subscriber_checkpoints (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- The inbox: events each subscriber handled, to deduplicate redeliveries.
CREATE TABLE subscriber_inbox (
    subscriber TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    position   INTEGER NOT NULL,
    handled_at INTEGER NOT NULL,
    PRIMARY KEY (subscriber, event_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX subscriber_inbox_age ON subscriber_inbox (handled_at);

-- Events a subscriber gave up on, until redriven and handled.
CREATE TABLE dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    position   INTEGER NOT NULL,
    event      BLOB NOT NULL, -- the eventdesk.Event as JSON
    attempts   INTEGER NOT NULL,
    error      TEXT NOT NULL,
    failed_at  INTEGER NOT NULL,
    redriven   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (subscriber, event_id)
) STRICT;

CREATE INDEX dead_letters_subscriber ON dead_letters (subscriber, redriven, id);
