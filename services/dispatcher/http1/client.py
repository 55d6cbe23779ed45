"""The client: a POST on a kept-alive connection to the URL's origin, or a new one
(TLS, the egress proxy and SSRF-checked DNS included), all within one deadline.

The deadline (``timeout``) starts when ``post`` is called and covers everything: DNS,
connect, TLS, the proxy's tunnel, writing the request (a receiver that does not read
fills the socket and the write waits), the head and the body (one byte a second
does not keep it alive); ``connect_timeout`` bounds a new connection within it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Mapping

from aiohttp.abc import AbstractResolver

from services.dispatcher.http1.connection import Connection
from services.dispatcher.http1.pool import IdlePool
from services.dispatcher.http1.request import (
    Target,
    connect_request,
    parse_target,
    post_request,
    proxy_authorization,
)
from services.dispatcher.http1.response import (
    Response,
    ResponseLimits,
    ResponseReader,
    ServerDisconnected,
)


class ConnectFailed(ConnectionError):
    """No connection could be made; ``os_error`` is why (a ``RefusedTarget`` for SSRF)."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class Http1Client:
    def __init__(
        self,
        *,
        resolver: AbstractResolver | None,
        connect_timeout: float,
        timeout: float,
        proxy: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        keep: int = 4096,
        limits: ResponseLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._connect_timeout, self._timeout = connect_timeout, timeout
        self._proxy = parse_target(proxy) if proxy else None
        if self._proxy is not None and self._proxy.tls:
            # The client speaks to the proxy in the clear (an https target's TLS runs inside
            # its CONNECT tunnel): an https:// proxy URL would send its credentials unencrypted.
            raise ValueError("the egress proxy must be an http:// URL")
        self._proxy_auth = (proxy_authorization(proxy) or b"") if proxy else b""
        self._ssl = ssl_context or ssl.create_default_context()
        limits = limits or ResponseLimits()
        self._new_connection = lambda: Connection(ResponseReader(limits, keep))
        self._clock = clock
        self._pool = IdlePool(clock)

    async def post(self, url: str, headers: Mapping[str, str] | bytes, body: bytes) -> Response:
        """POST ``body`` to ``url`` with ``headers`` (or header lines from ``encode_headers``).

        Raises ``TimeoutError`` after ``timeout`` seconds in all, ``ConnectFailed``,
        ``ServerDisconnected``, ``InvalidResponse`` (``ResponseTooLarge`` past a head cap),
        ``InvalidHeader``, ``ssl.SSLError``."""
        target = parse_target(url)
        through_proxy = self._proxy is not None and not target.tls
        data = post_request(target, headers, body, self._proxy_auth if through_proxy else None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        connection = self._pool.take((target.tls, target.host, target.port))
        if connection is not None:
            try:
                return await self._exchange(connection, data, deadline)
            except ServerDisconnected:
                if connection.received:
                    raise
                # A kept-alive connection the server had closed as we wrote: nothing was
                # answered, so the request goes once more on a fresh connection.
        connection = await self._connect_within(target, deadline)
        return await self._exchange(connection, data, deadline)

    @property
    def resolver(self) -> AbstractResolver | None:
        return self._resolver

    async def close(self) -> None:
        self._pool.close()

    async def _exchange(self, connection: Connection, data: list[bytes], deadline: float) -> Response:
        loop = asyncio.get_running_loop()
        waiter = connection.request(data)
        timer = loop.call_at(deadline, _expire, waiter, connection)
        try:
            response = await waiter
        except BaseException:
            connection.abort()
            raise
        finally:
            timer.cancel()
        self._pool.put(connection)
        return response

    async def _connect_within(self, target: Target, deadline: float) -> Connection:
        """A new connection, TLS and proxy tunnel included, within ``connect_timeout``
        (and the request's overall deadline)."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise TimeoutError()
        try:
            async with asyncio.timeout(min(remaining, self._connect_timeout)):
                return await self._connect(target)
        except TimeoutError:
            if remaining <= self._connect_timeout:
                raise
            raise ConnectFailed(TimeoutError(f"no connection within {self._connect_timeout:g}s")) from None

    async def _connect(self, target: Target) -> Connection:
        loop = asyncio.get_running_loop()
        if self._proxy is not None:
            connection = await self._open(self._proxy.host, [self._proxy.host], self._proxy.port, None)
            if target.tls:
                await self._tunnel(connection, target)
                transport = await loop.start_tls(
                    connection.transport,  # type: ignore[arg-type]
                    connection,
                    self._ssl,
                    server_hostname=target.host,
                )
                connection.transport = transport  # type: ignore[assignment]
        else:
            addresses = await self._addresses(target.host, target.port)
            connection = await self._open(
                target.host, addresses, target.port, self._ssl if target.tls else None
            )
        connection.key = (target.tls, target.host, target.port)
        return connection

    async def _open(
        self, host: str, addresses: list[str], port: int, context: ssl.SSLContext | None
    ) -> Connection:
        loop = asyncio.get_running_loop()
        error: OSError = OSError(f"{host} has no address")
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    self._new_connection,
                    address,
                    port,
                    ssl=context,
                    server_hostname=host if context else None,
                )
                return connection
            except ssl.SSLError:
                raise
            except OSError as exc:
                error = exc
        raise ConnectFailed(error)

    async def _addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to: all the resolver's doing (``egress.GuardedResolver``
        reads every spelling of an IP literal, looks names up with a cache, and returns
        only what the SSRF policy allows), so the client connects only to checked ones."""
        if self._resolver is None:
            return [host]
        try:
            results = await self._resolver.resolve(host, port, socket.AF_UNSPEC)
        except OSError as exc:
            raise ConnectFailed(exc) from exc
        return [result["host"] for result in results]

    async def _tunnel(self, connection: Connection, target: Target) -> None:
        """``CONNECT`` through the proxy; its 200 turns the connection into a tunnel."""
        waiter = connection.request(connect_request(target, self._proxy_auth), tunnel=True)
        try:
            response = await waiter
        except BaseException:
            connection.abort()
            raise
        if response.status != 200:
            connection.abort()
            raise ConnectFailed(OSError(f"the egress proxy refused the tunnel: HTTP {response.status}"))


def _expire(waiter: asyncio.Future[Response], connection: Connection) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
        connection.abort()
