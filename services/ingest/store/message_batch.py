"""One group-committed batch: its items and its statements (see ``group_commit``).

A fixed number of statements whatever the batch size: one that claims the idempotency
keys, one that reads the applications with their endpoints, one that inserts the
messages and their destination rows together. Each function records a refusal on the
item (``failure``) instead of raising, so the others in the batch still commit.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from services.ingest.models.messages import MessageIn
from shared.ids import has_prefix, new_id
from shared.operational import OPERATIONAL_APP_ID
from shared.routing import EndpointFilter
from shared.web.errors import ApiError, Conflict, NotFound

# The destination rows take app_id and created_at from their message.
_INSERT_MESSAGES = """
WITH v AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::timestamptz[], $11::timestamptz[])
    AS v(id, app_id, event_id, event_type, payload, channels, tags, created_at, payload_expires_at)
), claimed AS (
  -- eventId is unique per application: message is partitioned, so its own unique
  -- index could only be unique per created_at (migration 006).
  INSERT INTO message_event_id (app_id, event_id, msg_id, created_at)
  SELECT app_id, event_id, id, created_at FROM v WHERE event_id IS NOT NULL
  ON CONFLICT (app_id, event_id) DO NOTHING
  RETURNING msg_id
), m AS (
  INSERT INTO message (id, app_id, event_id, event_type, payload, channels, tags, created_at,
    payload_expires_at)
  SELECT v.id, v.app_id, v.event_id, v.event_type, v.payload,
    CASE WHEN v.channels = '' THEN NULL ELSE string_to_array(v.channels, ',') END,
    CASE WHEN v.tags = '' THEN NULL ELSE string_to_array(v.tags, ',') END, v.created_at,
    v.payload_expires_at
  FROM v WHERE v.event_id IS NULL OR v.id IN (SELECT msg_id FROM claimed)
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


async def claim_keys(
    conn: asyncpg.Connection, batch: list[PendingMessage]
) -> tuple[list[PendingMessage], set[PendingMessage]]:
    """Claim the batch's idempotency keys: the items to commit, and those to replay."""
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


async def resolve_apps(
    conn: asyncpg.Connection, items: list[PendingMessage]
) -> dict[str, list[EndpointFilter]]:
    """Set each item's ``app_id`` (or its 404); returns the enabled endpoints by app."""
    refs = list({i.app_ref for i in items})
    rows = await conn.fetch(
        "SELECT a.id, a.uid, e.id AS endpoint_id, e.event_types, e.channels FROM application a"
        " LEFT JOIN endpoint e ON e.app_id = a.id AND NOT e.disabled"
        " WHERE (a.id = ANY($1) OR a.uid = ANY($1)) AND a.id <> $2",
        refs,
        OPERATIONAL_APP_ID,  # its messages are written by shared/operational_outbox only
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
            item.app_id = by_ref[item.app_ref] = await _create_app(conn, item)
            created.add(item.app_id)
        if item.app_id is None:
            item.failure = NotFound("Application not found")
    if created:  # new, or made meanwhile by another request (the upsert returns it)
        for r in await conn.fetch(
            "SELECT id, app_id, event_types, channels FROM endpoint WHERE app_id = ANY($1) AND NOT disabled",
            list(created),
        ):
            endpoints[r["app_id"]].append(EndpointFilter(r["id"], False, r["event_types"], r["channels"]))
    return endpoints


async def _create_app(conn: asyncpg.Connection, item: PendingMessage) -> str:
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


async def insert_messages(conn: asyncpg.Connection, items: list[PendingMessage]) -> None:
    """Messages and their destination rows in one statement (one round trip, atomic
    on its own); a message whose eventId exists already gets a 409 and no rows."""
    if not items:
        return
    dest_msg: list[str] = []
    dest_endpoint: list[str] = []
    for item in items:
        dest_msg += [item.msg_id] * len(item.targets)
        dest_endpoint += item.targets
    expiries = [i.body.payload_expires_at(i.created_at) for i in items]
    rows = await conn.fetch(_INSERT_MESSAGES, *_message_columns(items), dest_msg, dest_endpoint, expiries)
    inserted = {r["id"] for r in rows}
    for item in items:
        if item.msg_id not in inserted:
            item.failure = Conflict(f"A message with eventId {item.body.event_id!r} already exists")


async def release_keys(conn: asyncpg.Connection, refused: list[PendingMessage]) -> None:
    """A refused request must not occupy its idempotency key."""
    await conn.execute(
        "DELETE FROM idempotency_key k USING unnest($1::text[], $2::text[]) AS r(scope, key)"
        " WHERE k.scope = r.scope AND k.key = r.key",
        [i.idempotency[0] for i in refused],  # type: ignore[index]
        [i.idempotency[1] for i in refused],  # type: ignore[index]
    )


async def stored_responses(
    pool: asyncpg.Pool, replays: set[PendingMessage]
) -> dict[tuple[str, str], Replayed]:
    keys = list({i.idempotency for i in replays})  # type: ignore[misc]
    rows = await pool.fetch(
        "SELECT k.scope, k.key, k.status_code, k.body FROM idempotency_key k"
        " JOIN unnest($1::text[], $2::text[]) AS r(scope, key) ON k.scope = r.scope AND k.key = r.key",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["scope"], r["key"]): Replayed(r["status_code"], bytes(r["body"])) for r in rows}
