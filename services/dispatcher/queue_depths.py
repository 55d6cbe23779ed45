"""``hookline_queue_messages{queue}``: how many messages wait in each of Hookline's queues.

Probed at scrape time with passive declares on a channel of its own (a passive declare
of a missing queue closes its channel, which must never be the publishing one). It is
exported by a collector rather than a ``Gauge``: the value belongs to the broker, not
to a process, so in multiprocess mode the supervisor probes and reports it once; and
a collector that describes nothing does not clash with ingest's gauge of the same name
when both run in one test process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from shared.amqp import close_quietly, connect_robust
from shared.topology import Topology

log = structlog.get_logger()

_PROBE_TIMEOUT = 2.0  # seconds; Prometheus' default scrape timeout is 10 s


class QueueDepthCollector(Collector):
    def __init__(self) -> None:
        self.depths: dict[str, int] = {}

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # claims no name: see the module's docstring

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hookline_queue_messages", "Messages waiting in Hookline's queues", labels=["queue"]
        )
        for queue, depth in sorted(self.depths.items()):
            family.add_metric([queue], depth)
        yield family


QUEUE_DEPTHS = QueueDepthCollector()
REGISTRY.register(QUEUE_DEPTHS)


class QueueProbe:
    """Refreshes a collector's depths; opens its connection on first use. Given the
    broker's failover URLs (``HOOKLINE_AMQP_FAILOVER_URLS``), a probe whose connection
    fails moves to the next node for the next scrape, as the services' links do, so
    the depths do not go stale while one node is down."""

    def __init__(
        self,
        amqp_urls: str | Sequence[str],
        topology: Topology,
        collector: QueueDepthCollector = QUEUE_DEPTHS,
        *,
        timeout: float = _PROBE_TIMEOUT,
    ):
        self._urls = [amqp_urls] if isinstance(amqp_urls, str) else list(amqp_urls)
        self._current, self._timeout = 0, timeout
        self._topology, self._collector = topology, collector
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        # Scrapes may overlap (two Prometheus servers): one probe at a time, or both
        # would open a connection and the first would be dropped unclosed.
        self._probing = asyncio.Lock()

    @property
    def url(self) -> str:
        return self._urls[self._current]

    async def refresh(self) -> None:
        if self._probing.locked():  # another scrape is probing: its depths answer this one too
            async with self._probing:
                return
        async with self._probing:
            await self._probe()

    async def _probe(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                if self._connection is None:
                    self._connection = await connect_robust(self.url, "hookline-dispatcher-metrics")
                if self._channel is None or self._channel.is_closed:
                    self._channel = await self._connection.channel()
                # The raw channel: aio-pika's robust channel answers a repeated passive
                # declare from its cache, with the count of the first one.
                raw = await self._channel.get_underlay_channel()
                for name in self._topology.queues():
                    declared = await raw.queue_declare(name, passive=True)
                    self._collector.depths[name] = declared.message_count or 0
        except aiormq.exceptions.ChannelNotFoundEntity as exc:  # the channel closed, not the node
            log.debug("queue depths unavailable", error=repr(exc))
        except Exception as exc:  # a scrape still answers, with the last known depths
            log.debug("queue depths unavailable", error=repr(exc), url_index=self._current)
            await self._next_node()

    async def _next_node(self) -> None:
        """Drop the connection (a robust one would keep retrying the node it knows) and
        point the next scrape at the next URL."""
        connection, self._connection, self._channel = self._connection, None, None
        self._current = (self._current + 1) % len(self._urls)
        if connection is not None:
            await close_quietly(connection, self._timeout)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
