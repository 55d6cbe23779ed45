"""The SQL of ordered delivery (migration 014): lane leases and lane heads.

A lane is an ordered endpoint's delivery loop. Exactly one dispatcher process runs it,
the one holding the endpoint's row in ``endpoint_lane``: a lease it renews while the
lane runs and deletes when the lane ends. A process that dies keeps its leases until
they expire; then any process's sweep takes them over.
"""

from __future__ import annotations

import asyncpg

from services.dispatcher.lane_rules import Head
from shared.status import MessageStatus

# Won when the row is new, already ours, or expired; nothing comes back when another
# process holds a live lease (or the endpoint is gone).
_CLAIM = """
INSERT INTO endpoint_lane (endpoint_id, owner, expires_at)
SELECT $1, $2, now() + make_interval(secs => $3) WHERE EXISTS (SELECT 1 FROM endpoint WHERE id = $1)
ON CONFLICT (endpoint_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE endpoint_lane.owner = excluded.owner OR endpoint_lane.expires_at < now()
RETURNING endpoint_id
"""
_RENEW = """
UPDATE endpoint_lane SET expires_at = now() + make_interval(secs => $3)
WHERE owner = $1 AND endpoint_id = ANY($2::text[])
RETURNING endpoint_id
"""
_RELEASE = "DELETE FROM endpoint_lane WHERE endpoint_id = $1 AND owner = $2"
_RELEASE_ALL = "DELETE FROM endpoint_lane WHERE owner = $1"

_UNDELIVERED = f"d.status IN ({MessageStatus.PENDING:d}, {MessageStatus.SENDING:d})"
# In message-id order (migration 014's partial index); the wait in the database's clock,
# like next_attempt, so that no two machines' clocks are compared.
_HEADS = f"""
SELECT d.msg_id, d.app_id, d.trigger_type, d.attempt_count - d.attempt_base + 1 AS attempt,
       greatest(0, extract(epoch FROM d.next_attempt - now()))::float8 AS wait,
       m.event_type, m.payload, extract(epoch FROM m.created_at)::float8 AS created_at,
       m.expunged_at IS NOT NULL AS expunged
FROM message_destination d JOIN message m ON m.id = d.msg_id AND m.created_at = d.created_at
WHERE d.endpoint_id = $1 AND {_UNDELIVERED} AND d.msg_id > $2
ORDER BY d.msg_id
LIMIT $3
"""
# Ordered endpoints with work and no live lane (its process died, or nobody woke it),
# and expired leases of endpoints no longer ordered (a hand-back cut off half way).
_ORPHANED = f"""
SELECT e.id FROM endpoint e
WHERE e.ordered
  AND NOT EXISTS (SELECT 1 FROM endpoint_lane l WHERE l.endpoint_id = e.id AND l.expires_at > now())
  AND EXISTS (SELECT 1 FROM message_destination d WHERE d.endpoint_id = e.id AND {_UNDELIVERED})
UNION
SELECT endpoint_id FROM endpoint_lane WHERE expires_at < now()
"""


class LaneStore:
    def __init__(self, pool: asyncpg.Pool, owner: str, lease_seconds: float) -> None:
        self._pool, self.owner, self.lease_seconds = pool, owner, lease_seconds

    async def claim(self, endpoint_id: str) -> bool:
        return await self._pool.fetchval(_CLAIM, endpoint_id, self.owner, self.lease_seconds) is not None

    async def renew(self, endpoint_ids: list[str]) -> set[str]:
        """The leases still ours, renewed; the others were lost."""
        rows = await self._pool.fetch(_RENEW, self.owner, endpoint_ids, self.lease_seconds)
        return {row["endpoint_id"] for row in rows}

    async def release(self, endpoint_id: str) -> None:
        await self._pool.execute(_RELEASE, endpoint_id, self.owner)

    async def release_all(self) -> None:
        await self._pool.execute(_RELEASE_ALL, self.owner)

    async def heads(self, endpoint_id: str, limit: int, after: str = "") -> list[Head]:
        rows = await self._pool.fetch(_HEADS, endpoint_id, after, limit)
        return [
            Head(
                msg_id=row["msg_id"],
                app_id=row["app_id"],
                event_type=row["event_type"],
                payload=row["payload"].encode(),
                created_at=row["created_at"],
                attempt=max(1, row["attempt"]),
                trigger=row["trigger_type"],
                wait=row["wait"],
                expunged=row["expunged"],
            )
            for row in rows
        ]

    async def orphaned(self) -> list[str]:
        return [row["id"] for row in await self._pool.fetch(_ORPHANED)]
