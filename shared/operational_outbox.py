"""Writes operational events as messages of the internal application, durably.

Called on the connection, inside the transaction, of the change an event reports (an
endpoint saved by ingest, attempts committed by the dispatcher): the event exists if and
only if the change does. Each event becomes a ``message`` row and one unpublished
``message_destination`` row per enabled operational endpoint that wants its type; ingest's
outbox relay publishes those without waiting out its grace period (nobody else publishes
them), and the dispatcher delivers them like any other.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from shared.ids import new_id
from shared.operational import OPERATIONAL_APP_ID, OperationalEvent

_LISTENING = "SELECT EXISTS (SELECT 1 FROM endpoint WHERE app_id = $1 AND NOT disabled)"

# One statement: messages only for events some endpoint wants, their destinations.
# created_at is now() for both, so a destination shares its message's partition (006).
_WRITE = """
WITH ev AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) AS u(id, event_type, payload)
), targets AS (
    SELECT ev.id, e.id AS endpoint_id FROM ev JOIN endpoint e
      ON e.app_id = $1 AND NOT e.disabled
     AND (e.event_types IS NULL OR ev.event_type = ANY (e.event_types))
), messages AS (
    INSERT INTO message (id, app_id, event_type, payload)
    SELECT ev.id, $1, ev.event_type, ev.payload FROM ev WHERE ev.id IN (SELECT id FROM targets)
)
INSERT INTO message_destination (msg_id, endpoint_id, app_id)
SELECT id, endpoint_id, $1 FROM targets
"""


async def listening(conn: asyncpg.Connection) -> bool:
    """Whether any operational endpoint would receive an event (else skip the work)."""
    return bool(await conn.fetchval(_LISTENING, OPERATIONAL_APP_ID))


async def write(conn: asyncpg.Connection, events: Iterable[OperationalEvent]) -> int:
    """Store ``events`` for the operational endpoints; how many destinations that made."""
    events = list(events)
    if not events:
        return 0
    status = await conn.execute(
        _WRITE,
        OPERATIONAL_APP_ID,
        [new_id("msg") for _ in events],
        [e.type for e in events],
        [e.payload for e in events],
    )
    return int(status.rsplit(" ", 1)[-1])
