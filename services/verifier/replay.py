"""The replay log (``inbound_seen``): which sender message ids a source has handed on.

``claim`` runs inside the transaction that waits for the publisher confirm; see
``services.verifier.receive`` for why the commit comes only after the confirm.
"""

from __future__ import annotations

import asyncpg

_CLAIM = """
INSERT INTO inbound_seen (source_id, message_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (source_id, message_id) DO UPDATE
    SET received_at = now(), expires_at = EXCLUDED.expires_at
    WHERE inbound_seen.expires_at < now()
RETURNING true
"""

# Bounded batches keep each delete short when a backlog of rows expires at once.
_EXPIRE = """
DELETE FROM inbound_seen WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM inbound_seen WHERE expires_at < now() LIMIT $1
))
"""


def keep_seconds(tolerance_seconds: float, retention_seconds: float) -> float:
    """How long a message id is remembered. A signed timestamp is accepted up to one
    tolerance either side of now, so twice the tolerance covers any replay of it; but
    senders retry a message they think failed with the same id and a fresh timestamp
    (Svix for about a day, Stripe for three), so the retention is the floor."""
    return max(2 * tolerance_seconds, retention_seconds)


async def claim(conn: asyncpg.Connection, source_id: str, message_id: str, keep: float) -> bool:
    """True when the id is new (or its earlier row expired); False for a replay. A
    concurrent claim of the same id waits here until the first transaction ends."""
    return bool(await conn.fetchval(_CLAIM, source_id, message_id, keep))


async def expire(pool: asyncpg.Pool, batch: int = 5000) -> int:
    removed = 0
    while True:
        status = await pool.execute(_EXPIRE, batch)
        count = int(status.split()[-1])
        removed += count
        if count < batch:
            return removed
