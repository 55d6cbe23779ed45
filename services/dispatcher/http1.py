"""The HTTP/1.1 client webhooks go out through: one POST at a time per connection,
connections kept alive per origin, responses parsed by httptools (llhttp, in C).

Why not aiohttp's client, which the rest of Hookline uses: a POST through it cost
about 60 µs of CPU here against about 9 µs for the same request written and parsed
directly (`python -m bench.run --only delivery`), and POSTing is most of what a
dispatcher does. A webhook needs little of what a general client carries — no
cookies, no redirects (a 3xx is the attempt's answer), no streamed or compressed
bodies, no pipelining — so what remains fits here: pooling, timeouts, TLS, the
egress proxy (absolute-form for http, ``CONNECT`` for https) and SSRF-checked DNS.

Only the start of a response body is kept (``keep``); a body longer than
``_DRAIN_LIMIT`` is not read to its end: the connection is closed instead of reused.
No ``Accept-Encoding`` is sent, so a receiver answers uncompressed (one that compresses
anyway has the compressed bytes shown). There is no cap on connections, in all or per
host: the prefetch window bounds the POSTs in flight and the dispatcher's gates bound
them per endpoint; a per-host cap would let one hanging endpoint starve every other
endpoint on the same host (a shared receiver, a SaaS inbox).
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import httptools
from aiohttp.abc import AbstractResolver

# Servers close idle keep-alive connections after their own timeout (Node.js: 5 s,
# nginx: 75 s); a connection idle longer than this is not reused.
IDLE_SECONDS = 4.0
_DRAIN_LIMIT = 64 * 1024
_DNS_TTL = 10.0


class ServerDisconnected(ConnectionError):
    """The connection closed before a complete response arrived."""


class ConnectFailed(ConnectionError):
    """No connection could be made; ``os_error`` is why (a ``RefusedTarget`` for SSRF)."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class InvalidResponse(ValueError):
    """What came back was not HTTP/1.x."""


class InvalidHeader(ValueError):
    """A header name or value that would break the request's framing."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL means to the client, parsed once per URL."""

    tls: bool
    host: str  # as resolved and checked; the TLS server name
    port: int
    path: str  # origin-form request target
    authority: str  # the Host header
    absolute: str  # absolute-form request target, for a proxy (no fragment, no user info)


