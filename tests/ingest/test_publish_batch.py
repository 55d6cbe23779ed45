"""Coalesced publishing: requests that publish together share one socket write, yet
each learns about the confirms of its own delivery tasks only."""

import asyncio

from services.ingest.publisher import DeliveryPublisher
from shared.tasks import DeliveryTask
from shared.topology import DISPATCH_ROUTING_KEY, Topology


def task(n: int) -> DeliveryTask:
    return DeliveryTask(f"msg_{n}", "app_x", "ep_x", "a.b", 1.0, b'{"n": %d}' % n)


async def test_a_nack_fails_exactly_the_publishes_it_names(settings, amqp_connection):
    # Given a publisher whose dispatch queue holds two messages and nacks the rest
    # (a classic queue: a quorum queue applies its length limit only approximately)
    topology = Topology(settings.amqp_prefix, tuple(settings.retry_schedule))
    publisher = DeliveryPublisher(topology, confirm_timeout=5)
    await publisher.on_connect(amqp_connection)
    channel = await amqp_connection.channel()
    await channel.queue_delete(topology.dispatch_queue)
    small = await channel.declare_queue(
        topology.dispatch_queue,
        durable=True,
        arguments={"x-queue-type": "classic", "x-max-length": 2, "x-overflow": "reject-publish"},
    )
    await small.bind(topology.dispatch_exchange, DISPATCH_ROUTING_KEY)
    writes = 0
    underlay = await (await publisher_channel(publisher)).get_underlay_channel()
    put = underlay.write_queue.put

    async def counting_put(frame):  # type: ignore[no-untyped-def]
        nonlocal writes
        writes += 1
        await put(frame)

    underlay.write_queue.put = counting_put  # type: ignore[method-assign]
    try:
        # When three requests publish in the same turn: one task, two tasks, one task
        results = await asyncio.gather(
            publisher.publish([task(1)]),
            publisher.publish([task(2), task(3)]),
            publisher.publish([task(4)]),
        )

        # Then they went out in one write, the first request's task and one of the second's
        # were confirmed, and only the requests with a nacked task report failure
        assert writes == 1
        assert results == [True, False, False]
        raw = await channel.get_underlay_channel()  # the robust channel caches passive declares
        assert (await raw.queue_declare(topology.dispatch_queue, passive=True)).message_count == 2

        # And the channel stays usable: after the queue empties, a publish is confirmed again
        await small.purge()
        assert await publisher.publish([task(5)])
    finally:
        await small.delete(if_unused=False, if_empty=False)
        await channel.close()


async def publisher_channel(publisher: DeliveryPublisher):  # type: ignore[no-untyped-def]
    assert publisher._exchange is not None
    return publisher._exchange.channel
