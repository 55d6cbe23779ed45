"""The dispatcher's queue-depth probe (``/metrics``) against a real broker: with the
failover URLs, a node that does not answer costs one scrape, not every scrape until it
is back."""

from __future__ import annotations

import asyncio

from services.dispatcher.queue_depths import QueueDepthCollector, QueueProbe
from shared.settings import Settings
from tests.dispatcher.process import free_port
from tests.support.tcp_proxy import TcpProxy


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


async def test_a_probe_that_times_out_while_connecting_leaves_no_connection_behind(
    settings: Settings, world
) -> None:
    # Given a broker reached over a network slower than the probe's timeout
    proxy = await TcpProxy.to_broker(settings.amqp_urls()[0], hold=1.0)
    probe = QueueProbe(proxy.amqp_url, world.topology, QueueDepthCollector(), timeout=0.3)
    try:
        # When a scrape gives up on the connection
        await probe.refresh()
        # Then nothing goes on connecting once the network lets the attempt through
        # (aio-pika's connect_robust, cancelled, went on and kept a connection open)
        await asyncio.sleep(2.0)
        assert proxy.open_connections == 0
    finally:
        await probe.close()
        await proxy.cut()


async def test_overlapping_scrapes_share_one_connection(settings: Settings, world) -> None:
    # Given a probe not connected yet, reached over a network that holds new connections
    proxy = await TcpProxy.to_broker(settings.amqp_urls()[0], hold=0.3)
    depths = QueueDepthCollector()
    probe = QueueProbe(proxy.amqp_url, world.topology, depths)
    try:
        # When two scrapes (two Prometheus servers) probe at once
        await asyncio.gather(probe.refresh(), probe.refresh())
        # Then both have the depths, and only one connection was opened
        assert set(depths.depths) == set(world.topology.queues())
        await asyncio.sleep(0.5)
        assert proxy.open_connections == 1
    finally:
        await probe.close()
        await proxy.cut()
