-- Tickets now carry publicCommentCount next to commentCount: the count a
-- requester sees, which must not include internal notes (issue 4). Rows
-- written before it get it from their stored comments; the projection keeps
-- it from then on. doc and comments are JSON text in BLOB columns, hence
-- the casts (SQLite would read a BLOB as JSONB).
UPDATE tickets
SET doc = CAST(json_set(CAST(doc AS TEXT), '$.publicCommentCount',
        (SELECT count(*) FROM json_each(CAST(tickets.comments AS TEXT))
         WHERE json_extract(value, '$.internal') IS NOT 1)) AS BLOB)
WHERE json_type(CAST(doc AS TEXT), '$.publicCommentCount') IS NULL;
