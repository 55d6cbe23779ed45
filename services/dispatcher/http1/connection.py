"""One keep-alive connection: the asyncio side of ``ResponseReader``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from services.dispatcher.http1.response import Response, ResponseReader


class Connection(asyncio.Protocol):
    """A request is written, its answer settles the future ``request`` returned."""

    def __init__(self, reader: ResponseReader) -> None:
        self._reader = reader
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.key: tuple[bool, str, int] = (False, "", 0)  # the origin's pool
        self.received = False  # any byte of the current response
        self._waiter: asyncio.Future[Response] | None = None

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing was asked: a server talking out of turn
            self.abort()
            return
        self.received = True
        reader = self._reader
        reader.feed(data)
        if reader.outcome is not None:
            self._settle()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None:
            self._reader.eof()
            self._settle()

    # the client's side
    def request(self, data: Iterable[bytes], tunnel: bool = False) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._reader.start(tunnel)
        self.received = False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.writelines(data)
        return self._waiter

    def _settle(self) -> None:
        waiter, self._waiter = self._waiter, None
        reader = self._reader
        if not reader.reusable:
            # Past a cap the receiver may still be sending: no graceful (TLS) close for it.
            self.abort() if reader.overflowed else self.close()
        if waiter is None or waiter.done():  # the deadline came first
            return
        if isinstance(reader.outcome, Response):
            waiter.set_result(reader.outcome)
        else:
            waiter.set_exception(reader.outcome)  # type: ignore[arg-type]

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
