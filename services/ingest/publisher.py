"""Publishes delivery tasks to ``<prefix>.dispatch`` with publisher confirms.

A publish that can't be confirmed (broker down, timeout, nack, unroutable) reports
failure instead of raising: the destination rows are already committed, and the
outbox relay sends them once the broker is back. Confirmed publishes are flagged in
PostgreSQL in batches.

Publishes are coalesced: every caller that publishes in the same turn of the event
loop (a group commit wakes all its requests at once) joins one ``publish_batch``,
one socket write for all of them; each caller still waits only for the confirms of
its own tasks, so a nack fails exactly the requests whose tasks it names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import aio_pika
import structlog
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from aiormq.abc import AbstractChannel

from shared.amqp import confirm_channel
from shared.publish_batch import check_channel, publish_batch
from shared.tasks import DeliveryTask
from shared.topology import DISPATCH_ROUTING_KEY, Topology, declare_topology

log = structlog.get_logger()


@dataclass(eq=False)
class _Waiting:
    """One caller's tasks; ``done`` resolves when the broker confirmed all of them, or
    fails with the first nack, return, channel error or the batch's timeout."""

    tasks: Sequence[DeliveryTask]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    unconfirmed: int = 0

    def watch(self, confirmations: list[asyncio.Future]) -> None:
        self.unconfirmed = len(confirmations)
        for confirmation in confirmations:
            confirmation.add_done_callback(self._on_confirmation)

    def _on_confirmation(self, confirmation: asyncio.Future) -> None:
        if self.done.done():
            return
        if confirmation.cancelled():
            self.done.set_exception(RuntimeError("confirmation cancelled (channel closed)"))
        elif (exc := confirmation.exception()) is not None:
            self.done.set_exception(exc)
        else:
            self.unconfirmed -= 1
            if self.unconfirmed == 0:
                self.done.set_result(None)

    def fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


def _expire(batch: list[_Waiting]) -> None:
    for waiting in batch:
        waiting.fail(TimeoutError("no publisher confirm in time"))


class DeliveryPublisher:
    def __init__(self, topology: Topology, confirm_timeout: float) -> None:
        self._topology = topology
        self._timeout = confirm_timeout
        self._exchange: AbstractExchange | None = None
        self._waiting: list[_Waiting] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._write_scheduled = False

    async def on_connect(self, connection: AbstractRobustConnection) -> None:
        channel = await confirm_channel(connection)
        await declare_topology(channel, self._topology)
        check_channel(await channel.get_underlay_channel())
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
        """Publish all tasks; True only when the broker confirmed every one."""
        if not tasks:
            return True
        if not self.ready:
            return False
        waiting = _Waiting(tasks)
        self._waiting.append(waiting)
        if not self._write_scheduled:
            # A task runs after the callbacks already queued: the other requests woken
            # by the same group commit join this write.
            self._write_scheduled = True
            writer = asyncio.create_task(self._write_waiting())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        try:
            await waiting.done
        except (TimeoutError, aio_pika.exceptions.AMQPError, RuntimeError, ConnectionError) as exc:
            log.warning(
                "delivery tasks not confirmed; the outbox will resend",
                count=len(tasks),
                error=repr(exc),
            )
            return False
        return True

    async def _publish(self, channel: AbstractChannel, tasks: list[DeliveryTask]) -> list[asyncio.Future]:
        """One batch per routing key (one, unless dispatch is sharded); the confirmations
        come back in the order of ``tasks``."""
        exchange, topology = self._topology.dispatch_exchange, self._topology
        if not topology.sharded:
            messages = [(task.payload, task.amqp_properties()) for task in tasks]
            return await publish_batch(channel, exchange, DISPATCH_ROUTING_KEY, messages)
        by_key: dict[str, list[int]] = {}
        for index, task in enumerate(tasks):
            by_key.setdefault(topology.routing_key(task.endpoint_id), []).append(index)
        confirmations: list[asyncio.Future] = [None] * len(tasks)  # type: ignore[list-item]
        for key, indexes in by_key.items():
            messages = [(tasks[i].payload, tasks[i].amqp_properties()) for i in indexes]
            for index, confirmation in zip(
                indexes, await publish_batch(channel, exchange, key, messages), strict=True
            ):
                confirmations[index] = confirmation
        return confirmations

    async def _write_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        self._write_scheduled = False
        # One timer for the whole batch (from now, which is within a loop turn of every
        # caller's start), rather than a timeout context per caller.
        timer = asyncio.get_running_loop().call_later(self._timeout, _expire, batch)
        try:
            assert self._exchange is not None
            channel = await self._exchange.channel.get_underlay_channel()  # raw aiormq
            live = [w for w in batch if not w.done.done()]  # callers that gave up meanwhile
            if not live:
                timer.cancel()
                return
            confirmations = await self._publish(channel, [task for w in live for task in w.tasks])
        except BaseException as exc:
            timer.cancel()
            for w in batch:
                w.fail(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for w in live:
            w.watch(confirmations[start : start + len(w.tasks)])
            start += len(w.tasks)
        # The timer holds the batch (payloads included): drop it once all are answered.
        unanswered = len(live)

        def answered(_: asyncio.Future) -> None:
            nonlocal unanswered
            unanswered -= 1
            if unanswered == 0:
                timer.cancel()

        for w in live:
            w.done.add_done_callback(answered)
