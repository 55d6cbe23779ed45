"""Publishes what a delivery leads to: a retry copy in a tier, or a dead letter.

A confirm channel with ``mandatory``: ``publish`` returns only once the broker has
taken the message (and raises if it could not route it), so the original task is
acked only after its consequence is safe.
"""

from __future__ import annotations

import aio_pika
import aio_pika.exceptions
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from pamqp.commands import Basic

from shared.amqp import confirm_channel
from shared.tasks import DeliveryTask
from shared.topology import Topology, declare_topology, delay_label

H_DEAD_REASON = "x-hookline-dead-reason"


class BrokerUnavailable(ConnectionError):
    pass


class TaskPublisher:
    def __init__(self, topology: Topology) -> None:
        self._topology = topology
        self._retry: AbstractExchange | None = None
        self._dead: AbstractExchange | None = None

    async def on_connect(self, connection: AbstractRobustConnection) -> None:
        channel = await confirm_channel(connection)
        await declare_topology(channel, self._topology)
        self._retry = await channel.get_exchange(self._topology.retry_exchange)
        self._dead = await channel.get_exchange(self._topology.dead_exchange)

    @property
    def ready(self) -> bool:
        return self._retry is not None and not self._retry.channel.is_closed

    async def retry(self, task: DeliveryTask, delay: float) -> None:
        """Park ``task`` in the tier of ``delay`` seconds; it comes back to the dispatch queue."""
        if self._retry is None:
            raise BrokerUnavailable("not connected to the broker")
        # Raw aiormq (a deferral is the hot path of an endpoint that is down): aio-pika's
        # Message and Exchange layers cost as much as the publish itself.
        channel = await self._retry.channel.get_underlay_channel()
        confirmation = await channel.basic_publish(
            task.payload,
            exchange=self._topology.retry_exchange,
            routing_key=delay_label(delay),
            properties=task.amqp_properties(),
            mandatory=True,
        )
        if not isinstance(confirmation, Basic.Ack):
            raise aio_pika.exceptions.DeliveryError(None, confirmation)  # type: ignore[arg-type]

    async def dead(self, message: aio_pika.Message, reason: str) -> None:
        if self._dead is None:
            raise BrokerUnavailable("not connected to the broker")
        message.headers = {**(message.headers or {}), H_DEAD_REASON: reason[:500]}
        await self._dead.publish(message, "", mandatory=True)
