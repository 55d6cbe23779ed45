"""Draining on SIGTERM, egress through a proxy, and tasks that cannot be delivered."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import aio_pika
import aiohttp
from aiohttp import web
from prometheus_client import REGISTRY

from services.dispatcher.publisher import H_DEAD_REASON
from shared.topology import DISPATCH_ROUTING_KEY
from tests.dispatcher.conftest import eventually, running_dispatcher
from tests.dispatcher.process import start_dispatcher


async def test_sigterm_finishes_and_settles_in_flight_posts_and_returns_the_rest(settings, world, receiver):
    async def slow(_request: web.Request, _n: int) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return web.Response()

    receiver.behaviours["/slow"] = slow
    ep = await world.endpoint(f"{receiver.url}/slow")
    await world.send([ep], count=20)
    knobs = {"HOOKLINE_DRAIN_SECONDS": 10, "HOOKLINE_DISPATCHER_ENDPOINT_CONCURRENCY": 8}
    first = await start_dispatcher(settings, **knobs)
    # Given 8 POSTs in flight and 12 tasks waiting for their turn
    await receiver.wait_for(lambda: len(receiver.received) == 8)
    # When the dispatcher gets SIGTERM
    code, output = await first.stop()
    assert code == 0, output[-3000:]
    drained = [json.loads(line) for line in output.splitlines() if '"dispatcher drained"' in line]
    assert drained and drained[0]["finished"] == 8 and drained[0]["returned_unsent"] == 12, output[-3000:]
    # Then the 8 were finished and recorded, the 12 went back to the queue unsent
    assert len(await world.attempts(ep.id)) == 8
    assert await world.queue_depth(world.topology.dispatch_queue) == 12
    # And a new dispatcher delivers exactly those 12: nothing settled twice, nothing lost
    second = await start_dispatcher(settings, **knobs)
    try:
        await receiver.wait_for(lambda: len(receiver.received) == 20, timeout=30)
        await asyncio.sleep(0.5)
    finally:
        code, output = await second.stop()
    assert code == 0, output[-3000:]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == len(receiver.received) == 20


async def test_deliveries_can_go_out_through_an_egress_proxy(make_settings, make_world, receiver):
    proxied: list[str] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        proxied.append(request.raw_path)  # absolute-form: http://host:port/path
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession() as session,
            session.post(request.raw_path, data=await request.read(), headers=headers) as response,
        ):
            return web.Response(status=response.status, body=await response.read())

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    proxy = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        settings = make_settings(egress_proxy=proxy, retry_schedule=[])
        world = await make_world(settings)
        ep = await world.endpoint(f"{receiver.url}/via-proxy")
        refused = await world.endpoint("http://10.0.0.1/never")
        async with running_dispatcher(settings):
            await world.send([ep, refused])
            await receiver.wait_for(lambda: len(receiver.received) == 1)
            await eventually(lambda: _attempted(world, refused.id))
    finally:
        await runner.cleanup()
    assert proxied == [f"{receiver.url}/via-proxy"]  # the refused target never reached the proxy
    [attempt] = await world.attempts(refused.id)
    assert attempt["error"].startswith("refused by the target policy")


async def _attempted(world, endpoint_id: str) -> bool:
    return len(await world.attempts(endpoint_id)) == 1


async def test_malformed_tasks_are_dead_lettered_and_deleted_endpoints_skipped(
    settings, world, receiver, db_pool
):
    gone = await world.endpoint(f"{receiver.url}/gone")
    ep = await world.endpoint(f"{receiver.url}/fine")
    [orphan] = await world.send([gone])
    await db_pool.execute("DELETE FROM endpoint WHERE id = $1", gone.id)
    await world.exchange.publish(aio_pika.Message(b'{"no": "headers"}'), DISPATCH_ROUTING_KEY, mandatory=True)
    async with running_dispatcher(settings):
        [task] = await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.at("/fine")) == 1)
        await eventually(lambda: _depth(world, world.topology.dead_queue, 1))
        await eventually(lambda: _depth(world, world.topology.dispatch_queue, 0))
    assert receiver.at("/gone") == [] and orphan.endpoint_id == gone.id
    dead = await (await world.channel.get_queue(world.topology.dead_queue)).get(no_ack=True)
    assert dead.body == b'{"no": "headers"}'
    assert "not a delivery task" in dead.headers[H_DEAD_REASON]
    assert task.endpoint_id == ep.id


async def test_a_task_whose_time_is_no_messages_is_dead_lettered_unsent(settings, world, receiver):
    # The attempt log looks for a delivery's rows within a day of its message's time: a task
    # carrying another time would be POSTed and leave no record (or, past year 9999, fail
    # to settle after every POST until the poison limit).
    far, ahead, fine = [await world.endpoint(f"{receiver.url}/{path}") for path in ("far", "ahead", "fine")]
    far_task, ahead_task = await world.commit([far, ahead])
    skipped_before = _implausible_skipped()
    await world.publish(
        [replace(far_task, created_at=1e14), replace(ahead_task, created_at=time.time() + 7 * 86_400)]
    )
    async with running_dispatcher(settings):
        await world.send([fine])
        await receiver.wait_for(lambda: len(receiver.at("/fine")) == 1)
        await eventually(lambda: _depth(world, world.topology.dead_queue, 2))
        await eventually(lambda: _depth(world, world.topology.dispatch_queue, 0))
    assert receiver.at("/far") == receiver.at("/ahead") == []
    queue = await world.channel.get_queue(world.topology.dead_queue)
    reasons = [(await queue.get(no_ack=True)).headers[H_DEAD_REASON] for _ in range(2)]
    assert all("is no message's time" in str(reason) for reason in reasons), reasons
    assert all("this clock, which reads" in str(reason) for reason in reasons), reasons  # a slow clock shows
    assert _implausible_skipped() == skipped_before + 2
    for task in (far_task, ahead_task):  # untouched: the API still shows them pending, unattempted
        row = await world.destination(task.msg_id, task.endpoint_id)
        assert (row["attempt_count"], row["published"]) == (0, True)
        assert await world.attempts(task.endpoint_id) == []


def _implausible_skipped() -> float:
    labels = {"reason": "implausible_time"}
    return REGISTRY.get_sample_value("hookline_deliveries_skipped_total", labels) or 0.0


async def _depth(world, queue: str, expected: int) -> bool:
    return await world.queue_depth(queue) == expected
