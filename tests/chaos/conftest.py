"""The chaos suite's fixtures: one private RabbitMQ node and PostgreSQL cluster for the
session (``scripts/chaos``), a Hookline installation per test, misbehaving receivers,
and the ledger whose table is printed at the end and written to
``test-artifacts/chaos-summary.md``."""

from __future__ import annotations

import random
import shutil
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from scripts.chaos.stack import PrivateStack
from shared.migrate import apply_migrations
from tests.chaos.hookline import Hookline
from tests.chaos.ledger import Ledger, Row
from tests.chaos.receivers import ReceiverFarm
from tests.chaos.sizes import ENDPOINTS, ISSUE_MESSAGES, LOAD_SECONDS, MESSAGES, RETRY_SCHEDULE
from tests.support.lanes import forget_ordered_lanes
from tests.support.operational import forget_operational_endpoints

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LOGS = ARTIFACTS / "chaos"
SUMMARY = ARTIFACTS / "chaos-summary.md"
DATABASE = "hookline_chaos"

LEDGER = Ledger(
    settings=(
        f"{MESSAGES} messages per fault scenario (issue size {ISSUE_MESSAGES}; HOOKLINE_CHAOS_MESSAGES), "
        f"{ENDPOINTS} endpoints, each message to 2 of them, paced over {LOAD_SECONDS:.0f} s; "
        f"retry schedule {RETRY_SCHEDULE}; receivers answer 500 to ~10 % and drop ~5 % of requests."
    )
)


@pytest.fixture(scope="session")
def private_stack() -> Iterator[PrivateStack]:
    shutil.rmtree(LOGS, ignore_errors=True)
    stack = PrivateStack().start()
    try:
        yield stack
    finally:
        stack.stop(keep_logs=LOGS / "servers")


@pytest.fixture(scope="session")
async def chaos_database(private_stack: PrivateStack) -> str:
    await apply_migrations(private_stack.postgres.dsn(DATABASE))
    return DATABASE


@pytest.fixture
def row(request: pytest.FixtureRequest) -> Iterator[Row]:
    """This test's line in the summary table, timed."""
    line = LEDGER.row(request.node.name.removeprefix("test_"))
    started = time.monotonic()
    yield line
    line.seconds = time.monotonic() - started


@pytest.fixture
async def hookline(
    private_stack: PrivateStack, chaos_database: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[Hookline]]]:
    """Start an installation: ``await hookline("ingest", "dispatcher", HOOKLINE_X="1")``.

    Operational endpoints belong to the whole database, which the chaos tests share: one
    a test made (the schema fuzz makes some) would receive the next test's operational
    events, whose failing deliveries would still be cycling through the retry tiers when
    that test checks its queues are empty. Each test starts and ends without any."""
    made: list[Hookline] = []
    await _forget_operational_endpoints(private_stack.postgres.dsn(chaos_database))

    async def make(*services: str, **env: str) -> Hookline:
        logs = LOGS / request.node.name / str(len(made))
        installation = Hookline(private_stack, chaos_database, logs, services=services, **env)
        made.append(installation)
        return await installation.start()

    yield make
    for installation in made:
        await installation.stop()
    await _forget_operational_endpoints(private_stack.postgres.dsn(chaos_database))


async def _forget_operational_endpoints(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await forget_operational_endpoints(conn)
        await forget_ordered_lanes(conn)  # the schema fuzz may make ordered endpoints too
    finally:
        await conn.close()


@pytest.fixture
async def receivers(request: pytest.FixtureRequest) -> AsyncIterator[ReceiverFarm]:
    farm = await ReceiverFarm(ENDPOINTS, seed=zlib.crc32(request.node.name.encode())).start()
    yield farm
    await farm.close()


@pytest.fixture
def chance(request: pytest.FixtureRequest) -> random.Random:
    """Randomness for fault timing; the seed is printed so a failing run can be replayed."""
    seed = random.randrange(1 << 30)
    print(f"chaos seed for {request.node.name}: {seed}")
    return random.Random(seed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LEDGER.rows:
        return
    LEDGER.write(SUMMARY)
    terminalreporter.section("Hookline chaos summary")
    terminalreporter.write(LEDGER.markdown())
    terminalreporter.write_line(f"(written to {SUMMARY.relative_to(ARTIFACTS.parent)})")
