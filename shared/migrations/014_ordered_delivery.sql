-- Ordered delivery, opt-in per endpoint (services/dispatcher/lanes.py, docs/ordering.md).
-- An ordered endpoint's destinations are delivered one at a time in message-id order by
-- the one dispatcher process holding its lane (endpoint_lane, a lease renewed while the
-- lane runs: a process that dies loses it after HOOKLINE_DISPATCHER_LANE_LEASE_SECONDS).
ALTER TABLE endpoint ADD COLUMN ordered boolean NOT NULL DEFAULT false;

-- attempt_count counts every attempt a destination ever had; a resend or recover starts a
-- new retry chain, whose attempt number is attempt_count - attempt_base + 1. (A constant
-- default: no table rewrite, partitioned or not.)
ALTER TABLE message_destination ADD COLUMN attempt_base integer NOT NULL DEFAULT 0;

CREATE TABLE endpoint_lane (
    endpoint_id  text PRIMARY KEY REFERENCES endpoint (id) ON DELETE CASCADE,
    owner        text NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- A lane's head: its endpoint's oldest destination still pending or sending. Only those
-- rows are indexed, so the index stays as small as the work in flight.
CREATE INDEX destination_lane_head_idx ON message_destination (endpoint_id, msg_id)
    WHERE status IN (1, 3);
-- The sweep that finds ordered endpoints whose lane nobody holds.
CREATE INDEX endpoint_ordered_idx ON endpoint (id) WHERE ordered;
