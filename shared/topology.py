"""The one place that knows Hookline's exchange and queue names and arguments.

Every name starts with the installation's prefix (``HOOKLINE_AMQP_PREFIX``), so two
installations or two test runs can share one broker. Retry tiers are one durable
queue per distinct delay: RabbitMQ only expires messages at the head of a queue, so
a shared delay queue with per-message TTLs would make short delays wait behind long
ones (RabbitMQ docs, "Time-To-Live and Expiration", per-message TTL caveats).

Sharded dispatch (``HOOKLINE_DISPATCH_SHARDS`` = N > 1): delivery tasks spread over N
quorum queues ``<prefix>.dispatch.<n>``, each bound to the dispatch exchange with the
routing key ``shard.<n>``; an endpoint's shard is computed at publish (CRC-32 of its id,
mod N), so no broker plugin is needed and every task of an endpoint meets the same queue.
A retry goes to its tier with the shard key in its ``CC`` header; the sharded tiers set
no dead-letter routing key, so RabbitMQ dead-letters each task with its original keys and
the ``shard.<n>`` one brings it back to its own shard. A single-queue installation (N = 1)
keeps the names and arguments it always had: a queue's arguments cannot change in place,
which is also why the sharded tiers have names of their own (``<prefix>.retry.<delay>.sharded``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, TypedDict

import aio_pika
from aio_pika.abc import AbstractChannel

DISPATCH_ROUTING_KEY = "task"
MAX_SHARDS = 64


class QueueArguments(TypedDict, total=False):
    """The ``x-`` arguments Hookline declares queues with (typed, not a loose dict)."""

    x_queue_type: str
    x_message_ttl: int
    x_dead_letter_exchange: str
    x_dead_letter_routing_key: str
    x_dead_letter_strategy: str
    x_overflow: str
    x_queue_leader_locator: str


def _amqp_args(args: QueueArguments) -> dict[str, object]:
    return {key.replace("_", "-"): value for key, value in args.items()}


def delay_label(seconds: float) -> str:
    """``5`` -> ``5s``, ``300`` -> ``5m``, ``7200`` -> ``2h``, ``0.5`` -> ``500ms``."""
    ms = round(seconds * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True)
class RetryTier:
    delay_seconds: float
    queue: str

    @property
    def label(self) -> str:
        return delay_label(self.delay_seconds)


def shard_of(endpoint_id: str, shards: int) -> int:
    """The dispatch shard of an endpoint: stable across processes and restarts."""
    return zlib.crc32(endpoint_id.encode()) % shards if shards > 1 else 0


@dataclass(frozen=True)
class Topology:
    prefix: str
    retry_delays: tuple[float, ...] = ()
    shards: int = 1

    @classmethod
    def of(cls, settings: Any) -> Topology:
        """The topology a service's settings describe."""
        return cls(settings.amqp_prefix, tuple(settings.retry_schedule), settings.dispatch_shards)

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    @property
    def dispatch_exchange(self) -> str:
        return f"{self.prefix}.dispatch"

    @property
    def dispatch_queue(self) -> str:
        """The single dispatch queue (N = 1), or the first shard."""
        return self.dispatch_queues[0]

    @property
    def dispatch_queues(self) -> list[str]:
        if not self.sharded:
            return [f"{self.prefix}.dispatch"]
        return [self.shard_queue(n) for n in range(self.shards)]

    def shard_queue(self, shard: int) -> str:
        return f"{self.prefix}.dispatch.{shard}"

    def routing_key(self, endpoint_id: str) -> str:
        """Where ingest publishes an endpoint's tasks on the dispatch exchange."""
        if not self.sharded:
            return DISPATCH_ROUTING_KEY
        return f"shard.{shard_of(endpoint_id, self.shards)}"

    @property
    def retry_exchange(self) -> str:
        return f"{self.prefix}.retry"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def ingest_exchange(self) -> str:
        return f"{self.prefix}.ingest"

    @property
    def ingest_queue(self) -> str:
        return f"{self.prefix}.ingest"

    @property
    def rejected_queue(self) -> str:
        return f"{self.prefix}.ingest.rejected"

    @property
    def inbound_exchange(self) -> str:
        return f"{self.prefix}.inbound"

    def retry_tiers(self) -> list[RetryTier]:
        """One tier per distinct delay, shortest first."""
        delays = sorted(set(self.retry_delays))
        suffix = ".sharded" if self.sharded else ""
        return [RetryTier(d, f"{self.prefix}.retry.{delay_label(d)}{suffix}") for d in delays]

    def tier_for(self, delay_seconds: float) -> RetryTier:
        for tier in self.retry_tiers():
            if tier.delay_seconds == delay_seconds:
                return tier
        raise KeyError(f"no retry tier of {delay_seconds}s")

    def exchanges(self) -> list[str]:
        return [
            self.dispatch_exchange,
            self.retry_exchange,
            self.dead_exchange,
            self.ingest_exchange,
            self.inbound_exchange,
        ]

    def queues(self) -> list[str]:
        return [
            *self.dispatch_queues,
            *(t.queue for t in self.retry_tiers()),
            self.dead_queue,
            self.ingest_queue,
            self.rejected_queue,
        ]


