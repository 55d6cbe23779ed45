"""SQL for messages, their destinations and attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from services.ingest.store.sql import Where
from shared import ids
from shared.destination_locks import LOCK_IN_KEY_ORDER
from shared.history_days import IN_THE_BATCH, batch_days
from shared.status import MessageStatus

Conn = asyncpg.Connection | asyncpg.Pool

MESSAGE_COLUMNS = "id, app_id, event_id, event_type, payload, channels, tags, created_at, expunged_at"
# Attempts (``a``, joined to their message ``m``) of the event types in one ``Where`` value:
# by the attempt's own event type (migration 015), or, for rows written before, the message's.
ATTEMPT_EVENT_TYPES = "(a.event_type = ANY({0}) OR (a.event_type IS NULL AND m.event_type = ANY({0})))"
# What Svix answers as the payload of a message whose content is gone (svix-server
# v1/endpoints/message.rs, MessageOut::from_msg_and_payload), stored in its place.
EXPIRED_PAYLOAD = '{"expired":true}'
# What Svix puts in place of an attempt's response body when it is expunged.
EXPUNGED_RESPONSE = "EXPUNGED"

_EXPUNGE = f"""
WITH found AS (
    SELECT id FROM message
    WHERE app_id = $1 AND (id = ANY($2::text[]) OR event_id = ANY($2::text[])) AND expunged_at IS NULL
    ORDER BY id FOR UPDATE
), expunged AS (
    UPDATE message m SET payload = $3, expunged_at = now() FROM found WHERE m.id = found.id
    RETURNING m.id, m.event_id
), attempts AS (
    UPDATE message_attempt a SET response = $4 FROM expunged
    WHERE a.msg_id = expunged.id AND a.response <> $4
), unconfirmed AS MATERIALIZED (
    -- In key order (shared/destination_locks.py): a deadlock would answer the API a 500.
    SELECT d.msg_id, d.endpoint_id, d.created_at FROM message_destination d JOIN found f ON d.msg_id = f.id
    WHERE NOT d.published
    {LOCK_IN_KEY_ORDER}
), unsent AS (
    -- Deliveries the broker never confirmed: the outbox relay would send the stand-in
    -- payload. They are canceled instead (a task already in the broker still delivers).
    UPDATE message_destination d
    SET status = {MessageStatus.CANCELED:d}, published = true, next_attempt = NULL, updated_at = now()
    FROM unconfirmed u JOIN expunged e ON e.id = u.msg_id
    WHERE (d.msg_id, d.endpoint_id, d.created_at) = (u.msg_id, u.endpoint_id, u.created_at)
)
SELECT id, event_id FROM expunged
"""


BY_ID_NEAR_ITS_TIME = (
    f"SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = $1 AND id = $2"
    f" AND created_at {IN_THE_BATCH.format(lo='$3', hi='$4')}"
)


async def get_message(conn: Conn, app_id: str, ref: str) -> asyncpg.Record | None:
    """By id, or by the ``eventId`` the sender chose (Svix accepts both).

    A message's id holds its creation time (``shared.ids``), so an id is looked for first in
    the days around it: by id or eventId alone PostgreSQL visits every day's partition, about
    98 at the default retention (among 90 days of history: 1.1-1.5 ms a lookup against
    0.6-0.8 ms, and 25 ms to plan it the first time; 2026-12-05, docs/scaling.md). Not found
    there (an eventId, or a row whose id is not of its time), the lookup by either, as before."""
    if (made := ids.created_at(ref, "msg")) is not None:
        lo, hi = batch_days([datetime.fromtimestamp(made, UTC)])
        if (row := await conn.fetchrow(BY_ID_NEAR_ITS_TIME, app_id, ref, lo, hi)) is not None:
            return row
    return await conn.fetchrow(
        f"SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = $1 AND (id = $2 OR event_id = $2)"
        " ORDER BY id = $2 DESC LIMIT 1",
        app_id,
        ref,
    )


# An attempt's time is the dispatcher's clock, its message's PostgreSQL's or ingest's: a
# day covers any skew between them.
_BEFORE_ITS_MESSAGE = timedelta(days=1)


def attempts_of(msg: asyncpg.Record) -> Where:
    """Attempts (``a``, joined to their message ``m``) of the message found: from its day
    on, joined to its own day's row. Each history table is a partition a day, and a search
    by message id alone visits every one (docs/scaling.md)."""
    where = Where().add("a.msg_id = {}", msg["id"]).add("m.created_at = {}", msg["created_at"])
    return where.add("a.created_at >= {}", msg["created_at"] - _BEFORE_ITS_MESSAGE)


def destinations_of(msg: asyncpg.Record) -> Where:
    """Destinations (``d``) of the message found: in its day, as a destination's
    ``created_at`` is its message's (migration 006)."""
    return Where().add("d.msg_id = {}", msg["id"]).add("d.created_at = {}", msg["created_at"])


async def expunge(conn: Conn, app_id: str, refs: list[str]) -> list[asyncpg.Record]:
    """Replace the payloads and the attempts' response bodies of the app's messages named
    by id or eventId; the messages stay. Those expunged now (not before) come back."""
    return await conn.fetch(_EXPUNGE, app_id, refs, EXPIRED_PAYLOAD, EXPUNGED_RESPONSE)


async def expunge_batch(conn: Conn, app_id: str, after: str, limit: int) -> tuple[str | None, int]:
    """Expunge the app's next ``limit`` messages after id ``after``: the last id seen
    (None when there are no more) and how many were expunged now."""
    ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM message WHERE app_id = $1 AND id > $2 ORDER BY id LIMIT $3", app_id, after, limit
        )
    ]
    if not ids:
        return None, 0
    return ids[-1], len(await expunge(conn, app_id, ids))


async def reset_destinations(conn: Conn, where_sql: str, *args: object) -> list[asyncpg.Record]:
    """Put destinations back to pending for a manual attempt; the caller publishes them.
    Messages whose payload was expunged are never sent again (as in Svix)."""
    return await conn.fetch(
        f"""WITH locked AS MATERIALIZED (
            SELECT d.msg_id, d.endpoint_id, d.created_at
            FROM message_destination d JOIN message m ON m.id = d.msg_id AND m.created_at = d.created_at
            WHERE m.expunged_at IS NULL AND {where_sql}
            {LOCK_IN_KEY_ORDER}
        )
        UPDATE message_destination d SET status = {MessageStatus.PENDING:d}, published = false,
            trigger_type = 1, attempt_base = d.attempt_count,  -- a new retry chain (migration 014)
            next_attempt = now(), updated_at = now()
        FROM locked l JOIN message m ON m.id = l.msg_id AND m.created_at = l.created_at
        WHERE (d.msg_id, d.endpoint_id, d.created_at) = (l.msg_id, l.endpoint_id, l.created_at)
        RETURNING d.msg_id, d.endpoint_id, d.app_id, d.trigger_type, m.event_type, m.payload, m.created_at""",
        *args,
    )
