"""Hands verified events on to ``<prefix>.inbound`` with a publisher confirm.

Publishes are ``mandatory``, so the verifier learns when no queue is bound for a
routing key. That case is answered 2xx all the same (``UNROUTED``, counted and logged):
nobody inside subscribed to that event type, and a 503 would make the sender retry it
for days and then disable the whole endpoint (Stripe, Svix), losing the events someone
does consume. Consumers that want everything bind ``<source_id>.#``. A nack, a timeout
or a lost connection is ``BrokerUnavailable``: the caller answers 503.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import aio_pika
import aio_pika.exceptions
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from shared.amqp import confirm_channel
from shared.topology import Topology, declare_topology


class BrokerUnavailable(Exception):
    """The broker did not confirm the publish; the event is not safely queued."""


class Published(StrEnum):
    ROUTED = "published"
    UNROUTED = "unrouted"


class InboundPublisher:
    def __init__(self, topology: Topology, confirm_timeout: float) -> None:
        self._topology = topology
        self._timeout = confirm_timeout
        self._exchange: AbstractExchange | None = None

    async def on_connect(self, connection: AbstractRobustConnection) -> None:
        channel = await confirm_channel(connection)
        await declare_topology(channel, self._topology)
        self._exchange = await channel.get_exchange(self._topology.inbound_exchange)

    @property
    def ready(self) -> bool:
        # A robust channel reports closed from the moment its connection drops until
        # aio-pika has reopened it.
        return self._exchange is not None and not self._exchange.channel.is_closed

    async def publish(self, message: aio_pika.Message, routing_key: str) -> Published:
        if not self.ready:
            raise BrokerUnavailable("not connected to the broker")
        exchange = self._exchange
        assert exchange is not None
        try:
            async with asyncio.timeout(self._timeout):
                await exchange.publish(message, routing_key, mandatory=True)
        except aio_pika.exceptions.PublishError:
            return Published.UNROUTED  # returned by the broker, then confirmed
        except (TimeoutError, aio_pika.exceptions.AMQPError, RuntimeError, ConnectionError) as exc:
            raise BrokerUnavailable(f"publish not confirmed: {exc!r}") from exc
        return Published.ROUTED
