"""SQL for endpoints. An endpoint is addressed by its id or its uid within its app.

The secret, the old secrets and the header values are sealed by the key ring on the way
in and opened on the way out (shared/encryption.py): callers only see plaintext, the
table only holds ciphertext. Rows come back as dicts for that reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from shared import encryption
from shared.ids import new_id
from shared.status import MessageStatus

COLUMNS = (
    "id, app_id, uid, url, description, throttle_rate, disabled, event_types, channels,"
    " metadata, headers, secret, old_secrets, ordered, created_at, updated_at"
)
# Columns a create or update may set, in the order of the INSERT.
_WRITABLE = (
    "uid",
    "url",
    "description",
    "throttle_rate",
    "disabled",
    "event_types",
    "channels",
    "metadata",
    "headers",
    "ordered",
)

Conn = asyncpg.Connection | asyncpg.Pool


Row = dict[str, Any]


def _opened(row: asyncpg.Record | None) -> Row | None:
    return None if row is None else encryption.open_endpoint(row)


def _sealed(values: dict[str, Any]) -> dict[str, Any]:
    if values.get("headers"):
        return {**values, "headers": encryption.seal_headers(values["headers"])}
    return values


async def get(conn: Conn, app_id: str, ref: str) -> Row | None:
    return _opened(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM endpoint WHERE app_id = $1 AND (id = $2 OR uid = $2)"
            " ORDER BY id = $2 DESC LIMIT 1",
            app_id,
            ref,
        )
    )


async def insert(conn: Conn, app_id: str, values: dict[str, Any], secret: str) -> Row:
    values = _sealed(values)
    params = [values.get(c) for c in _WRITABLE]
    params[_WRITABLE.index("metadata")] = values.get("metadata") or {}
    params[_WRITABLE.index("headers")] = values.get("headers") or {}
    params[_WRITABLE.index("disabled")] = bool(values.get("disabled"))
    params[_WRITABLE.index("description")] = values.get("description") or ""
    params[_WRITABLE.index("ordered")] = bool(values.get("ordered"))
    placeholders = ", ".join(f"${i}" for i in range(4, 4 + len(_WRITABLE)))
    row = await conn.fetchrow(
        f"INSERT INTO endpoint (id, app_id, secret, {', '.join(_WRITABLE)})"
        f" VALUES ($1, $2, $3, {placeholders}) RETURNING {COLUMNS}",
        new_id("ep"),
        app_id,
        encryption.active().seal(secret, encryption.ENDPOINT_SECRET),
        *params,
    )
    return encryption.open_endpoint(row)


async def update(conn: Conn, endpoint_id: str, changes: dict[str, Any]) -> Row:
    changes = _sealed(changes)
    unknown = set(changes) - set(_WRITABLE)
    assert not unknown, f"not writable: {unknown}"
    assignments = [f"{column} = ${i}" for i, column in enumerate(changes, start=2)]
    if changes.get("disabled") is False:
        # Re-enabling restarts the auto-disable clock.
        assignments += ["disabled_reason = NULL", "failing_since = NULL"]
    assignments.append("updated_at = now()")
    row = await conn.fetchrow(
        f"UPDATE endpoint SET {', '.join(assignments)} WHERE id = $1 RETURNING {COLUMNS}",
        endpoint_id,
        *changes.values(),
    )
    return _opened(row)  # type: ignore[return-value]


async def delete(conn: Conn, endpoint_id: str) -> None:
    await conn.execute("DELETE FROM endpoint WHERE id = $1", endpoint_id)


def live_old_secrets(old_secrets: list[dict[str, str]], now: datetime) -> list[dict[str, str]]:
    return [s for s in old_secrets if datetime.fromisoformat(s["expiresAt"]) > now]


async def rotate_secret(conn: Conn, endpoint: Row, new_secret: str, grace: int) -> None:
    """Replace the secret; the old one keeps signing for ``grace`` seconds. ``endpoint``
    is an opened row (from :func:`get`)."""
    now = datetime.now(UTC)
    old = live_old_secrets(endpoint["old_secrets"], now)
    if grace > 0:
        old.append({"key": endpoint["secret"], "expiresAt": (now + timedelta(seconds=grace)).isoformat()})
    await conn.execute(
        "UPDATE endpoint SET secret = $2, old_secrets = $3, updated_at = now() WHERE id = $1",
        endpoint["id"],
        encryption.active().seal(new_secret, encryption.ENDPOINT_SECRET),
        encryption.seal_old_secrets(old),
    )


async def stats(
    conn: Conn, endpoint_id: str, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM message_destination WHERE endpoint_id = $1"
        " AND ($2::timestamptz IS NULL OR created_at >= $2)"
        " AND ($3::timestamptz IS NULL OR created_at < $3) GROUP BY status",
        endpoint_id,
        since,
        until,
    )
    counts = {row["status"]: row["n"] for row in rows}
    return {status.text: counts.get(status, 0) for status in MessageStatus}
