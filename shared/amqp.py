"""RabbitMQ connections: robust (reconnecting) connections and confirm channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import aio_pika
import aio_pika.exceptions
import structlog
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

log = structlog.get_logger()


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


class BrokerLink:
    """A robust connection established in the background, so a service starts (and
    serves what it can) while the broker is still down; aio-pika's robust connection
    then restores channels and consumers after every later outage."""

    def __init__(
        self,
        url: str,
        name: str,
        on_connect: Callable[[AbstractRobustConnection], Awaitable[None]],
        *,
        max_backoff: float = 10.0,
    ) -> None:
        self._url, self._name, self._on_connect = url, name, on_connect
        self._max_backoff = max_backoff
        self.connection: AbstractRobustConnection | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.ready.is_set() and self.connection is not None and not self.connection.is_closed

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                connection = await aio_pika.connect_robust(
                    self._url, client_properties={"connection_name": self._name}
                )
            except (OSError, aio_pika.exceptions.AMQPError) as exc:
                log.warning("broker unreachable, retrying", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            try:
                await self._on_connect(connection)
            except Exception as exc:  # e.g. the broker went away mid-declare
                log.warning("broker set-up failed, retrying", error=str(exc), retry_in=delay)
                await connection.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            self.connection = connection
            self.ready.set()
            log.info("broker connected")
            return

    async def __aenter__(self) -> BrokerLink:
        self._task = asyncio.create_task(self._connect_forever(), name=f"{self._name}-connect")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self.connection is not None:
            await self.connection.close()
