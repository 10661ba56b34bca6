-- The dashboard now counts sentiment scores per day (projection.Dashboard's
-- d:<day>:tone:n, :sum and :neg counters). The dashboard projection has
-- already passed the ticket.sentiment_scored events up to its checkpoint
-- without counting them: count them here, from the events, exactly as the
-- projection does (the UTC day of recorded_at; the score in units of 10⁻⁴
-- as projection.ToneUnits rounds it, ⌊score·10⁴ + ½⌋ in float8; strongly
-- negative at or below -0.5). Events after the checkpoint are left to the
-- projection.
--
-- This only adds counters that older binaries ignore, so a rolling upgrade
-- keeps working. Locking the checkpoint row makes a dashboard transaction
-- in flight on another node finish first; a node still on the older binary
-- that projects events after this point does not count their scores
-- (those scores are missing from their days).
WITH cp AS (
    SELECT position FROM projection_checkpoints WHERE name = 'dashboard' FOR UPDATE
), scores AS (
    SELECT to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
           (convert_from(e.data, 'UTF8')::json ->> 'score')::float8 AS score
    FROM events e JOIN cp ON e.position <= cp.position
    WHERE e.type = 'ticket.sentiment_scored' AND e.stream LIKE 'ticket-%'
), days AS (
    SELECT day, count(*) AS n, sum(floor(score * 10000 + 0.5)::bigint) AS units,
           count(*) FILTER (WHERE score <= -0.5) AS neg
    FROM scores GROUP BY day
)
INSERT INTO dash_counters (name, value)
SELECT 'd:' || day || ':tone:' || c.metric, c.value
FROM days CROSS JOIN LATERAL (VALUES ('n', n), ('sum', units), ('neg', neg)) AS c(metric, value)
WHERE c.value <> 0
ON CONFLICT (name) DO UPDATE SET value = dash_counters.value + excluded.value;
