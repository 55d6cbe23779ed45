"""The dispatcher's queue-depth probe (``/metrics``) against a real broker: with the
failover URLs, a node that does not answer costs one scrape, not every scrape until it
is back."""

from __future__ import annotations

from services.dispatcher.queue_depths import QueueDepthCollector, QueueProbe
from shared.settings import Settings
from tests.dispatcher.process import free_port


async def test_a_probe_whose_node_is_down_reads_the_depths_from_the_next_one(
    settings: Settings, world
) -> None:
    # Given a first URL where no broker answers, and the real broker after it
    endpoint = await world.endpoint("http://127.0.0.1:9/unused")
    await world.send([endpoint], count=3)
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    depths = QueueDepthCollector()
    probe = QueueProbe([dead, *settings.amqp_urls()], world.topology, depths)
    try:
        # When the first scrape fails on the dead node
        await probe.refresh()
        assert depths.depths == {}
        # Then the next scrape reads every queue's depth from the next node
        await probe.refresh()
        assert depths.depths[world.topology.dispatch_queue] == 3
        assert set(depths.depths) == set(world.topology.queues())
    finally:
        await probe.close()
