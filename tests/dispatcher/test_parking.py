"""Tasks parked on arrival (circuit open, endpoint full) are acked only once their copy
is confirmed in a tier: a copy the broker refuses leaves the task on the dispatch queue."""

from __future__ import annotations

import asyncio

from aiohttp import web
from structlog.testing import capture_logs

from services.dispatcher.config import DispatcherTuning
from services.dispatcher.metrics import CIRCUIT_OPEN, DEFERRED
from shared.topology import declare_topology
from tests.dispatcher.conftest import FAST, eventually, running_dispatcher


async def test_a_parked_task_whose_copy_is_refused_stays_queued_until_a_tier_takes_it(
    make_settings, make_world, receiver
):
    # Given an endpoint that always fails, whose circuit opens at the first failure for
    # 20 s, so its tasks are parked in the 30 s tier without a POST
    settings = make_settings(retry_schedule=[1.0, 30.0])
    world = await make_world(settings)

    async def down(_request: web.Request, _n: int) -> web.StreamResponse:
        return web.Response(status=503)

    receiver.behaviours["/down"] = down
    ep = await world.endpoint(f"{receiver.url}/down")
    tuning = DispatcherTuning(**{**FAST.model_dump(), "circuit_failures": 1, "circuit_cooldown": 20.0})
    long_tier = world.topology.tier_for(30.0).queue
    parked_before = DEFERRED.labels("circuit")._value.get()
    async with running_dispatcher(settings, tuning):
        await world.send([ep])
        await eventually(lambda: _gauge_is(CIRCUIT_OPEN, 1), every=0.02)
        # When the 30 s tier is gone while 10 more tasks arrive (their copies come back
        # unroutable), for a few of the consumer's requeue rounds
        raw = await world.channel.get_underlay_channel()
        await raw.queue_delete(long_tier)
        with capture_logs() as logs:
            await world.send([ep], count=10)
            await asyncio.sleep(2.5)
        # Then none was acked: each was requeued, and is still on the dispatch queue or held
        assert DEFERRED.labels("circuit")._value.get() == parked_before
        refused = [e for e in logs if e["event"] == "retry copies not confirmed; requeueing their tasks"]
        assert sum(e["count"] for e in refused) >= 10, logs
        # And once the tier is back they are all parked there, no POST made for them
        await declare_topology(world.channel, world.topology)
        await eventually(lambda: _depth_is(world, long_tier, 11), timeout=15)
    assert receiver.counts["/down"] == 1
    assert await world.queue_depth(world.topology.dispatch_queue) == 0
    assert DEFERRED.labels("circuit")._value.get() - parked_before == 11


async def _gauge_is(gauge, value: float) -> bool:
    return gauge._value.get() == value


async def _depth_is(world, queue: str, depth: int) -> bool:
    return await world.queue_depth(queue) == depth
