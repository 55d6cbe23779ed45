"""Sharded dispatch against the real broker: tasks spread over the shards by endpoint, a
retry comes back to its own shard, and changing the shard count loses nothing."""

from __future__ import annotations

import asyncio

import aio_pika
from svix.api import ApplicationIn, EndpointIn, MessageIn, SvixAsync, SvixOptions

from services.dispatcher.publisher import TaskPublisher
from shared.tasks import DeliveryTask
from shared.topology import Topology, shard_of
from tests.conftest import AMQP_URL
from tests.dispatcher.conftest import running_dispatcher
from tests.ingest.conftest import start_ingest


async def depths(names: list[str]) -> dict[str, int]:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        return {
            n: (await channel.declare_queue(n, passive=True)).declaration_result.message_count for n in names
        }


async def fill(settings, receiver, endpoints: int, messages: int) -> tuple[list[str], int]:  # type: ignore[no-untyped-def]
    """Ingest (with ``settings``' shard count) accepts messages to ``endpoints`` endpoints;
    no dispatcher runs. Returns the endpoint ids and the number of tasks."""
    running, runner = await start_ingest(settings)
    try:
        svix = SvixAsync(settings.api_token, SvixOptions(server_url=running.url))
        app = await svix.application.create(ApplicationIn(name="shards"))
        ids = [
            (await svix.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/e{n}"))).id
            for n in range(endpoints)
        ]
        for n in range(messages):
            await svix.message.create(app.id, MessageIn(event_type="shard.test", payload={"n": n}))
    finally:
        await runner.cleanup()
    return ids, endpoints * messages


async def test_tasks_spread_over_the_shards_by_endpoint_and_all_are_delivered(make_settings, receiver):
    settings = make_settings(dispatch_shards=4)
    topology = Topology.of(settings)
    ids, total = await fill(settings, receiver, endpoints=8, messages=5)
    # Then each endpoint's tasks wait in its own shard, and nothing in any other
    expected = {q: 0 for q in topology.dispatch_queues}
    for endpoint_id in ids:
        expected[topology.shard_queue(shard_of(endpoint_id, 4))] += 5
    assert await depths(topology.dispatch_queues) == expected
    assert sum(1 for n in expected.values() if n) >= 2  # 8 endpoints over 4 shards
    # And one dispatcher consumes every shard
    async with running_dispatcher(settings):
        await receiver.wait_for(lambda: len(receiver.received) == total, timeout=30)
    assert await depths(topology.dispatch_queues) == {q: 0 for q in topology.dispatch_queues}


async def test_a_retry_comes_back_to_its_own_shard(make_settings):
    settings = make_settings(dispatch_shards=4, retry_schedule=[0.3])
    topology = Topology.of(settings)
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        publisher = TaskPublisher(topology)
        await publisher.on_connect(connection)
        tasks = [DeliveryTask(f"msg_{n}", "app_1", f"ep_{n}", "t", 0.0, b"{}") for n in range(12)]
        for task in tasks:
            await publisher.retry(task, 0.3)
        expected = {q: 0 for q in topology.dispatch_queues}
        for task in tasks:
            expected[topology.shard_queue(shard_of(task.endpoint_id, 4))] += 1
        # When the tier's TTL has passed, each task is back in its endpoint's shard
        for _ in range(100):
            if await depths(topology.dispatch_queues) == expected:
                break
            await asyncio.sleep(0.1)
        assert await depths(topology.dispatch_queues) == expected
        assert await depths([t.queue for t in topology.retry_tiers()]) == {topology.retry_tiers()[0].queue: 0}


async def test_from_one_queue_to_four_shards_nothing_is_lost(make_settings, receiver):
    one = make_settings()
    four = make_settings(amqp_prefix=one.amqp_prefix, dispatch_shards=4)
    _, total = await fill(one, receiver, endpoints=4, messages=5)
    assert (await depths([Topology.of(one).dispatch_queue]))[f"{one.amqp_prefix}.dispatch"] == total
    async with running_dispatcher(four):
        await receiver.wait_for(lambda: len(receiver.received) == total, timeout=30)
    assert await depths([f"{one.amqp_prefix}.dispatch"]) == {f"{one.amqp_prefix}.dispatch": 0}


async def test_from_four_shards_to_two_nothing_is_lost(make_settings, receiver):
    four = make_settings(dispatch_shards=4)
    two = make_settings(amqp_prefix=four.amqp_prefix, dispatch_shards=2)
    _, total = await fill(four, receiver, endpoints=8, messages=4)
    async with running_dispatcher(two):
        await receiver.wait_for(lambda: len(receiver.received) == total, timeout=30)
    left = await depths(Topology.of(four).dispatch_queues)
    assert left == {q: 0 for q in Topology.of(four).dispatch_queues}
