"""Stored responses for requests that carry an ``idempotency-key`` header.

The same key on the same route returns the first response. A claim is a row in
``idempotency_key``; a concurrent request with the same key waits on the row lock of
the first one's insert, then sees its stored response.

Answers stored here are sealed by the key ring (one of them, ``POST .../secret/rotate``,
carries an endpoint secret) and opened when replayed. Message creation stores its own
answers (group_commit.py); they hold a payload, no secret, and stay as they are (the
rekey run leaves the scopes ``POST /api/v1/app/<app>/msg`` alone for that reason).
"""

from __future__ import annotations

import asyncpg

from shared import encryption

Conn = asyncpg.Connection | asyncpg.Pool


async def claim(conn: Conn, scope: str, key: str) -> bool:
    row = await conn.fetchrow(
        "INSERT INTO idempotency_key (scope, key) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        scope,
        key,
    )
    return row is not None


async def complete(conn: Conn, scope: str, key: str, status: int, body: bytes) -> None:
    await conn.execute(
        "UPDATE idempotency_key SET state = 'done', status_code = $3, body = $4"
        " WHERE scope = $1 AND key = $2",
        scope,
        key,
        status,
        encryption.active().seal_bytes(body, encryption.IDEMPOTENT_ANSWER) if body else body,
    )


async def release(conn: Conn, scope: str, key: str) -> None:
    await conn.execute(
        "DELETE FROM idempotency_key WHERE scope = $1 AND key = $2 AND state = 'pending'",
        scope,
        key,
    )


async def lookup(conn: Conn, scope: str, key: str) -> dict[str, object] | None:
    row = await conn.fetchrow(
        "SELECT state, status_code, body FROM idempotency_key WHERE scope = $1 AND key = $2",
        scope,
        key,
    )
    if row is None:
        return None
    body = row["body"]
    if body:
        body = encryption.active().open_bytes(bytes(body), encryption.IDEMPOTENT_ANSWER)
    return {"state": row["state"], "status_code": row["status_code"], "body": body}


async def stored_response(conn: Conn, scope: str, key: str) -> tuple[int, bytes]:
    row = await lookup(conn, scope, key)
    assert row is not None and row["state"] == "done", "a replayed key has a stored response"
    return row["status_code"], bytes(row["body"])


async def expire(conn: Conn, ttl_hours: int) -> str:
    return await conn.execute(
        "DELETE FROM idempotency_key WHERE created_at < now() - make_interval(hours => $1)",
        ttl_hours,
    )
