"""Queue depths for the overview, from the publisher's passive declares, cached briefly
because every open live page refreshes often."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aio_pika.exceptions
import structlog

from shared.topology import Topology

log = structlog.get_logger()


@dataclass(frozen=True)
class QueueDepth:
    label: str
    queue: str
    ready: int


def queue_labels(topology: Topology) -> dict[str, str]:
    """What each queue holds, in words, in the order the overview lists them."""
    return {
        topology.dispatch_queue: "waiting for delivery",
        **{t.queue: f"retry in {t.label}" for t in topology.retry_tiers()},
        topology.dead_queue: "dead letters (out of retries)",
        topology.ingest_queue: "AMQP ingest",
        topology.rejected_queue: "AMQP ingest rejected",
    }


class QueueProbe:
    def __init__(
        self,
        read: Callable[[], Awaitable[dict[str, int]]],
        ready: Callable[[], bool],
        topology: Topology,
        *,
        cache_seconds: float = 2.0,
    ) -> None:
        self._read, self._ready = read, ready
        self._labels = queue_labels(topology)
        self._cache_seconds = cache_seconds
        self._lock = asyncio.Lock()
        self._cached: tuple[float, list[QueueDepth] | None] = (float("-inf"), None)

    async def depths(self) -> list[QueueDepth] | None:
        """Ready messages per queue, or None while the broker can't be asked."""
        async with self._lock:
            at, cached = self._cached
            if time.monotonic() - at < self._cache_seconds:
                return cached
            result = await self._probe()
            self._cached = (time.monotonic(), result)
            return result

    async def _probe(self) -> list[QueueDepth] | None:
        if not self._ready():
            return None
        try:
            async with asyncio.timeout(3):
                found = await self._read()
        except (TimeoutError, OSError, RuntimeError, aio_pika.exceptions.AMQPError) as exc:
            log.warning("queue depths unavailable", error=repr(exc))
            return None
        return [QueueDepth(label, name, found[name]) for name, label in self._labels.items() if name in found]
