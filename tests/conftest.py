"""Session fixtures: a real PostgreSQL database and a real RabbitMQ name prefix per run.

Each run gets its own database (``hookline_test_<hex>``) and its own AMQP prefix
(``hltest_<hex>``); both are removed at the end. RabbitMQ and PostgreSQL must be
running (``make test`` starts them): a missing service fails the run, never skips it.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable

import aio_pika
import asyncpg
import pytest

from shared.db import create_pool
from shared.migrate import apply_migrations
from shared.settings import Settings
from shared.topology import Topology, delete_topology
from tests.support.broker_objects import delete_broker_objects
from tests.support.lanes import forget_ordered_lanes
from tests.support.outbox import forget_unpublished

# Fixtures shared by test directories: ``history`` (forty days of daily partitions).
pytest_plugins = ["tests.support.history_days"]

# The start time in the run id lets a later run remove what a crashed one left behind.
RUN_STARTED = int(time.time())
RUN_ID = f"{RUN_STARTED}x{uuid.uuid4().hex[:6]}"
STALE_AFTER_SECONDS = 3 * 3600
BASE_DSN = "postgresql://postgres@127.0.0.1:5432"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
TEST_TOKEN = "test-token-" + RUN_ID


def _require_port(host: str, port: int, what: str) -> None:
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.exit(f"{what} is not reachable on {host}:{port} ({exc}); run `make test`", 3)


def pytest_sessionstart(session: pytest.Session) -> None:
    _require_port("127.0.0.1", 5432, "PostgreSQL")
    _require_port("127.0.0.1", 5672, "RabbitMQ")


def new_prefix() -> str:
    return f"hltest_{RUN_ID}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def database_url() -> str:
    return f"{BASE_DSN}/hookline_test_{RUN_ID}"


@pytest.fixture(scope="session")
async def migrated_database(database_url: str) -> AsyncIterator[str]:
    await apply_migrations(database_url)
    yield database_url
    admin = await asyncpg.connect(f"{BASE_DSN}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "hookline_test_{RUN_ID}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def make_settings(migrated_database: str) -> AsyncIterator[Callable[..., Settings]]:
    """Settings for one test: the run's database, a fresh AMQP prefix, fast retries.

    The queues and exchanges of every prefix handed out are deleted after the test: a whole
    run's worth left standing (hundreds of quorum queues) once spent the broker's file
    handles and hung it."""
    made: list[Settings] = []
    # Circuit state is installation-wide (services/dispatcher/circuit_shared.py) and this
    # run's tests share one database: each test starts with no circuit open.
    conn = await asyncpg.connect(migrated_database)
    try:
        await conn.execute("DELETE FROM endpoint_circuit")
        await forget_ordered_lanes(conn)  # installation-wide too
        await forget_unpublished(conn)  # and so is the outbox the relays read
    finally:
        await conn.close()

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": migrated_database,
            "amqp_url": AMQP_URL,
            "amqp_prefix": new_prefix(),
            "api_token": TEST_TOKEN,
            "allowed_target_cidrs": ["127.0.0.0/8"],
            "retry_schedule": [1.0, 2.0],
            "outbox_grace_seconds": 0.5,
            "outbox_poll_seconds": 0.2,
            "log_format": "console",
        }
        values.update(overrides)
        settings = Settings(**values)  # type: ignore[arg-type]
        made.append(settings)
        return settings

    yield make
    await _delete_topologies(made)


async def _delete_topologies(made: list[Settings]) -> None:
    if not made:
        return
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        for settings in made:
            # Deleting what does not exist is not an error in RabbitMQ (since 3.2).
            await delete_topology(channel, Topology.of(settings))
    finally:
        await connection.close()


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


@pytest.fixture
async def db_pool(migrated_database: str) -> AsyncIterator[asyncpg.Pool]:
    async with create_pool(migrated_database, min_size=1, max_size=4) as pool:
        yield pool


@pytest.fixture
async def amqp_connection() -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(AMQP_URL)
    yield connection
    await connection.close()


_RUN_NAME = re.compile(r"^hltest_(\d+)x[0-9a-f]+_")


def _is_stale(name: str) -> bool:
    match = _RUN_NAME.match(name)
    return bool(match) and RUN_STARTED - int(match.group(1)) > STALE_AFTER_SECONDS


@pytest.fixture(scope="session", autouse=True)
def _remove_broker_objects_of_this_run() -> AsyncIterator[None]:
    """Delete every queue and exchange named with this run's id at the end, and those of runs
    that crashed hours ago at the start: leftovers eat the broker's file-handle budget."""
    asyncio.run(delete_broker_objects(AMQP_URL, _is_stale))
    yield
    marker = f"hltest_{RUN_ID}_"
    asyncio.run(delete_broker_objects(AMQP_URL, lambda name: name.startswith(marker)))
