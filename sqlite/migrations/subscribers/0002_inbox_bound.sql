-- handled_to: the last position a subscriber's inbox received (0: none).
-- No event after it is in the inbox, so the runner reads the inbox only
-- for events up to it (those a crash may have left handled above the
-- checkpoint), not for every event it follows.
ALTER TABLE subscriber_checkpoints ADD COLUMN handled_to INTEGER NOT NULL DEFAULT 0;

UPDATE subscriber_checkpoints SET handled_to =
    coalesce((SELECT max(i.position) FROM subscriber_inbox i WHERE i.subscriber = subscriber_checkpoints.name), 0);
