"""Live updates: one poller per ingest process, fanned out to every open page.

Pages listen on ``/ui/live`` (server-sent events). The poller runs only while someone
listens, reads new messages and attempts once a second, and sends each page a short
event; the page then fetches its own live regions again, so filters stay server-side.
Ids are time-sortable, but rows commit out of order (attempts are written in batches),
so the poller looks back over a window and remembers what it already announced. On a
busy installation it reads only the newest rows of the window and, past a handful of
new rows, sends one ``burst`` that every live page takes, instead of a hint per row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import asyncpg
import orjson
import structlog
from aiohttp import web

from shared.ids import boundary_id

log = structlog.get_logger()

_NEW_ROWS = """
(SELECT 'message' AS kind, id, id AS msg_id, app_id, NULL AS endpoint_id
 FROM message WHERE id > $1 ORDER BY id DESC LIMIT $3)
UNION ALL
(SELECT 'attempt', id, msg_id, app_id, endpoint_id
 FROM message_attempt WHERE id > $2 ORDER BY id DESC LIMIT $3)
"""
_ROWS_PER_POLL = 500  # of each kind: the newest of the window
_BURST = 50  # more new rows than this in one poll: one event for every page
_KEEPALIVE_SECONDS = 15.0


@dataclass(frozen=True)
class LiveEvent:
    kind: str  # "message", "attempt" or "burst" (many of both: every live page refreshes)
    id: str | None = None
    msg_id: str | None = None
    app_id: str | None = None
    endpoint_id: str | None = None

    def sse(self) -> bytes:
        data = orjson.dumps(
            {"id": self.id, "msg": self.msg_id, "app": self.app_id, "endpoint": self.endpoint_id}
        )
        return b"event: " + self.kind.encode() + b"\ndata: " + data + b"\n\n"


class LiveFeed:
    def __init__(self, pool: asyncpg.Pool, *, interval: float = 1.0, window: float = 15.0) -> None:
        self._pool = pool
        self._interval = interval
        self._window = window
        self._subscribers: set[asyncio.Queue[LiveEvent | None]] = set()
        self._seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def subscription(
        self, since: float | None = None
    ) -> AsyncIterator[asyncio.Queue[LiveEvent | None]]:
        """A queue of events for one page; ``since`` is when that page was rendered."""
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(maxsize=200)
        if self._task is None or self._task.done():
            if not self._seen:
                # First listener: what exists already is not news. Taken before the
                # stream opens, so anything committed after the page connected is.
                with suppress(asyncpg.PostgresError, OSError):
                    await self._poll(announce=False)
            if self._task is None or self._task.done():  # another page may have started it
                self._task = asyncio.create_task(self._run(), name="ui-live-feed")
        self._subscribers.add(queue)
        if since is not None and any(at >= since for at in self._seen.values()):
            # Rows taken in between the page's render and its subscription were announced
            # to the pages listening then (the closed stream of the page it replaced is
            # only noticed at its next write): this page may not show them yet.
            queue.put_nowait(LiveEvent("burst"))
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if not self._subscribers:
                return
            try:
                await self._poll(announce=True)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("live feed poll failed", error=str(exc))

    async def _poll(self, *, announce: bool) -> None:
        now = time.time()
        since = now - self._window
        rows = await self._pool.fetch(
            _NEW_ROWS, boundary_id("msg", since), boundary_id("atmpt", since), _ROWS_PER_POLL
        )
        self._seen = {key: at for key, at in self._seen.items() if at > since}
        news = [LiveEvent(**dict(row)) for row in rows if row["id"] not in self._seen]
        for event in news:
            self._seen[str(event.id)] = now
        if not announce:
            return
        for event in news if len(news) <= _BURST else [LiveEvent("burst")]:
            self._announce(event)

    def _announce(self, event: LiveEvent | None) -> None:
        for queue in self._subscribers:
            # A page that does not keep up only misses hints: its next refresh shows all.
            with suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    async def close(self) -> None:
        """Server shutdown: end every open stream, then the poller."""
        self._announce(None)
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task


async def stream(request: web.Request, feed: LiveFeed) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    try:
        since = float(request.query["since"])
    except (KeyError, ValueError):
        since = None
    try:
        async with feed.subscription(since) as queue:
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), _KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                await response.write(event.sse())
    except ConnectionResetError:
        pass  # the page went away
    return response
