-- The verifier: inbound sources and the replay (dedupe) log.

CREATE TABLE inbound_source (
    id                 text PRIMARY KEY,
    scheme             text NOT NULL
        CHECK (scheme IN ('standard-webhooks', 'stripe', 'github', 'token')),
    -- Several during a rotation; any one of them verifies.
    secrets            text[] NOT NULL CHECK (cardinality(secrets) >= 1),
    -- Source networks allowed to post; empty means any.
    allowed_cidrs      text[] NOT NULL DEFAULT '{}',
    max_body_bytes     integer NOT NULL CHECK (max_body_bytes > 0),
    tolerance_seconds  integer NOT NULL CHECK (tolerance_seconds > 0),
    -- The token scheme's header (e.g. X-Gitlab-Token); NULL for the other schemes.
    header_name        text CHECK ((scheme = 'token') = (header_name IS NOT NULL)),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One row per (source, sender's message id) accepted and confirmed by the broker. The
-- verifier inserts it in the same transaction that waits for the publisher confirm and
-- commits only after the confirm, so a publish that failed leaves no row behind and the
-- sender's retry is not mistaken for a replay; a concurrent duplicate waits on the row lock.
CREATE TABLE inbound_seen (
    source_id    text NOT NULL REFERENCES inbound_source (id) ON DELETE CASCADE,
    message_id   text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- After this the row is only clutter: the signed timestamp is outside the tolerance
    -- (Standard Webhooks, Stripe) or the retention for schemes without one has passed.
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (source_id, message_id)
);
CREATE INDEX inbound_seen_expires_idx ON inbound_seen (expires_at);
