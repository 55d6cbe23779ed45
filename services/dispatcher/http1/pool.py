"""Kept-alive connections per origin, and the sweep that closes those idle too long."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from services.dispatcher.http1.connection import Connection

# Servers close idle keep-alive connections after their own timeout (Node.js: 5 s,
# nginx: 75 s); a connection idle longer than this is not reused.
IDLE_SECONDS = 4.0

Origin = tuple[bool, str, int]  # (tls, host, port)


class IdlePool:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._idle: dict[Origin, list[Connection]] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def take(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        oldest = self._clock() - IDLE_SECONDS
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if not connection.closed and connection.idle_since > oldest:
                return connection
            connection.close()
        return None

    def put(self, connection: Connection) -> None:
        if connection.closed:
            connection.close()
            return
        connection.idle_since = self._clock()
        self._idle.setdefault(connection.key, []).append(connection)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._sweep)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

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
