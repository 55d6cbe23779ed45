"""The common shape of a fault scenario: an application with 20 endpoints on the
misbehaving receivers, paced HTTP load, and a fault routine running beside it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tests.chaos.hookline import Hookline
from tests.chaos.load import EVENT_TYPES, HttpLoad, LoadResult
from tests.chaos.receivers import ReceiverFarm
from tests.chaos.sizes import LOAD_SECONDS, MESSAGES


async def subscribed_app(hl: Hookline, farm: ReceiverFarm) -> str:
    """Endpoint i listens to ``chaos.k{i % 10}``: every message goes to exactly 2 of them."""
    types = [[f"chaos.k{i % EVENT_TYPES}"] for i in range(len(farm.urls))]
    app_id, _ = await hl.app_with_endpoints(farm.urls, types)
    return app_id


async def load_with_faults(
    hl: Hookline, app_id: str, faults: Callable[[], Awaitable[None]], *, label: str
) -> LoadResult:
    """Run the load and the fault routine together; both must finish."""
    load = HttpLoad(hl.ingest.url, hl.token, app_id, concurrency=32)
    result, _ = await asyncio.gather(load.run(MESSAGES, seconds=LOAD_SECONDS, label=label), faults())
    return result


def outage(
    stop: Callable[[], object],
    start: Callable[[], object],
    *,
    at: float,
    down: float,
    record: Callable[[], None],
) -> Callable[[], Awaitable[None]]:
    """A fault routine: at ``at`` seconds into the load stop a server (blocking calls run
    in a thread, so the load goes on), leave it down ``down`` seconds, start it again."""

    async def run() -> None:
        await asyncio.sleep(at)
        await asyncio.to_thread(stop)
        record()
        await asyncio.sleep(down)
        await asyncio.to_thread(start)

    return run
