"""SQL for messages, their destinations and attempts."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.routing import EndpointFilter

Conn = asyncpg.Connection | asyncpg.Pool

MESSAGE_COLUMNS = "id, app_id, event_id, event_type, payload, channels, tags, created_at"


async def insert_message(
    conn: Conn,
    *,
    msg_id: str,
    app_id: str,
    event_id: str | None,
    event_type: str,
    payload: str,
    channels: list[str] | None,
    tags: list[str] | None,
    created_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO message (id, app_id, event_id, event_type, payload, channels, tags, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        msg_id,
        app_id,
        event_id,
        event_type,
        payload,
        channels,
        tags,
        created_at,
    )


async def subscribed_endpoints(conn: Conn, app_id: str) -> list[EndpointFilter]:
    rows = await conn.fetch(
        "SELECT id, disabled, event_types, channels FROM endpoint WHERE app_id = $1 AND NOT disabled",
        app_id,
    )
    return [EndpointFilter(r["id"], r["disabled"], r["event_types"], r["channels"]) for r in rows]


async def insert_destinations(
    conn: Conn, msg_id: str, app_id: str, endpoint_ids: list[str], created_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO message_destination (msg_id, endpoint_id, app_id, created_at, updated_at,"
        " next_attempt) SELECT $1, e, $2, $4, $4, $4 FROM unnest($3::text[]) AS e",
        msg_id,
        app_id,
        endpoint_ids,
        created_at,
    )


async def get_message(conn: Conn, app_id: str, ref: str) -> asyncpg.Record | None:
    """By id, or by the ``eventId`` the sender chose (Svix accepts both)."""
    return await conn.fetchrow(
        f"SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = $1 AND (id = $2 OR event_id = $2)"
        " ORDER BY id = $2 DESC LIMIT 1",
        app_id,
        ref,
    )


async def reset_destinations(conn: Conn, where_sql: str, *args: object) -> list[asyncpg.Record]:
    """Put destinations back to pending for a manual attempt; the caller publishes them."""
    return await conn.fetch(
        "UPDATE message_destination d SET status = 1, published = false, trigger_type = 1,"
        " next_attempt = now(), updated_at = now()"
        f" FROM message m WHERE m.id = d.msg_id AND {where_sql}"
        " RETURNING d.msg_id, d.endpoint_id, d.app_id, d.trigger_type, m.event_type, m.payload,"
        " m.created_at",
        *args,
    )
