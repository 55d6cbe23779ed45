"""Consumes ``<prefix>.dispatch`` (or every shard ``<prefix>.dispatch.<n>``, plus any
dispatch queue a former shard count left behind, until it is deleted): the consumer
callback of every delivery.

A message whose task is to be parked on arrival (its endpoint's circuit is open, or
the endpoint's slots and queue are full: ``DeliveryHandler.park_at_once``) goes to
the settler's batched parking. Every other message becomes an asyncio task (the
channel's prefetch bounds how many) running ``Settler.run``: the handler, then the
settlement — ack once its consequences are durable, requeue when anything raised
(``services.dispatcher.settle``, the one place messages are settled).

Deliveries come straight from aiormq (``basic_consume`` on the channel's underlay)
rather than through aio-pika's ``IncomingMessage`` and the extra task it runs per
message: about a sixth of the CPU a parked task cost. aio-pika's robust channel does
not know this consumer, so it is registered again whenever the channel reopens.

Drain (SIGTERM): cancel the consumer tag so the broker sends no more, drop the tasks
still waiting for their turn (nothing was sent for them), let the ones already
POSTing finish up to a bound, cancel whatever is left, then the caller closes the
channel, which returns every unsettled message to the queue.

Poison guard: a task that keeps failing to settle (its attempt row refused in every
form, say) would come back for ever. The dispatch queue is a quorum queue, which counts
returned deliveries in ``x-delivery-count``; once that reaches
``HOOKLINE_POISON_DELIVERIES`` the task goes to the dead queue with the reason the
settler remembered instead of being handled again.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import aiormq
import structlog
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp.commands import Basic

from services.dispatcher.delivery import DeliveryHandler, Progress
from services.dispatcher.settle import Arrival, Poisoned, Settler, delivery_count
from services.dispatcher.traced import settle_traced
from shared import tracing
from shared.tasks import DeliveryTask, MalformedTask
from shared.topology import MAX_SHARDS, Topology, declare_topology

log = structlog.get_logger()

_LOGGED_IDS = 50


class TaskConsumer:
    def __init__(
        self,
        topology: Topology,
        handler: DeliveryHandler,
        settler: Settler,
        *,
        prefetch: int,
        poison_deliveries: int = 10,
    ) -> None:
        self._topology, self._handler, self._settle = topology, handler, settler
        self._prefetch, self._poison_deliveries = prefetch, poison_deliveries
        self._connection: AbstractRobustConnection | None = None
        self._reconnecting: asyncio.Task[None] | None = None  # held: the loop keeps weak refs
        self._raw: AbstractChannel | None = None  # the underlay the consumer is registered on
        self._tags: dict[str, str] = {}  # queue -> consumer tag
        self._queues: list[str] = list(topology.dispatch_queues)
        self._tasks: dict[asyncio.Task[None], Progress] = {}
        self.draining = False

    @property
    def consuming(self) -> bool:
        return bool(self._tags) and self._raw is not None and not self._raw.is_closed

    async def on_connect(self, connection: AbstractRobustConnection) -> None:
        self._queues = [*self._topology.dispatch_queues, *await _existing(connection, self._topology)]
        if len(self._queues) > len(self._topology.dispatch_queues):
            log.info("also consuming dispatch queues of another shard count", queues=self._queues)
        channel = await connection.channel()
        # Prefetch counts per consumer (quorum queues have no channel-wide limit): the
        # shards share it, so the process holds about as many tasks as with one queue.
        shards = len(self._topology.dispatch_queues)
        await channel.set_qos(prefetch_count=-(-self._prefetch // shards))  # restored with the channel
        # Declared on this channel too, so that its restore after a reconnect declares
        # the queue again before ``_on_reopen`` consumes from it (it may have been deleted).
        await declare_topology(channel, self._topology)
        self._connection = connection
        channel.reopen_callbacks.add(self._on_reopen)
        await self._consume(channel)

    async def _consume(self, channel: AbstractRobustChannel) -> None:
        raw = await channel.get_underlay_channel()
        raw.on_consumer_cancel_callbacks.add(self._on_cancelled)
        tags = {}
        for queue in self._queues:
            tags[queue] = (await raw.basic_consume(queue, self._on_message)).consumer_tag
        self._raw, self._tags = raw, tags

    async def _on_reopen(self, channel: AbstractRobustChannel) -> None:
        self._tags = {}
        if self.draining:
            return
        try:
            await self._consume(channel)
        except Exception as exc:  # the channel closed again: it reopens and calls back
            log.warning("consumer not registered on the reopened channel", error=repr(exc))
            return
        log.info("consuming again after the channel reopened")

    def _on_cancelled(self, frame: Basic.Cancel) -> None:
        """The broker cancelled the consumer (its queue was deleted, say): reconnect,
        which declares the topology and registers the consumer again."""
        if frame.consumer_tag not in self._tags.values() or self.draining:
            return
        self._tags = {}
        log.error("the broker cancelled the dispatch consumer; reconnecting")
        if self._connection is not None:
            self._reconnecting = asyncio.get_running_loop().create_task(self._connection.reconnect())

    async def _on_message(self, message: DeliveredMessage) -> None:
        if self.draining:  # sent before the cancel arrived: it returns with the channel
            return
        try:
            delivery: Arrival = DeliveryTask.from_delivered(message)
        except MalformedTask as exc:
            delivery = exc
        else:
            if (deliveries := delivery_count(message)) >= self._poison_deliveries:
                delivery = self._settle.poisoned(delivery, deliveries)
            elif (parking := self._handler.park_at_once(delivery)) is not None:
                self._settle.park(message, delivery, parking)
                return
        progress = Progress()
        # Named for its message: a drain names the ones it had to cancel.
        name = delivery.msg_id if isinstance(delivery, DeliveryTask) else "malformed"
        if isinstance(delivery, Poisoned):
            name = delivery.task.msg_id
        # Chosen per task, not inside run: with tracing off a delivery costs nothing more.
        if tracing.TRACER is None:
            work = self._settle.run(message, delivery, progress)
        else:
            work = settle_traced(self._settle, message, delivery, progress)
        task = asyncio.create_task(work, name=name)
        self._tasks[task] = progress
        task.add_done_callback(self._tasks.pop)

    async def drain(self, bound: float) -> None:
        """Stop consuming and settle what is in flight, within ``bound`` seconds in all."""
        deadline = asyncio.get_running_loop().time() + bound
        self.draining = True
        if self._raw is not None:
            for tag in self._tags.values():
                with suppress(Exception):
                    await self._raw.basic_cancel(tag)
        waiting = [t for t, p in self._tasks.items() if not p.acting]
        for task in waiting:
            task.cancel()
        acting = [t for t in self._tasks if t not in waiting]
        finished, unfinished = await asyncio.wait(acting, timeout=bound) if acting else (set(), set())
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*waiting, *unfinished, return_exceptions=True)
        await self._settle.drain(max(0.0, deadline - asyncio.get_running_loop().time()))
        # Cancelled in flight: POSTed perhaps, but not settled (the attempt not written, say);
        # unacked, they return to the queue when the channel closes.
        cancelled = sorted(t.get_name() for t in unfinished)
        log.info(
            "dispatcher drained",
            returned_unsent=len(waiting),
            finished=len(finished),
            cancelled_in_flight=len(unfinished),
            cancelled_msg_ids=cancelled[:_LOGGED_IDS],
        )


async def _existing(connection: AbstractRobustConnection, topology: Topology) -> list[str]:
    """Dispatch queues another shard count made that still exist: the single queue of an
    unsharded installation, and shards numbered from N up (shards are made 0..N-1, so the
    first missing number ends the search). A passive declare of a missing queue closes
    its channel: each probe has a channel of its own, closed by us either way, so a robust
    channel the broker closed does not stay behind reopening itself."""

    async def exists(name: str) -> bool:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
            return True
        except aiormq.exceptions.ChannelNotFoundEntity:
            return False
        finally:
            with suppress(Exception):
                await channel.close()

    found = []
    if topology.sharded and await exists(f"{topology.prefix}.dispatch"):
        found.append(f"{topology.prefix}.dispatch")
    shard = topology.shards if topology.sharded else 0
    while shard < MAX_SHARDS and await exists(topology.shard_queue(shard)):
        found.append(topology.shard_queue(shard))
        shard += 1
    return found
