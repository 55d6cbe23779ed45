"""Endpoint health: throttleRate across processes, the circuit breaker, auto-disable."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from aiohttp import web
from structlog.testing import capture_logs

from services.dispatcher.config import DispatcherTuning
from services.dispatcher.metrics import CIRCUIT_OPEN, DEFERRED
from tests.dispatcher.conftest import FAST, eventually, running_dispatcher


async def test_throttle_rate_holds_across_two_dispatchers(settings, world, receiver):
    # Given an endpoint limited to 10 messages/s and two dispatchers competing for its tasks
    ep = await world.endpoint(f"{receiver.url}/throttled", throttle_rate=10)
    await world.send([ep], count=120)
    async with AsyncExitStack() as stack:
        for _ in range(2):
            await stack.enter_async_context(running_dispatcher(settings))
        # When deliveries have run for a while
        await receiver.wait_for(lambda: len(receiver.received) >= 62, timeout=30)
    # Then any 5 s window holds 50 of them, within 20 %
    times = sorted(r.at for r in receiver.received)
    start = times[5]  # past the first instants, when both were still starting
    in_window = sum(1 for t in times if start <= t < start + 5)
    print(f"\nthrottleRate 10/s, two dispatchers: {in_window} deliveries in 5 s ({in_window / 5:.1f}/s)")
    assert 40 <= in_window <= 60


async def test_circuit_opens_after_k_failures_defers_without_posting_then_probes(
    make_settings, make_world, receiver
):
    settings = make_settings(retry_schedule=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    world = await make_world(settings)
    broken = {"on": True}

    async def behaviour(_request: web.Request, _n: int) -> web.StreamResponse:
        return web.Response(status=503 if broken["on"] else 200)

    receiver.behaviours["/breaker"] = behaviour
    ep = await world.endpoint(f"{receiver.url}/breaker")
    tuning = DispatcherTuning(**{**FAST.model_dump(), "endpoint_concurrency": 1, "circuit_cooldown": 3.0})
    deferred_before = DEFERRED.labels("circuit")._value.get()
    async with running_dispatcher(settings, tuning):
        # Given 20 tasks for an endpoint that fails
        await world.send([ep], count=20)
        # When K = 5 attempts in a row have failed
        await eventually(lambda: _gauge_is(CIRCUIT_OPEN, 1), every=0.02)
        posts_when_opened = len(receiver.received)
        await asyncio.sleep(1.5)  # within the 3 s cool-down
        # Then the endpoint gets no POST while the circuit is open; its tasks wait in a tier
        assert len(receiver.received) == posts_when_opened == 5
        assert DEFERRED.labels("circuit")._value.get() > deferred_before
        # And once it works again, one probe closes the circuit and everything arrives
        broken["on"] = False
        await receiver.wait_for(
            lambda: (
                len({r.headers["webhook-id"] for r in receiver.received if r.path == "/breaker"}) == 20
                and receiver.counts["/breaker"] - posts_when_opened >= 20
            ),
            timeout=30,
        )
        await eventually(lambda: _gauge_is(CIRCUIT_OPEN, 0))


async def _gauge_is(gauge, value: float) -> bool:
    return gauge._value.get() == value


async def test_an_endpoint_failing_for_disable_after_is_disabled(
    make_settings, make_world, receiver, db_pool, svix_api
):
    # Given HOOKLINE_DISABLE_AFTER=1.5s and an endpoint that always fails
    settings = make_settings(disable_after="1.5s")
    world = await make_world(settings)

    async def fail(_request: web.Request, _n: int) -> web.StreamResponse:
        return web.Response(status=500)

    receiver.behaviours["/broken"] = fail
    ep = await world.endpoint(f"{receiver.url}/broken")
    with capture_logs() as logs:
        async with running_dispatcher(settings):
            # When its attempts at 0 s, 1 s and 3 s all fail
            [task] = await world.send([ep])

            async def disabled() -> bool:
                return await db_pool.fetchval("SELECT disabled FROM endpoint WHERE id = $1", ep.id)

            await eventually(disabled, timeout=15)
            # Then it is disabled, with the reason recorded and logged, and later tasks fail unsent
            await eventually(lambda: _status_is(world, task.msg_id, ep.id, 2))
            [later] = await world.send([ep])
            await eventually(lambda: _status_is(world, later.msg_id, ep.id, 2))
    row = await db_pool.fetchrow("SELECT disabled_reason, failing_since FROM endpoint WHERE id = $1", ep.id)
    assert row["disabled_reason"].startswith("no successful delivery since ")
    assert row["disabled_reason"].endswith("Z (HOOKLINE_DISABLE_AFTER)")  # the setting's real name
    assert [e for e in logs if e["event"] == "endpoint disabled automatically" and e["endpoint_id"] == ep.id]
    assert len(receiver.at("/broken")) == 3
    assert (await svix_api.endpoint.get(world.app_id, ep.id)).disabled is True


async def _status_is(world, msg_id: str, endpoint_id: str, status: int) -> bool:
    return (await world.destination(msg_id, endpoint_id))["status"] == status
