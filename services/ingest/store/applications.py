"""SQL for applications. An app is addressed by its id or its uid."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.ids import new_id

COLUMNS = "id, uid, name, throttle_rate, metadata, created_at, updated_at"


async def get(conn: asyncpg.Connection | asyncpg.Pool, ref: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM application WHERE id = $1 OR uid = $1 ORDER BY id = $1 DESC LIMIT 1",
        ref,
    )


async def insert(conn: asyncpg.Connection | asyncpg.Pool, values: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        f"INSERT INTO application (id, uid, name, throttle_rate, metadata)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}",
        new_id("app"),
        values.get("uid"),
        values["name"],
        values.get("throttle_rate"),
        values.get("metadata") or {},
    )


async def update(
    conn: asyncpg.Connection | asyncpg.Pool, app_id: str, changes: dict[str, Any]
) -> asyncpg.Record:
    assignments = [f"{column} = ${i}" for i, column in enumerate(changes, start=2)]
    assignments.append("updated_at = now()")
    return await conn.fetchrow(
        f"UPDATE application SET {', '.join(assignments)} WHERE id = $1 RETURNING {COLUMNS}",
        app_id,
        *changes.values(),
    )


async def delete(conn: asyncpg.Connection | asyncpg.Pool, app_id: str) -> None:
    await conn.execute("DELETE FROM application WHERE id = $1", app_id)
