"""The attempt log's statements (``services.dispatcher.attempt_log``): set-based, one
of each per committed batch. Each row carries its message's time and each statement takes,
last, the batch's two bounds on those times (``shared.history_days``), so PostgreSQL looks
for the rows in the days around their messages, not in every day of history."""

from shared.destination_locks import LOCK_IN_KEY_ORDER
from shared.history_days import IN_THE_BATCH, NEAR_ITS_MESSAGE

INSERT_ATTEMPTS = f"""
INSERT INTO message_attempt (id, msg_id, endpoint_id, app_id, url, response, response_status_code,
    response_duration_ms, status, trigger_type, attempt_number, error, created_at, event_type)
SELECT u.id, u.msg_id, u.endpoint_id, u.app_id, u.url, u.response, u.code, u.ms, u.status, u.trig,
    u.num, u.error, u.at, u.type
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::int[], $8::int[], $9::int2[], $10::int2[], $11::int[], $12::text[], $13::timestamptz[],
    $14::text[], $15::timestamptz[])
    AS u(id, msg_id, endpoint_id, app_id, url, response, code, ms, status, trig, num, error, at, type,
         msg_at)
-- a message or endpoint deleted meanwhile has no attempts to keep
WHERE EXISTS (SELECT 1 FROM message m
              WHERE m.id = u.msg_id AND m.created_at {NEAR_ITS_MESSAGE.format(at="u.msg_at")}
                AND m.created_at {IN_THE_BATCH.format(lo="$16", hi="$17")})
  AND EXISTS (SELECT 1 FROM endpoint e WHERE e.id = u.endpoint_id)
-- a batch whose commit was cut off after it succeeded is written again at shutdown
-- (same id and created_at: the table is partitioned by created_at, migration 006)
ON CONFLICT (id, created_at) DO NOTHING
"""

# Both statements below: the outcomes given, and what they set. A task that reached a
# dispatcher was on the broker, so its destination is flagged published here too: ingest's
# published-flag batch (services/ingest/outbox.py) then skips the row instead of writing
# it a second time (2026-12-04, docs/performance.md). Not for a row a manual resend or
# recover reset (trigger 1): an older task's outcome landing after the reset must not mark
# the new chain's task published before it is, or the outbox relay would never send it.
_OUTCOMES = """unnest($1::text[], $2::text[], $3::int2[], $4::timestamptz[], $5::int[],
    $6::timestamptz[]) AS u(msg_id, endpoint_id, status, next_attempt, attempts, msg_at)"""
_ITS_DAYS = (
    f"d.created_at {NEAR_ITS_MESSAGE.format(at='u.msg_at')}"
    f" AND d.created_at {IN_THE_BATCH.format(lo='$7', hi='$8')}"
)
_SET_OUTCOME = """SET status = coalesce(u.status, d.status), next_attempt = u.next_attempt,
    attempt_count = d.attempt_count + u.attempts, updated_at = now(),
    published = d.published OR d.trigger_type = 0"""

# One destination (an ordered endpoint's lane commits each attempt on its own): a single
# row lock cannot close a cycle with the published-flag batches, so it skips the sort.
UPDATE_ONE_DESTINATION = f"""
UPDATE message_destination d {_SET_OUTCOME}
FROM {_OUTCOMES}
WHERE d.msg_id = u.msg_id AND d.endpoint_id = u.endpoint_id AND {_ITS_DAYS}
"""

# Rows locked in key order first (shared/destination_locks.py); the locked rows carry their
# outcome, so the UPDATE joins nothing else (joined to the array again, a generic plan
# estimated one row and compared every pair: 200 x 200 for a batch of 200).
UPDATE_DESTINATIONS = f"""
WITH u AS MATERIALIZED (SELECT * FROM {_OUTCOMES}),
locked AS MATERIALIZED (
  SELECT d.msg_id, d.endpoint_id, d.created_at, u.status, u.next_attempt, u.attempts
  FROM u JOIN message_destination d
    ON d.msg_id = u.msg_id AND d.endpoint_id = u.endpoint_id AND {_ITS_DAYS}
  {LOCK_IN_KEY_ORDER}
)
UPDATE message_destination d {_SET_OUTCOME}
FROM locked u
WHERE d.msg_id = u.msg_id AND d.endpoint_id = u.endpoint_id AND d.created_at = u.created_at
  AND d.created_at {IN_THE_BATCH.format(lo="$7", hi="$8")}
"""

# Only rows whose value changes are touched: each update fires the endpoint NOTIFY.
HEALTHY = "UPDATE endpoint SET failing_since = NULL WHERE id = ANY($1::text[]) AND failing_since IS NOT NULL"
FAILING = """
UPDATE endpoint e SET failing_since = u.since
FROM unnest($1::text[], $2::timestamptz[]) AS u(id, since)
WHERE e.id = u.id AND e.failing_since IS NULL
"""
DISABLE = """
UPDATE endpoint SET disabled = true, updated_at = now(),
    disabled_reason = 'no successful delivery since ' || to_char(failing_since AT TIME ZONE 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' (HOOKLINE_DISABLE_AFTER)'
WHERE id = ANY($1::text[]) AND NOT disabled AND failing_since <= now() - $2::interval
RETURNING id, app_id, uid, failing_since, disabled_reason
"""
