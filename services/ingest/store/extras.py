"""SQL of the routes in ``api/endpoint_extras.py`` and ``api/background_tasks.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.ingest.store.messages import EXPUNGED_RESPONSE
from shared.operational import OPERATIONAL_APP_ID
from shared.status import MessageStatus

Conn = asyncpg.Connection | asyncpg.Pool

# Messages of the app in the window that this endpoint never had a destination for,
# oldest first; the caller keeps those the endpoint's filters select.
_MISSING = """
SELECT m.id, m.event_type, m.channels FROM message m
WHERE m.app_id = $1 AND m.created_at >= $3 AND m.created_at < $4 AND m.expunged_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM message_destination d WHERE d.msg_id = m.id AND d.endpoint_id = $2)
ORDER BY m.id
"""


async def missing_messages(
    conn: Conn, app_id: str, endpoint_id: str, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(_MISSING, app_id, endpoint_id, since, until)


async def add_destinations(conn: Conn, app_id: str, endpoint_id: str, msg_ids: list[str]) -> None:
    await conn.execute(
        # created_at is the message's: the row shares its partition (migration 006).
        "INSERT INTO message_destination (msg_id, endpoint_id, app_id, created_at)"
        " SELECT m.id, $2, $3, m.created_at FROM message m WHERE m.id = ANY($1::text[]) AND m.app_id = $3"
        " ON CONFLICT DO NOTHING",
        msg_ids,
        endpoint_id,
        app_id,
    )


async def insert_message(
    conn: Conn, msg_id: str, app_id: str, event_type: str, payload: str, created_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO message (id, app_id, event_type, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
        msg_id,
        app_id,
        event_type,
        payload,
        created_at,
    )


async def expunge_attempt(conn: Conn, app_id: str, msg_id: str, attempt_id: str) -> bool:
    """The attempt's response body becomes what Svix shows for an expunged one."""
    done = await conn.fetchval(
        "UPDATE message_attempt SET response = $4 WHERE id = $3 AND msg_id = $2 AND app_id = $1"
        " RETURNING true",
        app_id,
        msg_id,
        attempt_id,
        EXPUNGED_RESPONSE,
    )
    return bool(done)


async def attempt_stats(
    conn: Conn, endpoint_id: str, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    """Attempts by outcome; deliveries canceled before any attempt count as canceled."""
    row = await conn.fetchrow(
        f"SELECT count(*) FILTER (WHERE status = {MessageStatus.SUCCESS:d}) AS success,"
        f" count(*) FILTER (WHERE status = {MessageStatus.FAIL:d}) AS fail"
        " FROM message_attempt WHERE endpoint_id = $1"
        " AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)",
        endpoint_id,
        since,
        until,
    )
    canceled = await conn.fetchval(
        f"SELECT count(*) FROM message_destination WHERE endpoint_id = $1"
        f" AND status = {MessageStatus.CANCELED:d}"
        " AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)",
        endpoint_id,
        since,
        until,
    )
    return {"success": row["success"], "fail": row["fail"], "canceled": canceled}


async def finished_task(conn: Conn, task_id: str, task: str, data: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO background_task (id, task, status, data) VALUES ($1, $2, 'finished', $3)"
        " RETURNING id, task, status, data, updated_at",
        task_id,
        task,
        data,
    )


async def usage_by_app(conn: Conn, app_ids: list[str] | None, since: datetime, until: datetime) -> list[dict]:
    """``messageDestinations`` per application in the window (Svix's ``appStats``)."""
    rows = await conn.fetch(
        "SELECT a.id, a.uid, count(d.msg_id) AS n FROM application a"
        " LEFT JOIN message_destination d ON d.app_id = a.id AND d.created_at >= $2 AND d.created_at < $3"
        " WHERE ($1::text[] IS NULL OR a.id = ANY($1)) AND a.id <> $4"
        " GROUP BY a.id, a.uid ORDER BY a.id",
        app_ids,
        since,
        until,
        OPERATIONAL_APP_ID,
    )
    return [{"messageDestinations": r["n"], "appId": r["id"], "appUid": r["uid"]} for r in rows]


async def resolve_apps(conn: Conn, refs: list[str]) -> tuple[list[str], list[str]]:
    """The ids of the applications named by id or uid, and the refs that name none."""
    rows = await conn.fetch("SELECT id, uid FROM application WHERE id = ANY($1) OR uid = ANY($1)", refs)
    known = {r["id"] for r in rows} | {r["uid"] for r in rows if r["uid"]}
    return [r["id"] for r in rows], [ref for ref in refs if ref not in known]
