-- The dashboard now counts sentiment scores per day (the d:<day>:tone:*
-- counters of projection.Dashboard). The projection skipped the
-- ticket.sentiment_scored events it had already passed, so their days
-- would stay empty: start the dashboard over, exactly as if dashboard.db
-- had been deleted. With no checkpoint the projection rebuilds everything
-- from position 0 as soon as the server runs; until it has caught up the
-- dashboard shows the days it has reached. Nothing else lives in this file,
-- and nothing here is the record: the events are in events.db.
DELETE FROM dash_counters;
DELETE FROM dash_tickets;
DELETE FROM projection_checkpoints;
