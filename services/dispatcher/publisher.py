"""Publishes what a delivery leads to: a retry copy in a tier, or a dead letter.

A confirm channel with ``mandatory``: ``publish`` returns only once the broker has
taken the message (and raises if it could not route it), so the original task is
acked only after its consequence is safe.

Retry copies are the hot path of an endpoint that is down (every one of its tasks is
parked while its circuit is open): the copies of one event-loop turn go out in one
socket write (``shared.publish_batch``), each caller awaiting its own confirmation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from shared.amqp import confirm_channel
from shared.publish_batch import check_channel, publish_batch
from shared.tasks import DeliveryTask
from shared.topology import Topology, declare_topology, delay_label

H_DEAD_REASON = "x-hookline-dead-reason"
_LINGER = 0.005  # seconds


class BrokerUnavailable(ConnectionError):
    pass


@dataclass(eq=False, slots=True)
class _Copy:
    routing_key: str
    task: DeliveryTask
    # Resolves to the broker's confirmation future once the copy is written.
    written: asyncio.Future[asyncio.Future[object]]


class TaskPublisher:
    def __init__(self, topology: Topology) -> None:
        self._topology = topology
        self._retry: AbstractExchange | None = None
        self._dead: AbstractExchange | None = None
        self._copies: list[_Copy] = []
        self._writer: asyncio.Task[None] | None = None

    async def on_connect(self, connection: AbstractRobustConnection) -> None:
        channel = await confirm_channel(connection)
        check_channel(await channel.get_underlay_channel())
        await declare_topology(channel, self._topology)
        self._retry = await channel.get_exchange(self._topology.retry_exchange)
        self._dead = await channel.get_exchange(self._topology.dead_exchange)

    @property
    def ready(self) -> bool:
        return self._retry is not None and not self._retry.channel.is_closed

    async def retry(self, task: DeliveryTask, delay: float) -> None:
        """Park ``task`` in the tier of ``delay`` seconds; it comes back to the dispatch queue."""
        await (await self.queue_retry(task, delay))  # raises on a nack, a return or a closed channel

    def queue_retry(self, task: DeliveryTask, delay: float) -> asyncio.Future[asyncio.Future[object]]:
        """``retry`` without waiting: a future of the copy's broker confirmation, set once
        the copy is written (callers with many copies await futures, not coroutines)."""
        if self._retry is None:
            raise BrokerUnavailable("not connected to the broker")
        copy = _Copy(delay_label(delay), task, asyncio.get_running_loop().create_future())
        self._copies.append(copy)
        if self._writer is None:
            # A task runs after the callbacks already queued: this turn's copies join it.
            self._writer = asyncio.create_task(self._write_copies())
        return copy.written

    async def _write_copies(self) -> None:
        try:
            # Linger a little: parking an endpoint's tasks is never urgent, and every
            # write to the broker costs a system call that also wakes the broker.
            await asyncio.sleep(_LINGER)
            while self._copies:
                batch, self._copies = self._copies, []
                try:
                    await self._write(batch)
                except Exception as exc:
                    for copy in batch:
                        if not copy.written.done():
                            copy.written.set_exception(exc)
        finally:
            self._writer = None

    async def _write(self, batch: list[_Copy]) -> None:
        assert self._retry is not None
        channel = await self._retry.channel.get_underlay_channel()  # raw aiormq
        tiers: dict[str, list[_Copy]] = {}
        for copy in batch:
            if not copy.written.done():  # its caller may have been cancelled meanwhile
                tiers.setdefault(copy.routing_key, []).append(copy)
        for routing_key, copies in tiers.items():
            sharded = self._topology.sharded
            messages = [
                (
                    c.task.payload,
                    c.task.amqp_properties(
                        self._topology.routing_key(c.task.endpoint_id) if sharded else None
                    ),
                )
                for c in copies
            ]
            confirmations = await publish_batch(channel, self._topology.retry_exchange, routing_key, messages)
            for copy, confirmation in zip(copies, confirmations, strict=True):
                if not copy.written.done():
                    copy.written.set_result(confirmation)

    async def dead(self, message: aio_pika.Message, reason: str) -> None:
        if self._dead is None:
            raise BrokerUnavailable("not connected to the broker")
        message.headers = {**(message.headers or {}), H_DEAD_REASON: reason[:500]}
        await self._dead.publish(message, "", mandatory=True)
