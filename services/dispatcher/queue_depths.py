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
from collections.abc import Iterator

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

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
    """Refreshes a collector's depths; opens its connection on first use."""

    def __init__(self, amqp_url: str, topology: Topology, collector: QueueDepthCollector = QUEUE_DEPTHS):
        self._url, self._topology, self._collector = amqp_url, topology, collector
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None

    async def refresh(self) -> None:
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                if self._connection is None:
                    self._connection = await aio_pika.connect_robust(
                        self._url, client_properties={"connection_name": "hookline-dispatcher-metrics"}
                    )
                if self._channel is None or self._channel.is_closed:
                    self._channel = await self._connection.channel()
                # The raw channel: aio-pika's robust channel answers a repeated passive
                # declare from its cache, with the count of the first one.
                raw = await self._channel.get_underlay_channel()
                for name in self._topology.queues():
                    declared = await raw.queue_declare(name, passive=True)
                    self._collector.depths[name] = declared.message_count or 0
        except Exception as exc:  # a scrape still answers, with the last known depths
            log.debug("queue depths unavailable", error=repr(exc))

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
