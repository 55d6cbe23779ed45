"""RabbitMQ connections: robust (reconnecting) connections and confirm channels."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress

import aio_pika
import aio_pika.exceptions
import structlog
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from yarl import URL

from shared import amqp_frames

log = structlog.get_logger()


async def connect_robust(url: str, name: str) -> AbstractRobustConnection:
    """``aio_pika.connect_robust`` that leaves nothing behind when it fails or is cancelled.

    aio-pika's own starts the connection's reconnecting task before it returns the
    connection. Cancelled meanwhile (a timeout around the connect, a shutdown), that task
    goes on, connects later and keeps the connection open for good, with nothing holding
    it that could close it: one more for every probe that timed out.
    """
    amqp_frames.install()
    connection = aio_pika.RobustConnection(URL(url), client_properties={"connection_name": name})
    try:
        await connection.connect()
    except BaseException:
        await close_quietly(connection)
        raise
    return connection


async def close_quietly(connection: AbstractRobustConnection, within: float = 5.0) -> None:
    """Close a connection given up on, while an error or a cancellation is on its way out:
    within a bound (closing waits for the broker's Close-Ok, and a TLS shutdown may wait
    longer), and never raising in its place. The reconnecting task stops at once; what
    is left of the close goes on in the background."""
    with suppress(Exception):
        await asyncio.wait_for(asyncio.shield(connection.close()), within)


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
    then restores channels and consumers after every later outage.

    Given several URLs (the nodes of one cluster), the first connection goes to the first
    that answers, and a connection lost for ``failover_after`` seconds is pointed at the
    next: aio-pika's robust connection reconnects to one URL only, so the link moves that
    URL on while it stays down. Channels, queues and consumers are restored on the new node
    as after any reconnect; quorum queues live on every node of the cluster.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        name: str,
        on_connect: Callable[[AbstractRobustConnection], Awaitable[None]],
        *,
        max_backoff: float = 10.0,
        failover_after: float = 5.0,
    ) -> None:
        self._urls = [url] if isinstance(url, str) else list(url)
        self._current = 0
        self._name, self._on_connect = name, on_connect
        self._max_backoff, self._failover_after = max_backoff, failover_after
        self.connection: AbstractRobustConnection | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.ready.is_set() and self.connection is not None and not self.connection.is_closed

    @property
    def url(self) -> str:
        """The URL in use (or tried next)."""
        return self._urls[self._current]

    def _next_url(self) -> str:
        self._current = (self._current + 1) % len(self._urls)
        return self.url

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                connection = await connect_robust(self.url, self._name)
            except (OSError, aio_pika.exceptions.AMQPError) as exc:
                log.warning("broker unreachable, retrying", error=str(exc), retry_in=delay,
                            url=_safe(self.url))  # fmt: skip
                self._next_url()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            try:
                await self._on_connect(connection)
            except Exception as exc:  # e.g. the broker went away mid-declare
                log.warning("broker set-up failed, retrying", error=str(exc), retry_in=delay)
                await close_quietly(connection)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            except BaseException:  # stopped mid-set-up: the connection is nobody's yet
                await close_quietly(connection)
                raise
            self.connection = connection
            self.ready.set()
            log.info("broker connected", url=_safe(self.url))
            break
        if len(self._urls) > 1:
            await self._fail_over_while_down(connection)

    async def _fail_over_while_down(self, connection: AbstractRobustConnection) -> None:
        """Point the robust connection at the next node whenever it has been down for
        ``failover_after`` seconds; its own reconnect loop then connects there."""
        down_since: float | None = None
        loop = asyncio.get_running_loop()
        while not connection.is_closed:
            await asyncio.sleep(self._failover_after / 4)
            if connection.connected.is_set():
                down_since = None
                continue
            now = loop.time()
            if down_since is None:
                down_since = now
            elif now - down_since >= self._failover_after:
                url = self._next_url()
                log.warning("broker node unreachable; failing over", url=_safe(url))
                connection.url = URL(url)  # read by the robust connection's next attempt
                down_since = now

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


def _safe(url: str) -> str:
    """A URL for a log line: its password left out."""
    parsed = URL(url)
    return str(parsed.with_password(None)) if parsed.password else url
