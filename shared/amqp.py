"""RabbitMQ connections: robust (reconnecting) connections and confirm channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection


@asynccontextmanager
async def robust_connection(url: str, name: str) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(url, client_properties={"connection_name": name})
    try:
        yield connection
    finally:
        await connection.close()


async def confirm_channel(
    connection: AbstractRobustConnection, *, prefetch: int | None = None
) -> AbstractRobustChannel:
    """A channel with publisher confirms; an unroutable ``mandatory`` publish raises."""
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    if prefetch:
        await channel.set_qos(prefetch_count=prefetch)
    return channel  # type: ignore[return-value]
