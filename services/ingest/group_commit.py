"""Group commit: concurrent message creates share one transaction.

Each create becomes a ``PendingMessage`` on a queue; one writer takes everything that
is waiting and commits it with a fixed number of statements (idempotency claims,
app lookup, messages, endpoints, destinations), whatever the batch size. Under load
that is a handful of round trips for dozens of messages instead of seven for each.
Each request still gets its own answer: accepted, replayed (idempotency key seen
before), a 409 for a duplicate ``eventId``, or a 404 for an unknown application.
If a batch fails as a whole, every request is retried alone, so one bad request
cannot fail the others.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import structlog

from services.ingest.models.messages import MessageIn
from shared.ids import has_prefix, new_id
from shared.routing import EndpointFilter, select_destinations
from shared.web.errors import ApiError, Conflict, NotFound

log = structlog.get_logger()


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

    async def submit(self, item: PendingMessage) -> Committed | Replayed:
        self._queue.put_nowait(item)
        return await item.future

    async def run(self) -> None:
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

    async def _commit_or_split(self, batch: list[PendingMessage]) -> None:
        try:
            replays = await self._commit(batch)
        except Exception as exc:
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
        async with self._pool.acquire() as conn, conn.transaction():
            live, replays = await self._claim_keys(conn, batch)
            await self._resolve_apps(conn, live)
            live = [i for i in live if i.failure is None]
            await self._insert_messages(conn, live)
            live = [i for i in live if i.failure is None]
            await self._insert_destinations(conn, live)
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

    async def _resolve_apps(self, conn: asyncpg.Connection, items: list[PendingMessage]) -> None:
        refs = list({i.app_ref for i in items})
        rows = await conn.fetch("SELECT id, uid FROM application WHERE id = ANY($1) OR uid = ANY($1)", refs)
        by_uid = {r["uid"]: r["id"] for r in rows if r["uid"]}
        by_id = {r["id"]: r["id"] for r in rows}
        for item in items:
            item.app_id = by_id.get(item.app_ref) or by_uid.get(item.app_ref)
            if item.app_id is None and item.body.application is not None:
                item.app_id = await self._create_app(conn, item)
                by_uid[item.app_ref] = item.app_id
            if item.app_id is None:
                item.failure = NotFound("Application not found")

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
        if not items:
            return
        rows = await conn.fetch(
            "INSERT INTO message (id, app_id, event_id, event_type, payload, channels, tags, created_at)"
            " SELECT m.id, m.app_id, m.event_id, m.event_type, m.payload,"
            "   CASE WHEN m.channels = '' THEN NULL ELSE string_to_array(m.channels, ',') END,"
            "   CASE WHEN m.tags = '' THEN NULL ELSE string_to_array(m.tags, ',') END, m.created_at"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
            "   $7::text[], $8::timestamptz[]) AS m(id, app_id, event_id, event_type, payload, channels,"
            "   tags, created_at)"
            " ON CONFLICT (app_id, event_id) DO NOTHING RETURNING id",
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
        inserted = {r["id"] for r in rows}
        for item in items:
            if item.msg_id not in inserted:
                item.failure = Conflict(f"A message with eventId {item.body.event_id!r} already exists")

    async def _insert_destinations(self, conn: asyncpg.Connection, items: list[PendingMessage]) -> None:
        if not items:
            return
        rows = await conn.fetch(
            "SELECT id, app_id, event_types, channels FROM endpoint WHERE app_id = ANY($1) AND NOT disabled",
            list({i.app_id for i in items}),
        )
        endpoints: dict[str, list[EndpointFilter]] = defaultdict(list)
        for r in rows:
            endpoints[r["app_id"]].append(EndpointFilter(r["id"], False, r["event_types"], r["channels"]))
        columns: tuple[list, list, list, list] = ([], [], [], [])
        for item in items:
            item.targets = select_destinations(
                endpoints[item.app_id], item.body.event_type, item.body.channels
            )  # type: ignore[index]
            for endpoint_id in item.targets:
                for column, value in zip(
                    columns, (item.msg_id, endpoint_id, item.app_id, item.created_at), strict=True
                ):
                    column.append(value)
        if columns[0]:
            await conn.execute(
                "INSERT INTO message_destination"
                " (msg_id, endpoint_id, app_id, created_at, updated_at, next_attempt)"
                " SELECT m, e, a, t, t, t FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
                " AS d(m, e, a, t)",
                *columns,
            )

    async def _stored_responses(self, replays: set[PendingMessage]) -> dict[tuple[str, str], Replayed]:
        keys = list({i.idempotency for i in replays})  # type: ignore[misc]
        rows = await self._pool.fetch(
            "SELECT k.scope, k.key, k.status_code, k.body FROM idempotency_key k"
            " JOIN unnest($1::text[], $2::text[]) AS r(scope, key) ON k.scope = r.scope AND k.key = r.key",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(r["scope"], r["key"]): Replayed(r["status_code"], bytes(r["body"])) for r in rows}
