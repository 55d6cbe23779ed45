"""SQL for messages, their destinations and attempts."""

from __future__ import annotations

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

MESSAGE_COLUMNS = "id, app_id, event_id, event_type, payload, channels, tags, created_at"


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
