-- The ticket read models. Everything here can be deleted and rebuilt from
-- the event store (eventdesk replay). Sort-key times are Unix microseconds
-- (UTC), as in the cursor; ids compare byte-wise (COLLATE "C") whatever the
-- database's locale, so that keyset pagination is exact.

CREATE TABLE projection_checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per ticket: the columns filters and sorts use, and the ticket as
-- JSON (doc without comments, which lists never show; comments apart).
CREATE TABLE rm_tickets (
    id          text COLLATE "C" PRIMARY KEY,
    status      text   NOT NULL,
    priority    text   NOT NULL,
    prio_rank   int    NOT NULL,
    assignee    text   NOT NULL, -- '' when unassigned
    requester   text   NOT NULL,
    tags        text[] NOT NULL,
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL,
    version     bigint NOT NULL,
    position    bigint NOT NULL,
    search      text   NOT NULL, -- lower-cased title and description
    doc         jsonb  NOT NULL,
    comments    jsonb
);

CREATE INDEX rm_tickets_created ON rm_tickets (created_at, id);
CREATE INDEX rm_tickets_updated ON rm_tickets (updated_at, id);
CREATE INDEX rm_tickets_prio ON rm_tickets (prio_rank, created_at, id);
CREATE INDEX rm_tickets_status_created ON rm_tickets (status, created_at, id);
CREATE INDEX rm_tickets_status_updated ON rm_tickets (status, updated_at, id);
CREATE INDEX rm_tickets_assignee_created ON rm_tickets (assignee, created_at, id);
CREATE INDEX rm_tickets_assignee_updated ON rm_tickets (assignee, updated_at, id);
CREATE INDEX rm_tickets_requester_created ON rm_tickets (requester, created_at, id);
CREATE INDEX rm_tickets_requester_updated ON rm_tickets (requester, updated_at, id);
CREATE INDEX rm_tickets_tags ON rm_tickets USING gin (tags);

-- Counters kept incrementally by the ticket projection (Stats).
CREATE TABLE rm_counters (
    name  text   PRIMARY KEY,
    value bigint NOT NULL
);
