-- The dashboard read model (projection.Dashboard): what it remembers of
-- each ticket (projection.Slim, in the same layout as rm_tickets so that
-- one writer serves both) and its counters, named by day
-- ("d:2025-03-10:created") so that a window is one range scan; names
-- compare byte-wise whatever the locale. Rebuilt from the events like every
-- read model.
CREATE TABLE dash_tickets (
    id          text COLLATE "C" PRIMARY KEY,
    status      text   NOT NULL,
    priority    text   NOT NULL,
    prio_rank   int    NOT NULL,
    assignee    text   NOT NULL,
    requester   text   NOT NULL,
    tags        text[] NOT NULL,
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL,
    version     bigint NOT NULL,
    position    bigint NOT NULL,
    search      text   NOT NULL,
    doc         jsonb  NOT NULL,
    comments    jsonb
);

CREATE TABLE dash_counters (
    name  text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);
