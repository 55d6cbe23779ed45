"""Publishes delivery tasks to ``<prefix>.dispatch`` with publisher confirms.

A publish that can't be confirmed (broker down, timeout) reports failure instead of
raising: the destination rows are already committed, and the outbox relay sends them
once the broker is back. Confirmed publishes are flagged in PostgreSQL in batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aio_pika
import structlog
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from shared.amqp import confirm_channel
from shared.tasks import DeliveryTask
from shared.topology import DISPATCH_ROUTING_KEY, Topology, declare_topology

log = structlog.get_logger()


class DeliveryPublisher:
    def __init__(self, topology: Topology, confirm_timeout: float) -> None:
        self._topology = topology
        self._timeout = confirm_timeout
        self._exchange: AbstractExchange | None = None

    async def on_connect(self, connection: AbstractRobustConnection) -> None:
        channel = await confirm_channel(connection)
        await declare_topology(channel, self._topology)
        self._exchange = await channel.get_exchange(self._topology.dispatch_exchange)

    async def queue_depths(self) -> dict[str, int]:
        """Messages waiting in each of Hookline's queues (a passive declare per queue)."""
        assert self._exchange is not None
        # On the raw channel: aio-pika's robust channel answers a passive declare from its cache.
        channel = await self._exchange.channel.get_underlay_channel()
        depths = {}
        for name in self._topology.queues():
            result = await channel.queue_declare(name, passive=True)
            depths[name] = result.message_count or 0
        return depths

    @property
    def ready(self) -> bool:
        return self._exchange is not None and not self._exchange.channel.is_closed

    async def publish(self, tasks: Sequence[DeliveryTask]) -> bool:
        """Publish all tasks, pipelined; True only when the broker confirmed every one."""
        if not tasks:
            return True
        if not self.ready:
            return False
        assert self._exchange is not None
        name = self._topology.dispatch_exchange
        try:
            async with asyncio.timeout(self._timeout):
                channel = await self._exchange.channel.get_underlay_channel()  # raw aiormq
                await asyncio.gather(
                    *(
                        channel.basic_publish(
                            task.payload,
                            exchange=name,
                            routing_key=DISPATCH_ROUTING_KEY,
                            properties=task.amqp_properties(),
                            mandatory=True,
                        )
                        for task in tasks
                    )
                )
        except (TimeoutError, aio_pika.exceptions.AMQPError, RuntimeError, ConnectionError) as exc:
            log.warning(
                "delivery tasks not confirmed; the outbox will resend",
                count=len(tasks),
                error=repr(exc),
            )
            return False
        return True
