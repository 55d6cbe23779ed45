-- History partitioned by day (UTC): message, message_destination and message_attempt
-- become range-partitioned on created_at, so retention drops a day with DROP TABLE
-- instead of a DELETE that bloats and locks. Ingest keeps the partitions (see
-- shared/partitions.py: made HOOKLINE_PARTITION_PREMAKE_DAYS ahead, dropped past
-- HOOKLINE_RETENTION_DAYS); this migration makes one for every day that holds rows
-- today and for the next seven days, copies every row, then swaps the tables.
--
-- What partitioning changes:
-- * a unique key must contain created_at: message (id, created_at), destination
--   (msg_id, endpoint_id, created_at), attempt (id, created_at). Ids are KSUIDs (random
--   and time-sortable), so they stay unique without a global index.
-- * a destination takes its message's created_at, so both leave on the same day.
-- * no foreign key points at message any more (a partition could not be dropped
--   while one did); the endpoint and application keys still cascade.
-- * Svix's eventId stays unique per application through message_event_id, a plain
--   table (a partitioned unique index could only be unique per created_at); its rows
--   leave with their message's day (shared/retention.py).
-- * payload_expires_at holds payloadRetentionPeriod / payloadRetentionHours: past it
--   the payload and the attempts' response bodies are expunged, the message stays.

CREATE FUNCTION pg_temp.make_day(parent text, day date) RETURNS void AS $$
BEGIN
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        parent || '_p' || to_char(day, 'YYYYMMDD'), parent,
        (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
END;
$$ LANGUAGE plpgsql;

CREATE TABLE message_part (
    id                  text NOT NULL,
    app_id              text NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    event_id            text,
    event_type          text NOT NULL,
    payload             text NOT NULL,
    channels            text[],
    tags                text[],
    created_at          timestamptz NOT NULL DEFAULT now(),
    expunged_at         timestamptz,
    payload_expires_at  timestamptz
) PARTITION BY RANGE (created_at);

CREATE TABLE message_destination_part (
    msg_id          text NOT NULL,
    endpoint_id     text NOT NULL REFERENCES endpoint (id) ON DELETE CASCADE,
    app_id          text NOT NULL,
    status          smallint NOT NULL DEFAULT 1,
    next_attempt    timestamptz,
    attempt_count   integer NOT NULL DEFAULT 0,
    published       boolean NOT NULL DEFAULT false,
    trigger_type    smallint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (created_at);

CREATE TABLE message_attempt_part (
    id                    text NOT NULL,
    msg_id                text NOT NULL,
    endpoint_id           text NOT NULL REFERENCES endpoint (id) ON DELETE CASCADE,
    app_id                text NOT NULL,
    url                   text NOT NULL,
    response              text NOT NULL DEFAULT '',
    response_status_code  integer NOT NULL DEFAULT 0,
    response_duration_ms  integer NOT NULL DEFAULT 0,
    status                smallint NOT NULL,
    trigger_type          smallint NOT NULL DEFAULT 0,
    attempt_number        integer NOT NULL DEFAULT 1,
    error                 text,
    created_at            timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (created_at);

-- A partition for every day that holds rows, and for today and the week ahead.
SELECT pg_temp.make_day(t.parent, t.day) FROM (
    SELECT 'message_part' AS parent, d AS day
    FROM (SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS d FROM message) x
    UNION
    SELECT 'message_destination_part', d
    FROM (SELECT DISTINCT (m.created_at AT TIME ZONE 'UTC')::date AS d
          FROM message_destination d JOIN message m ON m.id = d.msg_id) x
    UNION
    SELECT 'message_attempt_part', d
    FROM (SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS d FROM message_attempt) x
    UNION
    SELECT p, ((now() AT TIME ZONE 'UTC')::date + n)
    FROM unnest(ARRAY['message_part', 'message_destination_part', 'message_attempt_part']) AS p,
         generate_series(0, 7) AS n
) t;

INSERT INTO message_part (id, app_id, event_id, event_type, payload, channels, tags, created_at, expunged_at)
SELECT id, app_id, event_id, event_type, payload, channels, tags, created_at, expunged_at FROM message;

-- Until now a destination's created_at was its own (a resend adds one today to an old
-- message): it takes its message's, so it lives and leaves in the message's partition.
INSERT INTO message_destination_part
SELECT d.msg_id, d.endpoint_id, d.app_id, d.status, d.next_attempt, d.attempt_count, d.published,
       d.trigger_type, m.created_at, d.updated_at
FROM message_destination d JOIN message m ON m.id = d.msg_id;

INSERT INTO message_attempt_part SELECT * FROM message_attempt;

CREATE TABLE message_event_id (
    app_id      text NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    event_id    text NOT NULL,
    msg_id      text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (app_id, event_id)
);
INSERT INTO message_event_id (app_id, event_id, msg_id, created_at)
SELECT app_id, event_id, id, created_at FROM message WHERE event_id IS NOT NULL;
CREATE INDEX message_event_id_created_idx ON message_event_id (created_at);

DROP TABLE message_attempt;
DROP TABLE message_destination;
DROP TABLE message;
ALTER TABLE message_part RENAME TO message;
ALTER TABLE message_destination_part RENAME TO message_destination;
ALTER TABLE message_attempt_part RENAME TO message_attempt;

-- The partitions keep the names they were made with; give them the final ones.
DO $$
DECLARE part record;
BEGIN
    FOR part IN
        SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE c.relname LIKE '%\_part\_p________'
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', part.name, replace(part.name, '_part_p', '_p'));
    END LOOP;
END $$;

-- Indexes after the copy (one build instead of row-by-row upkeep), under the old names.
ALTER TABLE message ADD CONSTRAINT message_pkey PRIMARY KEY (id, created_at);
CREATE INDEX message_app_idx ON message (app_id, id DESC);
CREATE INDEX message_app_type_idx ON message (app_id, event_type, id DESC);
CREATE INDEX message_channels_idx ON message USING gin (channels);
CREATE INDEX message_event_idx ON message (app_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX message_payload_expiry_idx ON message (payload_expires_at)
    WHERE payload_expires_at IS NOT NULL AND expunged_at IS NULL;

ALTER TABLE message_destination
    ADD CONSTRAINT message_destination_pkey PRIMARY KEY (msg_id, endpoint_id, created_at);
CREATE INDEX destination_endpoint_idx ON message_destination (endpoint_id, msg_id DESC);
CREATE INDEX destination_unpublished_idx ON message_destination (updated_at) WHERE NOT published;
CREATE INDEX destination_status_idx ON message_destination (endpoint_id, status, updated_at);

ALTER TABLE message_attempt ADD CONSTRAINT message_attempt_pkey PRIMARY KEY (id, created_at);
CREATE INDEX attempt_endpoint_idx ON message_attempt (endpoint_id, id DESC);
CREATE INDEX attempt_msg_idx ON message_attempt (msg_id, id DESC);
