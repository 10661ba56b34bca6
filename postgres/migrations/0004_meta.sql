-- Small named values of the store: the last position an import wrote
-- (import_head), secrets every node must share (the session signing key).
CREATE TABLE store_meta (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