_QUORUM: QueueArguments = {"x_queue_type": "quorum"}


async def declare_topology(channel: AbstractChannel, topo: Topology) -> None:
    """Declare every exchange, queue and binding; idempotent, run by each service at start."""
    direct, durable = aio_pika.ExchangeType.DIRECT, True
    dispatch = await channel.declare_exchange(topo.dispatch_exchange, direct, durable=durable)
    retry = await channel.declare_exchange(topo.retry_exchange, direct, durable=durable)
    dead = await channel.declare_exchange(topo.dead_exchange, aio_pika.ExchangeType.FANOUT, durable=durable)
    ingest = await channel.declare_exchange(
        topo.ingest_exchange, aio_pika.ExchangeType.FANOUT, durable=durable
    )
    await channel.declare_exchange(topo.inbound_exchange, aio_pika.ExchangeType.TOPIC, durable=durable)

    if not topo.sharded:
        queue = await channel.declare_queue(topo.dispatch_queue, durable=True, arguments=_amqp_args(_QUORUM))
        await queue.bind(dispatch, DISPATCH_ROUTING_KEY)
    for n in range(topo.shards if topo.sharded else 0):
        # balanced: each new shard's leader on the node with the fewest leaders
        shard_args: QueueArguments = {**_QUORUM, "x_queue_leader_locator": "balanced"}
        queue = await channel.declare_queue(
            topo.shard_queue(n), durable=True, arguments=_amqp_args(shard_args)
        )
        await queue.bind(dispatch, f"shard.{n}")

    for tier in topo.retry_tiers():
        args: QueueArguments = {
            **_QUORUM,
            "x_message_ttl": int(tier.delay_seconds * 1000),
            "x_dead_letter_exchange": topo.dispatch_exchange,
            # Quorum queues dead-letter at-most-once unless told otherwise; a retry
            # must never vanish between its tier and the dispatch queue.
            "x_dead_letter_strategy": "at-least-once",
            "x_overflow": "reject-publish",
        }
        if not topo.sharded:  # sharded: the task's own keys, its CC header naming its shard
            args["x_dead_letter_routing_key"] = DISPATCH_ROUTING_KEY
        queue = await channel.declare_queue(tier.queue, durable=True, arguments=_amqp_args(args))
        await queue.bind(retry, tier.label)

    queue = await channel.declare_queue(topo.dead_queue, durable=True, arguments=_amqp_args(_QUORUM))
    await queue.bind(dead)
    queue = await channel.declare_queue(topo.ingest_queue, durable=True, arguments=_amqp_args(_QUORUM))
    await queue.bind(ingest)
    await channel.declare_queue(topo.rejected_queue, durable=True, arguments=_amqp_args(_QUORUM))


async def delete_topology(channel: AbstractChannel, topo: Topology) -> None:
    """Remove everything ``declare_topology`` made (tests and uninstalls)."""
    for name in topo.queues():
        await channel.queue_delete(name)
    for name in topo.exchanges():
        await channel.exchange_delete(name)
