"""The transactional outbox: destination rows are committed first, published second.

``PublishedMarker`` flags confirmed destinations in batches (one UPDATE per flush
instead of one per message). ``OutboxRelay`` republishes rows still unflagged after a
grace period: a crash, a broker outage or a lost confirm between commit and publish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import asyncpg
import structlog

from services.ingest.publisher import DeliveryPublisher
from shared.db import DATABASE_ERRORS
from shared.destination_locks import LOCK_IN_KEY_ORDER
from shared.history_days import IN_THE_BATCH, NEAR_ITS_MESSAGE, batch_days
from shared.operational import OPERATIONAL_APP_ID
from shared.tasks import DeliveryTask

log = structlog.get_logger()

# Rows locked in key order first (shared/destination_locks.py), looked for in the days
# around their message's time (shared/history_days.py).
_MARK_PUBLISHED = f"""
WITH locked AS MATERIALIZED (
  SELECT d.msg_id, d.endpoint_id, d.created_at
  FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS k(msg_id, endpoint_id, msg_at)
  JOIN message_destination d ON d.msg_id = k.msg_id AND d.endpoint_id = k.endpoint_id
    AND d.created_at {NEAR_ITS_MESSAGE.format(at="k.msg_at")}
    AND d.created_at {IN_THE_BATCH.format(lo="$4", hi="$5")}
  WHERE NOT d.published
  {LOCK_IN_KEY_ORDER}
)
UPDATE message_destination AS d SET published = true
FROM locked l
WHERE d.msg_id = l.msg_id AND d.endpoint_id = l.endpoint_id AND d.created_at = l.created_at
  AND d.created_at {IN_THE_BATCH.format(lo="$4", hi="$5")}
"""

_CLAIM_UNPUBLISHED = """
SELECT d.msg_id, d.endpoint_id, d.app_id, d.trigger_type, m.event_type, m.payload, m.created_at
FROM message_destination d JOIN message m ON m.id = d.msg_id
-- Operational events are published by this relay only (shared/operational_outbox.py):
-- no grace period to wait out for them (a manual resend, trigger 1, is published directly).
WHERE NOT d.published
  AND (d.updated_at < now() - make_interval(secs => $1) OR (d.app_id = $3 AND d.trigger_type = 0))
ORDER BY d.updated_at
LIMIT $2
FOR UPDATE OF d SKIP LOCKED
"""


class Published(NamedTuple):
    """A destination to flag published, and its message's time (which day to look in)."""

    msg_id: str
    endpoint_id: str
    msg_created_at: datetime

    @classmethod
    def of(cls, task: DeliveryTask) -> Published:
        return cls(task.msg_id, task.endpoint_id, task.created_datetime)


async def mark_published(conn: asyncpg.Connection | asyncpg.Pool, keys: list[Published]) -> None:
    if not keys:
        return
    msg_ids, endpoint_ids, times = zip(*keys, strict=True)
    await conn.execute(
        _MARK_PUBLISHED, list(msg_ids), list(endpoint_ids), list(times), *batch_days(list(times))
    )


class PublishedMarker:
    def __init__(self, pool: asyncpg.Pool, interval: float = 0.05) -> None:
        self._pool = pool
        self._interval = interval
        self._pending: list[Published] = []

    def add(self, tasks: Iterable[DeliveryTask]) -> None:
        self._pending.extend(Published.of(t) for t in tasks)

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await mark_published(self._pool, batch)
        except DATABASE_ERRORS as exc:
            # Tried again with the next flush: a row left unflagged is republished by the
            # relay after the grace period, a duplicate delivery (never a loss).
            self._pending[:0] = batch
            log.warning("could not flag published destinations", count=len(batch), error=str(exc))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()


def task_from_row(row: asyncpg.Record) -> DeliveryTask:
    return DeliveryTask(
        msg_id=row["msg_id"],
        app_id=row["app_id"],
        endpoint_id=row["endpoint_id"],
        event_type=row["event_type"],
        created_at=row["created_at"].timestamp(),
        payload=row["payload"].encode(),
        trigger=row["trigger_type"],
    )


class OutboxRelay:
    def __init__(
        self, pool: asyncpg.Pool, publisher: DeliveryPublisher, *, grace: float, poll: float
    ) -> None:
        self._pool, self._publisher = pool, publisher
        self._grace, self._poll = grace, poll

    async def relay_once(self, limit: int = 500) -> int:
        if not self._publisher.ready:
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM_UNPUBLISHED, self._grace, limit, OPERATIONAL_APP_ID)
            if not rows:
                return 0
            tasks = [task_from_row(r) for r in rows]
            if not await self._publisher.publish(tasks):
                return 0
            await mark_published(conn, [Published.of(t) for t in tasks])
        log.info("outbox relayed unpublished deliveries", count=len(tasks))
        return len(tasks)

    async def run(self) -> None:
        while True:
            try:
                while await self.relay_once() > 0:
                    pass
            except DATABASE_ERRORS as exc:
                log.warning("outbox relay pass failed", error=repr(exc))
            await asyncio.sleep(self._poll)
