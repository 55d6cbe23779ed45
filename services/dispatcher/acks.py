"""Acks of one event-loop turn go to the broker in one socket write.

aiormq writes every ``basic.ack`` on its own, and on loopback each write costs a
system call in which the kernel also does the broker's share of the TCP work: a
dispatcher spent more on those writes than on building the acks. ``AckBatcher``
collects the delivery tags settled in one turn and hands them to the connection's
writer as a single frame sequence per channel.

Tags are acked on the channel they arrived on, never on a later one: a channel that
closed meanwhile has already returned its unacked messages to the queue (they are
delivered again), and its tags mean nothing on the channel that replaced it.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import structlog
from aiormq.abc import AbstractChannel, ChannelFrame, DeliveredMessage
from pamqp.commands import Basic

log = structlog.get_logger()


class AckBatcher:
    def __init__(self) -> None:
        self._pending: dict[AbstractChannel, list[int]] = {}
        self._writer: asyncio.Task[None] | None = None

    def ack(self, channel: AbstractChannel, delivery_tag: int) -> None:
        self._pending.setdefault(channel, []).append(delivery_tag)
        if self._writer is None:
            # A task runs after the callbacks already queued: the settlements of this
            # turn join the same write.
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._pending:
                pending, self._pending = self._pending, {}
                for channel, tags in pending.items():
                    await self._send(channel, tags)
        finally:
            self._writer = None

    async def flush(self) -> None:
        """Hand every collected ack to the writer (before the channel closes at a drain)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)
        pending, self._pending = self._pending, {}
        for channel, tags in pending.items():
            await self._send(channel, tags)

    @staticmethod
    async def _send(channel: AbstractChannel, tags: list[int]) -> None:
        if channel.is_closed:
            log.warning("channel closed before its acks went out; the broker redelivers", count=len(tags))
            return
        frames = [Basic.Ack(delivery_tag=tag) for tag in tags]
        await channel.write_queue.put(ChannelFrame.marshall(channel_number=channel.number, frames=frames))


async def requeue(message: DeliveredMessage) -> None:
    """Give a message back to its queue now (its settlement failed; it comes again)."""
    assert message.delivery_tag is not None
    with suppress(Exception):  # a closed channel requeues it anyway
        await message.channel.basic_nack(message.delivery_tag, requeue=True)
