"""What a benchmark leaves behind is removed before the next one measures anything.

The benchmark database is dropped and migrated afresh: its tables take ~20,000 updates a
run and PostgreSQL's autovacuum may be off (it is on these machines), so a reused database
bloats with dead rows and every later run measures slower. Queues and exchanges of
benchmark installations (``hlbench_*``) go at the start and the end: hundreds of
leftover quorum queues spend a broker's file handles.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from bench.autovacuum import autovacuum_stand_in
from bench.epmd_monitor import epmd_monitor_paused
from bench.stack import BENCH_DB
from shared.migrate import apply_migrations
from tests.support.broker_objects import delete_broker_objects

BENCH_PREFIX = "hlbench_"


async def fresh_database(dsn: str = BENCH_DB) -> None:
    server, name = dsn.rsplit("/", 1)
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    await apply_migrations(dsn)


async def remove_bench_broker_objects(amqp_url: str) -> None:
    await delete_broker_objects(amqp_url, lambda name: name.startswith(BENCH_PREFIX))


@asynccontextmanager
async def clean_slate(amqp_url: str) -> AsyncIterator[Path]:
    """A fresh database kept analyzed as autovacuum would (``bench.autovacuum``), no
    benchmark queues and no broker VM started every minute (``bench.epmd_monitor``);
    yields a folder for the services' logs."""
    await fresh_database()
    await remove_bench_broker_objects(amqp_url)
    try:
        with epmd_monitor_paused() as broker_note:
            print(f"bench: {broker_note}", flush=True)
            async with autovacuum_stand_in(BENCH_DB):
                yield Path(tempfile.mkdtemp(prefix="hookline-bench-logs-"))
    finally:
        await remove_bench_broker_objects(amqp_url)
