"""A PostgreSQL LISTEN that outlives its connection: the one loop behind every cache that
NOTIFY keeps fresh (the dispatcher's endpoints, ingest's event-type schemas).

The listening connection is checked once a second (``SELECT 1``): a connection cut
without a FIN would otherwise sit silent, and the cache stale, until restart. On every
(re)connect ``on_connected`` runs, since whatever changed while nobody listened was
never announced; the loop reconnects with backoff and never ends on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

import asyncpg
import structlog

from shared.db import DATABASE_ERRORS

log = structlog.get_logger()

Notify = Callable[[object, int, str, str], None]


class ChangeListener:
    def __init__(
        self,
        dsn: str,
        channel: str,
        on_notify: Notify,
        *,
        what: str,
        on_connected: Callable[[], None],
        every: tuple[float, Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        """``every``: (seconds, coroutine) run that often while connected (a safety net)."""
        self._dsn, self._channel, self._on_notify = dsn, channel, on_notify
        self._what, self._on_connected, self._every = what, on_connected, every
        self.listening = False

    async def run(self) -> None:
        delay = 0.2
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                await conn.add_listener(self._channel, self._on_notify)
                self._on_connected()
                self.listening, delay = True, 0.2
                await self._watch(conn)
            except DATABASE_ERRORS as exc:
                log.warning(f"{self._what} change listener lost; reconnecting", error=repr(exc))
            except Exception:
                # Never ends: without the listener, changes reach the cache only at restart.
                log.exception(f"{self._what} change listener failed; reconnecting")
            finally:
                self.listening = False
                if conn is not None:
                    with suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _watch(self, conn: asyncpg.Connection) -> None:
        interval, job = self._every if self._every else (1.0, None)
        last = time.monotonic()
        while True:
            await asyncio.sleep(min(1.0, interval))
            await conn.execute("SELECT 1")  # notices a dead LISTEN connection
            if job is not None and time.monotonic() - last >= interval:
                await job()
                last = time.monotonic()
