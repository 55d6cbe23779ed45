"""The consumer registers itself with aiormq directly, so aio-pika's robust channel does
not restore it: it must do so itself whenever the channel reopens."""

from __future__ import annotations

from services.dispatcher.keys import PARTS
from tests.dispatcher.conftest import eventually, running_dispatcher_app


async def test_the_consumer_comes_back_when_the_broker_closes_its_channel(settings, world, receiver):
    ep = await world.endpoint(f"{receiver.url}/back")
    async with running_dispatcher_app(settings) as (_url, app):
        await world.send([ep], count=5)
        await receiver.wait_for(lambda: receiver.counts["/back"] >= 5)
        # Given a channel error: an ack of a tag the broker never sent closes the channel
        consumer = app[PARTS].consumer
        assert consumer is not None
        closed = consumer._raw
        assert closed is not None
        await closed.basic_ack(999_999)
        await eventually(lambda: _true(closed.is_closed))
        # When the robust channel has reopened
        await eventually(lambda: _true(consumer.consuming), every=0.05)
        # Then deliveries go on, on the new channel
        await world.send([ep], count=5)
        # (the first five may come again: their acks can be lost with the channel)
        await receiver.wait_for(lambda: len(_ids(receiver, "/back")) >= 10, timeout=15)
        assert consumer._raw is not closed
    assert len(_ids(receiver, "/back")) == 10


def _ids(receiver, path: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.headers["webhook-id"] for r in receiver.at(path)}


async def _true(value: bool) -> bool:
    return value


async def test_the_consumer_comes_back_after_the_broker_cancels_it(settings, world, receiver):
    ep = await world.endpoint(f"{receiver.url}/again")
    async with running_dispatcher_app(settings) as (_url, app):
        consumer = app[PARTS].consumer
        assert consumer is not None
        # Given the dispatch queue deleted under the consumer (the broker cancels it)
        raw = await world.channel.get_underlay_channel()
        await raw.queue_delete(world.topology.dispatch_queue)
        await eventually(lambda: _true(not consumer.consuming), every=0.05)
        # When the dispatcher has reconnected (its set-up declares the queue again)
        await eventually(lambda: _true(consumer.consuming), every=0.05)
        # Then tasks published now are delivered
        await world.send([ep], count=5)
        await receiver.wait_for(lambda: receiver.counts["/again"] >= 5, timeout=15)
