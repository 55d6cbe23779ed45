"""Group commit: concurrent message creates share one transaction.

Each create becomes a ``PendingMessage`` on a queue; one writer takes everything that
is waiting and commits it with a fixed number of statements, whatever the batch size:
one that reads the applications with their endpoints, one that inserts the messages
and their destination rows together. Idempotency keys (claimed, and released if the
request is refused) or a message that creates its application add an explicit
transaction around those; without them the one INSERT is atomic by itself. The writer
keeps one connection rather than taking one from the pool per batch: the pool's reset
on release was a round trip of its own. Under load that is two round trips for dozens
of messages instead of seven for each.
Each request still gets its own answer: accepted, replayed (idempotency key seen
before), a 409 for a duplicate ``eventId``, or a 404 for an unknown application.
If a batch fails as a whole, every request is retried alone, so one bad request
cannot fail the others.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import structlog

from services.ingest.models.messages import MessageIn
from shared.ids import has_prefix, new_id
from shared.routing import EndpointFilter, select_destinations
from shared.web.errors import ApiError, Conflict, NotFound

log = structlog.get_logger()

# The destination rows take app_id and created_at from their message.
_INSERT_MESSAGES = """
WITH m AS (
  INSERT INTO message (id, app_id, event_id, event_type, payload, channels, tags, created_at)
  SELECT v.id, v.app_id, v.event_id, v.event_type, v.payload,
    CASE WHEN v.channels = '' THEN NULL ELSE string_to_array(v.channels, ',') END,
    CASE WHEN v.tags = '' THEN NULL ELSE string_to_array(v.tags, ',') END, v.created_at
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::timestamptz[]) AS v(id, app_id, event_id, event_type, payload, channels, tags, created_at)
  ON CONFLICT (app_id, event_id) DO NOTHING
  RETURNING id, app_id, created_at
), d AS (
  INSERT INTO message_destination (msg_id, endpoint_id, app_id, created_at, updated_at, next_attempt)
  SELECT m.id, t.endpoint_id, m.app_id, m.created_at, m.created_at, m.created_at
  FROM unnest($9::text[], $10::text[]) AS t(msg_id, endpoint_id) JOIN m ON m.id = t.msg_id
)
SELECT id FROM m
"""


@dataclass(eq=False)
class PendingMessage:
    app_ref: str
    body: MessageIn
    msg_id: str
    payload: str
    created_at: datetime
    response: bytes
    idempotency: tuple[str, str] | None  # (scope, key)
    future: asyncio.Future[Committed | Replayed] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    app_id: str | None = None
    targets: list[str] = field(default_factory=list)
    failure: ApiError | None = None


def _message_columns(items: list[PendingMessage]) -> tuple[list, ...]:
    return (
        [i.msg_id for i in items],
        [i.app_id for i in items],
        [i.body.event_id for i in items],
        [i.body.event_type for i in items],
        [i.payload for i in items],
        # Channels and tags can't contain commas (their pattern forbids it): pass them joined.
        [",".join(i.body.channels or ()) for i in items],
        [",".join(i.body.tags or ()) for i in items],
        [i.created_at for i in items],
    )


@dataclass(frozen=True)
class Committed:
    app_id: str
    targets: list[str]


@dataclass(frozen=True)
class Replayed:
    status: int
    body: bytes


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
        stored = await self._stored_responses(replays) if replays else {}
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
            live, replays = await self._claim_keys(conn, batch)
            endpoints = await self._resolve_apps(conn, live)
            live = [i for i in live if i.failure is None]
            for item in live:
                item.targets = select_destinations(
                    endpoints[item.app_id],  # type: ignore[index]
                    item.body.event_type,
                    item.body.channels,
                )
            await self._insert_messages(conn, live)
            refused = [i for i in batch if i.failure is not None and i.idempotency]
            if refused:  # a refused request must not occupy its key
                await conn.execute(
                    "DELETE FROM idempotency_key k USING unnest($1::text[], $2::text[]) AS r(scope, key)"
                    " WHERE k.scope = r.scope AND k.key = r.key",
                    [i.idempotency[0] for i in refused],  # type: ignore[index]
                    [i.idempotency[1] for i in refused],  # type: ignore[index]
                )
        return replays

    async def _claim_keys(
        self, conn: asyncpg.Connection, batch: list[PendingMessage]
    ) -> tuple[list[PendingMessage], set[PendingMessage]]:
        keyed = [i for i in batch if i.idempotency]
        if not keyed:
            return batch, set()
        rows = await conn.fetch(
            "INSERT INTO idempotency_key (scope, key, state, status_code, body)"
            " SELECT s, k, 'done', 202, b FROM unnest($1::text[], $2::text[], $3::bytea[]) AS t(s, k, b)"
            " ON CONFLICT DO NOTHING RETURNING scope, key",
            [i.idempotency[0] for i in keyed],  # type: ignore[index]
            [i.idempotency[1] for i in keyed],  # type: ignore[index]
            [i.response for i in keyed],
        )
        claimed = {(r["scope"], r["key"]) for r in rows}
        replays: set[PendingMessage] = set()
        for item in keyed:
            # The first item with a key claims it; later ones (even in this batch) replay.
            if item.idempotency in claimed:
                claimed.discard(item.idempotency)  # type: ignore[arg-type]
            else:
                replays.add(item)
        return [i for i in batch if i not in replays], replays

    async def _resolve_apps(
        self, conn: asyncpg.Connection, items: list[PendingMessage]
    ) -> dict[str, list[EndpointFilter]]:
        """Set each item's ``app_id`` (or its 404); returns the enabled endpoints by app."""
        refs = list({i.app_ref for i in items})
        rows = await conn.fetch(
            "SELECT a.id, a.uid, e.id AS endpoint_id, e.event_types, e.channels FROM application a"
            " LEFT JOIN endpoint e ON e.app_id = a.id AND NOT e.disabled"
            " WHERE a.id = ANY($1) OR a.uid = ANY($1)",
            refs,
        )
        endpoints: dict[str, list[EndpointFilter]] = defaultdict(list)
        by_ref: dict[str, str] = {}
        for r in rows:
            by_ref[r["id"]] = r["id"]
            if r["uid"]:
                by_ref.setdefault(r["uid"], r["id"])
            if r["endpoint_id"] is not None:
                endpoints[r["id"]].append(
                    EndpointFilter(r["endpoint_id"], False, r["event_types"], r["channels"])
                )
        created: set[str] = set()
        for item in items:
            item.app_id = by_ref.get(item.app_ref)
            if item.app_id is None and item.body.application is not None:
                item.app_id = by_ref[item.app_ref] = await self._create_app(conn, item)
                created.add(item.app_id)
            if item.app_id is None:
                item.failure = NotFound("Application not found")
        if created:  # new, or made meanwhile by another request (the upsert returns it)
            for r in await conn.fetch(
                "SELECT id, app_id, event_types, channels FROM endpoint"
                " WHERE app_id = ANY($1) AND NOT disabled",
                list(created),
            ):
                endpoints[r["app_id"]].append(EndpointFilter(r["id"], False, r["event_types"], r["channels"]))
        return endpoints

    async def _create_app(self, conn: asyncpg.Connection, item: PendingMessage) -> str:
        """Svix: a message may create its application, the path naming the app's uid."""
        app_in = item.body.application
        assert app_in is not None
        uid = app_in.uid or (None if has_prefix(item.app_ref, "app") else item.app_ref)
        row = await conn.fetchrow(
            "INSERT INTO application (id, uid, name, throttle_rate, metadata) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (uid) DO UPDATE SET uid = EXCLUDED.uid RETURNING id",
            new_id("app"),
            uid,
            app_in.name,
            app_in.throttle_rate,
            app_in.metadata,
        )
        return row["id"]

    async def _insert_messages(self, conn: asyncpg.Connection, items: list[PendingMessage]) -> None:
        """Messages and their destination rows in one statement (one round trip, atomic
        on its own); a message whose eventId exists already gets a 409 and no rows."""
        if not items:
            return
        dest_msg: list[str] = []
        dest_endpoint: list[str] = []
        for item in items:
            dest_msg += [item.msg_id] * len(item.targets)
            dest_endpoint += item.targets
        rows = await conn.fetch(_INSERT_MESSAGES, *_message_columns(items), dest_msg, dest_endpoint)
        inserted = {r["id"] for r in rows}
        for item in items:
            if item.msg_id not in inserted:
                item.failure = Conflict(f"A message with eventId {item.body.event_id!r} already exists")

    async def _stored_responses(self, replays: set[PendingMessage]) -> dict[tuple[str, str], Replayed]:
        keys = list({i.idempotency for i in replays})  # type: ignore[misc]
        rows = await self._pool.fetch(
            "SELECT k.scope, k.key, k.status_code, k.body FROM idempotency_key k"
            " JOIN unnest($1::text[], $2::text[]) AS r(scope, key) ON k.scope = r.scope AND k.key = r.key",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(r["scope"], r["key"]): Replayed(r["status_code"], bytes(r["body"])) for r in rows}
