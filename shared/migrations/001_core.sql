-- Core schema: the Svix-compatible resources, the delivery outbox and the attempt log.

CREATE TABLE application (
    id            text PRIMARY KEY,
    uid           text UNIQUE,
    name          text NOT NULL,
    throttle_rate integer,
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event_type (
    name          text PRIMARY KEY,
    description   text NOT NULL DEFAULT '',
    archived      boolean NOT NULL DEFAULT false,
    deprecated    boolean NOT NULL DEFAULT false,
    schemas       jsonb,
    group_name    text,
    feature_flags text[],
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE endpoint (
    id               text PRIMARY KEY,
    app_id           text NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    uid              text,
    url              text NOT NULL,
    description      text NOT NULL DEFAULT '',
    throttle_rate    integer,
    disabled         boolean NOT NULL DEFAULT false,
    disabled_reason  text,
    event_types      text[],
    channels         text[],
    metadata         jsonb NOT NULL DEFAULT '{}',
    headers          jsonb NOT NULL DEFAULT '{}',
    secret           text NOT NULL,
    -- Secrets replaced by a rotation that still sign until they expire:
    -- [{"key": "whsec_...", "expiresAt": "<iso8601>"}]
    old_secrets      jsonb NOT NULL DEFAULT '[]',
    -- Start of the current run of failures without a success (auto-disable clock).
    failing_since    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoint_app_idx ON endpoint (app_id, id);

CREATE TABLE message (
    id          text PRIMARY KEY,
    app_id      text NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    event_id    text,
    event_type  text NOT NULL,
    -- The compact JSON body exactly as it is sent and signed.
    payload     text NOT NULL,
    channels    text[],
    tags        text[],
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, event_id)
);
CREATE INDEX message_app_idx ON message (app_id, id DESC);
CREATE INDEX message_app_type_idx ON message (app_id, event_type, id DESC);
CREATE INDEX message_channels_idx ON message USING gin (channels);

-- One row per (message, endpoint): its delivery status, and the transactional outbox
-- flag. A row with published = false was committed but its delivery task was never
-- confirmed by the broker; the ingest relay republishes it.
CREATE TABLE message_destination (
    msg_id          text NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    endpoint_id     text NOT NULL REFERENCES endpoint (id) ON DELETE CASCADE,
    app_id          text NOT NULL,
    status          smallint NOT NULL DEFAULT 1,  -- 0 success, 1 pending, 2 fail, 3 sending
    next_attempt    timestamptz,
    attempt_count   integer NOT NULL DEFAULT 0,
    published       boolean NOT NULL DEFAULT false,
    -- Trigger of the delivery task the outbox publishes next: 0 scheduled, 1 manual.
    trigger_type    smallint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (msg_id, endpoint_id)
);
CREATE INDEX destination_endpoint_idx ON message_destination (endpoint_id, msg_id DESC);
CREATE INDEX destination_unpublished_idx ON message_destination (updated_at) WHERE NOT published;
CREATE INDEX destination_status_idx ON message_destination (endpoint_id, status, updated_at);

CREATE TABLE message_attempt (
    id                    text PRIMARY KEY,
    msg_id                text NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    endpoint_id           text NOT NULL REFERENCES endpoint (id) ON DELETE CASCADE,
    app_id                text NOT NULL,
    url                   text NOT NULL,
    response              text NOT NULL DEFAULT '',
    response_status_code  integer NOT NULL DEFAULT 0,
    response_duration_ms  integer NOT NULL DEFAULT 0,
    status                smallint NOT NULL,
    trigger_type          smallint NOT NULL DEFAULT 0,  -- 0 scheduled, 1 manual
    attempt_number        integer NOT NULL DEFAULT 1,
    error                 text,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attempt_endpoint_idx ON message_attempt (endpoint_id, id DESC);
CREATE INDEX attempt_msg_idx ON message_attempt (msg_id, id DESC);

-- Stored responses of POSTs carrying an idempotency-key header.
CREATE TABLE idempotency_key (
    scope        text NOT NULL,   -- method and path of the request
    key          text NOT NULL,
    state        text NOT NULL DEFAULT 'pending',  -- pending | done
    status_code  integer,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_created_idx ON idempotency_key (created_at);

CREATE TABLE background_task (
    id          text PRIMARY KEY,
    task        text NOT NULL,
    status      text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Dispatchers cache endpoints; every change is announced so caches drop the entry
-- within a round trip instead of waiting for their refresh interval.
CREATE FUNCTION notify_endpoint_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('hookline_endpoint', COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER endpoint_changed
    AFTER INSERT OR UPDATE OR DELETE ON endpoint
    FOR EACH ROW EXECUTE FUNCTION notify_endpoint_change();
