-- App portal tokens (POST /api/v1/auth/app-portal-access/{app_id}): what a SaaS hands its
-- customer to open a dashboard scoped to one application. Only a SHA-256 of the token is
-- kept (the token is 32 random bytes: nothing to guess, so no slow hash is needed); a
-- token stops working when it expires or is revoked (expire-all, logout), and every
-- portal page checks its row.
CREATE TABLE app_portal_token (
    token_hash    bytea PRIMARY KEY,
    app_id        text NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    read_only     boolean NOT NULL DEFAULT false,
    capabilities  text[] NOT NULL DEFAULT '{}',
    session_id    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX app_portal_token_app_idx ON app_portal_token (app_id);
