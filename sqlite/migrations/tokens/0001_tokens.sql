-- API tokens. Only the SHA-256 of a token's secret is kept (hex); the
-- secret is shown once when the token is created. Times are Unix
-- microseconds, UTC; revoked_at is NULL while the token is valid.
CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    hash       TEXT    NOT NULL UNIQUE,
    user       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    revoked_at INTEGER
) STRICT;
