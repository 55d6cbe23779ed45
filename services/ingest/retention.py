"""History upkeep: daily partitions made ahead and dropped past retention, payloads
expunged past their ``payloadRetention*``, expired eventIds released.

The decisions are ``shared.partitions.plan`` (pure); this module reads the catalog,
runs the DDL and the expunges. Ingest runs ``retention_loop`` under ``shared.supervised``
(``services/ingest/main.py``, loop "history-retention"); every replica runs it, and a
PostgreSQL advisory lock lets one at a time do the work, the others skip that round.
Each step takes its own short transaction with a lock timeout: DROP and CREATE ...
PARTITION OF lock the parent table, and must not queue every insert behind a long
dashboard query; a step that times out is done on the next round.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import structlog

from services.ingest.store import messages as store
from shared.partitions import HISTORY_TABLES, Partition, parse_name, plan, retention_cutoff

log = structlog.get_logger()

_LOCK_ID = 0x686C7274  # "hlrt": one upkeep at a time across replicas
_LOCK_TIMEOUT = "5s"
_BATCH = 500

_PARTITIONS_SQL = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = ANY($1::regclass[]) AND c.relkind = 'r'
"""
_EXPIRED_PAYLOADS_SQL = """
SELECT app_id, id FROM message
WHERE payload_expires_at <= $1 AND expunged_at IS NULL
ORDER BY payload_expires_at LIMIT $2
"""
_RELEASE_EVENT_IDS_SQL = """
DELETE FROM message_event_id WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM message_event_id WHERE created_at < $1 LIMIT $2))
"""


@dataclass
class Upkeep:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    payloads_expunged: int = 0
    event_ids_released: int = 0


async def existing_partitions(conn: asyncpg.Connection) -> set[Partition]:
    rows = await conn.fetch(_PARTITIONS_SQL, list(HISTORY_TABLES))
    return {p for r in rows if (p := parse_name(r["relname"])) is not None}


async def _ddl(conn: asyncpg.Connection, statement: str) -> bool:
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
            await conn.execute(statement)
    except asyncpg.LockNotAvailableError:
        log.warning("partition change postponed: table busy", statement=statement)
        return False
    return True


async def keep_partitions(
    conn: asyncpg.Connection, now: datetime, *, retention_days: int, premake_days: int
) -> Upkeep:
    done = Upkeep()
    existing = await existing_partitions(conn)
    todo = plan(now, existing, retention_days=retention_days, premake_days=premake_days)
    for part in todo.create:
        # Bounds are datetimes this module made, written as ISO text: no user input.
        statement = (
            f'CREATE TABLE IF NOT EXISTS "{part.name}" PARTITION OF "{part.table}"'
            f" FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
        )
        if await _ddl(conn, statement):
            done.created.append(part.name)
    for part in todo.drop:
        if await _ddl(conn, f'DROP TABLE IF EXISTS "{part.name}"'):
            done.dropped.append(part.name)
    return done


async def expunge_expired_payloads(conn: asyncpg.Connection, now: datetime) -> int:
    """Messages past their payloadRetention*: payload and attempts' bodies expunged
    (``store.expunge``, as the Svix expunge API does), the messages stay listed."""
    total = 0
    while True:
        rows = await conn.fetch(_EXPIRED_PAYLOADS_SQL, now, _BATCH)
        by_app: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            by_app[r["app_id"]].append(r["id"])
        for app_id, ids in by_app.items():
            total += len(await store.expunge(conn, app_id, ids))
        if len(rows) < _BATCH:
            return total


async def release_event_ids(conn: asyncpg.Connection, cutoff: datetime) -> int:
    """eventIds of messages past retention may be used again. Small rows, only for
    messages sent with an eventId, deleted in batches: no long DELETE."""
    total = 0
    while True:
        status = await conn.execute(_RELEASE_EVENT_IDS_SQL, cutoff, 5000)
        count = int(status.split()[-1])
        total += count
        if count < 5000:
            return total


async def upkeep(
    pool: asyncpg.Pool, now: datetime, *, retention_days: int, premake_days: int
) -> Upkeep | None:
    """One round at ``now``; None when another replica holds the upkeep lock."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_ID):
            return None
        try:
            done = await keep_partitions(conn, now, retention_days=retention_days, premake_days=premake_days)
            done.payloads_expunged = await expunge_expired_payloads(conn, now)
            done.event_ids_released = await release_event_ids(conn, retention_cutoff(now, retention_days))
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    if done.created or done.dropped or done.payloads_expunged or done.event_ids_released:
        log.info(
            "history upkeep",
            created=done.created,
            dropped=done.dropped,
            payloads_expunged=done.payloads_expunged,
            event_ids_released=done.event_ids_released,
        )
    return done


async def warn_without_autovacuum(pool: asyncpg.Pool) -> None:
    """Partitions are only ever analyzed by autovacuum. Without statistics the planner
    takes the set-based statements of ingest and the dispatcher (an array of message ids
    joined to a partition) for hash joins over the whole partition: measured, 1.4 M rows
    read per second at 1,100 messages/s (docs/performance.md). Said once, at startup."""
    if not await pool.fetchval("SELECT current_setting('autovacuum')::bool"):
        log.warning(
            "PostgreSQL runs with autovacuum off: history partitions get no statistics and"
            " no vacuum, and delivery bookkeeping slows as they grow; turn it on"
        )


def retention_loop(
    pool: asyncpg.Pool,
    *,
    retention_days: int,
    premake_days: int,
    interval: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[], Awaitable[None]]:
    """The supervised loop: a round at start (partitions exist before the first
    message of a new day), then one every ``interval`` seconds."""

    async def loop() -> None:
        await warn_without_autovacuum(pool)
        while True:
            await upkeep(pool, clock(), retention_days=retention_days, premake_days=premake_days)
            await asyncio.sleep(interval)

    return loop
