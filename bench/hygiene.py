"""What a benchmark leaves behind is removed before the next one measures anything.

The benchmark database is dropped and migrated afresh: its tables take ~20,000 updates a
run and PostgreSQL's autovacuum may be off (it is on these machines), so a reused database
bloats with dead rows and every later run measures slower. Queues and exchanges of
benchmark installations (``hlbench_*``) go at the start and the end: hundreds of
leftover quorum queues spend a broker's file handles.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aio_pika
import asyncpg

from bench.stack import BENCH_DB
from shared.migrate import apply_migrations

BENCH_PREFIX = "hlbench_"


async def fresh_database() -> None:
    server, name = BENCH_DB.rsplit("/", 1)
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    await apply_migrations(BENCH_DB)


def _broker_names(kind: str) -> list[str]:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", f"list_{kind}", "name"], capture_output=True, text=True, timeout=60, check=True
    )
    return [line.strip() for line in listed.stdout.splitlines() if line.strip().startswith(BENCH_PREFIX)]


async def remove_bench_broker_objects(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for name in _broker_names("queues"):
            await channel.queue_delete(name)
        for name in _broker_names("exchanges"):
            await channel.exchange_delete(name)
    finally:
        await connection.close()


@asynccontextmanager
async def clean_slate(amqp_url: str) -> AsyncIterator[Path]:
    """A fresh database and no benchmark queues; yields a folder for the services' logs."""
    await fresh_database()
    await remove_bench_broker_objects(amqp_url)
    try:
        yield Path(tempfile.mkdtemp(prefix="hookline-bench-logs-"))
    finally:
        await remove_bench_broker_objects(amqp_url)
