"""One circuit per endpoint for the whole installation: three dispatcher processes against
a receiver that fails send it one probe per cool-down between them, not one each."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
from aiohttp import web

from tests.dispatcher.conftest import eventually
from tests.dispatcher.process import start_dispatcher
from tests.dispatcher.test_process import metric

COOLDOWN = 2.0


async def test_three_processes_send_one_probe_per_cool_down(make_settings, make_world, receiver, db_pool):
    # Many quick retries: the tasks keep coming back while the circuit is open
    settings = make_settings(retry_schedule=[0.3] * 40)
    world = await make_world(settings)
    broken = {"on": True}

    async def behaviour(_request: web.Request, _n: int) -> web.StreamResponse:
        return web.Response(status=503 if broken["on"] else 200)

    receiver.behaviours["/down"] = behaviour
    ep = await world.endpoint(f"{receiver.url}/down")
    tuning = {
        "HOOKLINE_DISPATCHER_CIRCUIT_FAILURES": 3,
        "HOOKLINE_DISPATCHER_CIRCUIT_COOLDOWN": COOLDOWN,
        "HOOKLINE_DISPATCHER_ENDPOINT_CONCURRENCY": 1,
    }
    # The first runs two worker processes: its /metrics is the sum of their gauges
    processes = [await start_dispatcher(settings, HOOKLINE_DISPATCHER_WORKERS=2, **tuning)]
    processes += [await start_dispatcher(settings, **tuning) for _ in range(2)]
    try:
        # Given 30 tasks for a failing endpoint, handled by three processes
        await world.send([ep], count=30)
        await eventually(lambda: _circuit_row(db_pool, ep.id), timeout=20)
        opened_at = asyncio.get_running_loop().time()
        first = len(receiver.at("/down"))
        # When four cool-downs pass with the circuit open
        await asyncio.sleep(4 * COOLDOWN + 0.5)
        # Then between them the processes sent one probe per cool-down: 4 (5 at most when
        # the last falls at the edge), where three processes alone would send 3 each time
        after_open = [r.at for r in receiver.at("/down")][first:]
        assert 2 <= len(after_open) <= 5, after_open
        gaps = [b - a for a, b in itertools.pairwise(after_open)]
        assert all(gap >= COOLDOWN * 0.8 for gap in gaps), gaps
        assert asyncio.get_running_loop().time() - opened_at >= 4 * COOLDOWN
        # Every worker mirrors the one open circuit by now; the pod reports it once
        async with aiohttp.ClientSession() as session, session.get(f"{processes[0].url}/metrics") as response:
            assert metric(await response.text(), "hookline_circuit_open_endpoints") == 1
        # And once the endpoint works again, a probe closes it for every process
        broken["on"] = False
        await receiver.wait_for(
            lambda: (
                len({r.headers["webhook-id"] for r in receiver.at("/down") if r.headers}) == 30
                and sum(1 for r in receiver.received if r.path == "/down") >= first + 30
            ),
            timeout=40,
        )
        await eventually(lambda: _no_circuit_row(db_pool, ep.id), timeout=10)
    finally:
        for process in processes:
            await process.stop()


async def _circuit_row(pool, endpoint_id: str) -> bool:  # type: ignore[no-untyped-def]
    return (
        await pool.fetchval("SELECT count(*) FROM endpoint_circuit WHERE endpoint_id = $1", endpoint_id) == 1
    )


async def _no_circuit_row(pool, endpoint_id: str) -> bool:  # type: ignore[no-untyped-def]
    return (
        await pool.fetchval("SELECT count(*) FROM endpoint_circuit WHERE endpoint_id = $1", endpoint_id) == 0
    )
