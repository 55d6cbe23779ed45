"""The overview's numbers: deliveries per minute over the last hour, messages waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.ids import boundary_id
from shared.status import MessageStatus

MINUTES = 60

_PER_MINUTE = f"""
SELECT date_trunc('minute', created_at) AS minute,
    count(*) FILTER (WHERE status = {MessageStatus.SUCCESS:d}) AS ok,
    count(*) FILTER (WHERE status <> {MessageStatus.SUCCESS:d}) AS failed
FROM message_attempt
WHERE id > $1 AND created_at >= $2
GROUP BY 1
"""

_WAITING = f"""
SELECT count(*) FILTER (WHERE status = {MessageStatus.PENDING:d}) AS pending,
    count(*) FILTER (WHERE status = {MessageStatus.SENDING:d}) AS sending,
    count(*) FILTER (WHERE NOT published) AS unpublished
FROM message_destination
WHERE status IN ({MessageStatus.PENDING:d}, {MessageStatus.SENDING:d}) OR NOT published
"""


@dataclass(frozen=True)
class Minute:
    start: datetime
    ok: int
    failed: int


@dataclass(frozen=True)
class Waiting:
    pending: int  # accepted, not yet delivered (including retries waiting in a tier)
    sending: int
    unpublished: int  # committed, not yet confirmed on the broker (the outbox)


async def deliveries_per_minute(pool: asyncpg.Pool, now: datetime | None = None) -> list[Minute]:
    """Sixty one-minute buckets ending with the current minute, empty ones included."""
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=MINUTES - 1)
    # Attempt ids sort by time: the bound on id lets the primary key index do the work.
    rows = await pool.fetch(_PER_MINUTE, boundary_id("atmpt", start.timestamp() - 60), start)
    counts = {r["minute"]: (r["ok"], r["failed"]) for r in rows}
    buckets = []
    for i in range(MINUTES):
        minute = start + timedelta(minutes=i)
        ok, failed = counts.get(minute, (0, 0))
        buckets.append(Minute(minute, ok, failed))
    return buckets


async def waiting(pool: asyncpg.Pool) -> Waiting:
    row = await pool.fetchrow(_WAITING)
    return Waiting(row["pending"], row["sending"], row["unpublished"])
