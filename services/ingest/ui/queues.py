"""Queue depths for the overview, read with passive declares.

On a plain (not robust) connection of the dashboard's own, opened at first use and
again after a loss: a robust channel answers a passive declare of a queue it declared
from its cache (aio-pika ``RobustChannel.declare_queue``), so its counts never move,
and a passive declare of a missing queue closes the channel it ran on. Answers are
cached briefly (``Cached``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aio_pika
import aio_pika.exceptions
import structlog
from aio_pika.abc import AbstractConnection

from services.ingest.ui.cached import Cached
from shared.topology import Topology

log = structlog.get_logger()


@dataclass(frozen=True)
class QueueDepth:
    label: str
    queue: str
    ready: int | None  # None: the queue is not declared (yet)


def queue_labels(topology: Topology) -> dict[str, str]:
    """What each queue holds, in words, in the order the overview lists them."""
    shards = topology.dispatch_queues
    return {
        **{
            q: "waiting for delivery" + (f" (shard {n})" if len(shards) > 1 else "")
            for n, q in enumerate(shards)
        },
        **{t.queue: f"retry in {t.label}" for t in topology.retry_tiers()},
        topology.dead_queue: "dead letters (out of retries)",
        topology.ingest_queue: "AMQP ingest",
        topology.rejected_queue: "AMQP ingest rejected",
    }


class QueueProbe:
    def __init__(self, amqp_url: str, topology: Topology, *, cache_seconds: float = 2.0) -> None:
        self._url = amqp_url
        self._labels = queue_labels(topology)
        self._connection: AbstractConnection | None = None
        self._cached = Cached(self._probe, cache_seconds)

    async def depths(self, *, fresh: bool = False) -> list[QueueDepth] | None:
        """Ready messages per queue, or None while the broker can't be reached."""
        return await self._cached.get(fresh=fresh)

    async def _probe(self) -> list[QueueDepth] | None:
        try:
            async with asyncio.timeout(3):
                if self._connection is None or self._connection.is_closed:
                    self._connection = await aio_pika.connect(
                        self._url, client_properties={"connection_name": "hookline-ingest-dashboard"}
                    )
                return await self._read_all(self._connection)
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
            log.warning("queue depths unavailable", error=repr(exc))
            return None

    async def _read_all(self, connection: AbstractConnection) -> list[QueueDepth]:
        depths = []
        channel = await connection.channel()
        for name, label in self._labels.items():
            if channel.is_closed:
                channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                depths.append(QueueDepth(label, name, None))
                continue
            depths.append(QueueDepth(label, name, queue.declaration_result.message_count))
        if not channel.is_closed:
            await channel.close()
        return depths

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