@lru_cache(maxsize=16384)
def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The Host header carries the name as written (IPv6 in brackets), the port when not the default.
    authority = parts.netloc.rpartition("@")[2]
    if parts.port == (443 if tls else 80):
        authority = authority.rpartition(":")[0]
    return Target(tls, parts.hostname, port, path, authority, f"{parts.scheme}://{authority}{path}")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    retry_after: str | None
    body: bytes  # at most ``keep`` bytes


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BREAKS_FRAMING = re.compile(r"[\r\n\0]")


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """Header lines ready to send; a name that is not a token or a value with CR, LF or
    NUL (which would let a header smuggle in more) raises ``InvalidHeader``."""
    lines = []
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _BREAKS_FRAMING.search(value):
            raise InvalidHeader(f"header {name!r} cannot be sent")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request is written, its response parsed as it arrives."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.key: tuple[bool, str, int] = (False, "", 0)  # the origin's pool
        self.tunnelling = False  # waiting for the proxy's answer to CONNECT
        self._waiter: asyncio.Future[Response] | None = None
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._retry_after: str | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._headers_done = False
        self.received = False  # any byte of the current response

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing was asked: a server talking out of turn
            self.close()
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(InvalidResponse(f"invalid HTTP response: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            if self._headers_done and self._status >= 200:
                self._complete()  # a body that ends with the connection
            else:
                self._fail(ServerDisconnected("the server closed the connection without a response"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = True
        if self.tunnelling:  # a 2xx to CONNECT has no body: the tunnel starts here
            self._complete(reusable=True)

    def on_body(self, body: bytes) -> None:
        if self._size < self._keep:
            self._body.append(body[: self._keep - self._size])
        self._size += len(body)
        if self._size > _DRAIN_LIMIT:
            self._complete(reusable=False)
            self.close()

    def on_message_complete(self) -> None:
        if self._status < 200:  # 100 Continue, 103 Early Hints: the answer is still to come
            self._reset()
            return
        self._complete(reusable=self._parser.should_keep_alive())

    # the client's side
    def request(self, data: Iterable[bytes]) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._reset()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.writelines(data)
        return self._waiter

    def _complete(self, reusable: bool = False) -> None:
        waiter, self._waiter = self._waiter, None
        if not reusable:
            self.closed = True
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self._status, self._retry_after, b"".join(self._body)))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self.closed = True
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._connect_timeout, self._timeout = connect_timeout, timeout
        self._proxy = parse_target(proxy) if proxy else None
        self._proxy_auth = _proxy_authorization(proxy) if proxy else None
        self._ssl = ssl_context or ssl.create_default_context()
        self._keep, self._clock = keep, clock
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    async def post(self, url: str, headers: Mapping[str, str] | bytes, body: bytes) -> Response:
        """POST ``body`` to ``url`` with ``headers`` (or header lines from ``encode_headers``).

        Raises ``TimeoutError`` after ``timeout`` seconds in all, ``ConnectFailed``,
        ``ServerDisconnected``, ``InvalidResponse``, ``InvalidHeader``, ``ssl.SSLError``."""
        target = parse_target(url)
        data = self._request(target, headers, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        connection = self._take_idle(target)
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

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _request(self, target: Target, headers: Mapping[str, str] | bytes, body: bytes) -> list[bytes]:
        path = target.absolute if self._proxy and not target.tls else target.path
        head = f"POST {path} HTTP/1.1\r\nhost: {target.authority}\r\ncontent-length: {len(body)}\r\n"
        extra = self._proxy_auth if self._proxy and not target.tls and self._proxy_auth else b""
        lines = headers if isinstance(headers, bytes) else encode_headers(headers)
        return [head.encode(), extra, lines, b"\r\n", body]

    async def _exchange(self, connection: _Connection, data: list[bytes], deadline: float) -> Response:
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
        self._put_idle(connection)
        return response

    async def _connect_within(self, target: Target, deadline: float) -> _Connection:
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

    # connections
    def _take_idle(self, target: Target) -> _Connection | None:
        idle = self._idle.get((target.tls, target.host, target.port))
        oldest = self._clock() - IDLE_SECONDS
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if not connection.closed and connection.idle_since > oldest:
                return connection
            connection.close()
        return None

    def _put_idle(self, connection: _Connection) -> None:
        if connection.closed:
            connection.close()
            return
        connection.idle_since = self._clock()
        self._idle.setdefault(connection.key, []).append(connection)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle too long, so endpoints no longer in traffic hold none."""
        self._sweeper = None
        oldest = self._clock() - IDLE_SECONDS
        for key in list(self._idle):
            kept = []
            for connection in self._idle[key]:
                if connection.closed or connection.idle_since <= oldest:
                    connection.close()
                else:
                    kept.append(connection)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if self._idle:
            self._sweeper = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._sweep)

    async def _connect(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        make = lambda: _Connection(self._keep)  # noqa: E731
        if self._proxy is not None:
            connection = await self._open(make, self._proxy.host, [self._proxy.host], self._proxy.port, None)
            if target.tls:
                await self._tunnel(connection, target)
                transport = await loop.start_tls(
                    connection.transport,
                    connection,
                    self._ssl,
                    server_hostname=target.host,  # type: ignore[arg-type]
                )
                connection.transport = transport  # type: ignore[assignment]
        else:
            addresses = await self._addresses(target.host, target.port)
            connection = await self._open(
                make, target.host, addresses, target.port, self._ssl if target.tls else None
            )
        connection.key = (target.tls, target.host, target.port)
        return connection

    async def _open(
        self,
        make: Callable[[], _Connection],
        host: str,
        addresses: list[str],
        port: int,
        context: ssl.SSLContext | None,
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        error: OSError = OSError(f"{host} has no address")
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    make, address, port, ssl=context, server_hostname=host if context else None
                )
                return connection
            except ssl.SSLError:
                raise
            except OSError as exc:
                error = exc
        raise ConnectFailed(error)

    async def _addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses that the SSRF policy allows (IP literals were checked
        before the request: ``refusal_for_literal``), cached for ``_DNS_TTL``."""
        if self._resolver is None or _is_literal(host):
            return [host]
        cached = self._dns.get((host, port))
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            results = await self._resolver.resolve(host, port, socket.AF_UNSPEC)
        except OSError as exc:
            raise ConnectFailed(exc) from exc
        addresses = [result["host"] for result in results]
        if len(self._dns) > 16384:
            self._dns.clear()
        self._dns[(host, port)] = (now + _DNS_TTL, addresses)
        return addresses

    async def _tunnel(self, connection: _Connection, target: Target) -> None:
        """``CONNECT`` through the proxy; its 200 turns the connection into a tunnel."""
        authority = (
            f"{target.host}:{target.port}" if ":" not in target.host else f"[{target.host}]:{target.port}"
        )
        head = f"CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n".encode()
        connection.tunnelling = True
        waiter = connection.request([head, self._proxy_auth or b"", b"\r\n"])
        try:
            response = await waiter
        except BaseException:
            connection.abort()
            raise
        connection.tunnelling = False
        if response.status != 200:
            connection.abort()
            raise ConnectFailed(OSError(f"the egress proxy refused the tunnel: HTTP {response.status}"))
        # The parser saw a complete response; what follows is the tunnel's TLS.
        connection._parser = httptools.HttpResponseParser(connection)


def _expire(waiter: asyncio.Future[Response], connection: _Connection) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
        connection.abort()


def _is_literal(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


def _proxy_authorization(proxy: str) -> bytes | None:
    parts = urlsplit(proxy)
    if parts.username is None:
        return None
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return b"proxy-authorization: Basic " + base64.b64encode(credentials) + b"\r\n"
