"""Endpoint changes together with the operational events they report, in one transaction.

``endpoint.created``, ``endpoint.updated``, ``endpoint.deleted``, and ``endpoint.disabled``
(trigger ``manual``) or ``endpoint.enabled`` when the flag flips: written by
``shared/operational_outbox`` on the connection of the change, so a crash loses both or
neither. Changes to operational endpoints report nothing (no loop).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.ingest.store import endpoints as store
from shared import operational_outbox
from shared.operational import endpoint_change_events, is_operational

Row = store.Row


async def report(conn: asyncpg.Connection, before: Row | None, after: Row | None) -> None:
    endpoint = after if after is not None else before
    assert endpoint is not None
    if is_operational(endpoint["app_id"]) or not await operational_outbox.listening(conn):
        return
    app_uid = await conn.fetchval("SELECT uid FROM application WHERE id = $1", endpoint["app_id"])
    events = endpoint_change_events(before, after, app_uid, datetime.now(UTC))
    await operational_outbox.write(conn, events)


async def insert(pool: asyncpg.Pool, app_id: str, values: dict[str, Any], secret: str) -> Row:
    async with pool.acquire() as conn, conn.transaction():
        row = await store.insert(conn, app_id, values, secret)
        await report(conn, None, row)
    return row


async def update(pool: asyncpg.Pool, before: Row, changes: dict[str, Any]) -> Row:
    async with pool.acquire() as conn, conn.transaction():
        row = await store.update(conn, before["id"], changes)
        if row is not None:  # else deleted meanwhile: that delete reported itself
            await report(conn, before, row)
    return row


async def delete(pool: asyncpg.Pool, endpoint: Row) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.delete(conn, endpoint["id"])
        await report(conn, endpoint, None)
