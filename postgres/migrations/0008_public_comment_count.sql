-- Tickets now carry publicCommentCount next to commentCount: the count a
-- requester sees, which must not include internal notes (issue 4). Rows
-- written before it get it from their stored comments; the projection keeps
-- it from then on.
UPDATE rm_tickets
SET doc = doc || jsonb_build_object('publicCommentCount',
        (SELECT count(*)
         FROM jsonb_array_elements(CASE WHEN jsonb_typeof(comments) = 'array' THEN comments ELSE '[]'::jsonb END) c
         WHERE c->>'internal' IS DISTINCT FROM 'true'))
WHERE NOT doc ? 'publicCommentCount';
