"""Group commit: concurrent message creates share one transaction.

Each create becomes a ``PendingMessage`` on a queue; one writer takes everything that
is waiting and commits it with a fixed number of statements, whatever the batch size
(``store/message_batch.py``): one that reads the applications with their endpoints,
one that inserts the messages and their destination rows together. Idempotency keys
(claimed, and released if the request is refused) or a message that creates its
application add an explicit transaction around those; without them the one INSERT is
atomic by itself. The writer keeps one connection rather than taking one from the pool
per batch: the pool's reset on release was a round trip of its own. Under load that
is two round trips for dozens of messages instead of seven for each.
Each request still gets its own answer: accepted, replayed (idempotency key seen
before), a 409 for a duplicate ``eventId``, or a 404 for an unknown application.
If a batch fails as a whole, every request is retried alone, so one bad request
cannot fail the others.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext

import asyncpg
import structlog

from services.ingest.store import message_batch as batch_sql
from services.ingest.store.message_batch import Committed, PendingMessage, Replayed
from shared.routing import select_destinations
from shared.web.errors import Conflict

# Re-exported: a request becomes a PendingMessage and gets one of these back.
__all__ = ["Committed", "GroupCommitter", "PendingMessage", "Replayed"]

log = structlog.get_logger()


class GroupCommitter:
    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 256) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: asyncio.Queue[PendingMessage] = asyncio.Queue()
        self._conn: asyncpg.Connection | None = None

    async def submit(self, item: PendingMessage) -> Committed | Replayed:
        self._queue.put_nowait(item)
        return await item.future

    async def run(self) -> None:
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self._max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                try:
                    await self._commit_or_split(batch)
                except Exception as exc:  # never leave a caller waiting forever
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(exc)
        finally:
            await self._release()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and self._conn.is_closed():
            await self._release()
        if self._conn is None:
            self._conn = await self._pool.acquire()
        return self._conn

    async def _release(self) -> None:
        """Give the connection back (the pool resets or discards it); the next batch
        takes a fresh one, so a database restart costs one failed batch."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.release(conn)

    async def _commit_or_split(self, batch: list[PendingMessage]) -> None:
        try:
            replays = await self._commit(batch)
        except Exception as exc:
            await self._release()
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            log.warning(
                "group commit failed; retrying its messages one by one", size=len(batch), error=repr(exc)
            )
            for item in batch:
                item.failure, item.app_id, item.targets = None, None, []
                await self._commit_or_split([item])
            return
        await self._answer(batch, replays)

    async def _answer(self, batch: list[PendingMessage], replays: set[PendingMessage]) -> None:
        """Each request's own answer: replayed, refused or committed."""
        stored = await batch_sql.stored_responses(self._pool, replays) if replays else {}
        for item in batch:
            if item.future.done():
                continue
            if item in replays:
                answer = stored.get(item.idempotency)  # type: ignore[arg-type]
                if answer is None:  # the first request with this key was refused meanwhile
                    item.future.set_exception(
                        Conflict("The first request with this idempotency key failed; retry")
                    )
                else:
                    item.future.set_result(answer)
            elif item.failure is not None:
                item.future.set_exception(item.failure)
            else:
                item.future.set_result(Committed(item.app_id or "", item.targets))

    async def _commit(self, batch: list[PendingMessage]) -> set[PendingMessage]:
        """Commit the batch; returns the items whose idempotency key was used before."""
        conn = await self._connection()
        transaction: AbstractAsyncContextManager[object] = (
            conn.transaction()
            if any(i.idempotency is not None or i.body.application is not None for i in batch)
            else nullcontext()
        )
        async with transaction:
            live, replays = await batch_sql.claim_keys(conn, batch)
            endpoints = await batch_sql.resolve_apps(conn, live)
            live = [i for i in live if i.failure is None]
            for item in live:
                item.targets = select_destinations(
                    endpoints[item.app_id],  # type: ignore[index]
                    item.body.event_type,
                    item.body.channels,
                )
            await batch_sql.insert_messages(conn, live)
            refused = [i for i in batch if i.failure is not None and i.idempotency]
            if refused:
                await batch_sql.release_keys(conn, refused)
        return replays
