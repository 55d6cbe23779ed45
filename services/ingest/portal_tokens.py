"""App portal tokens: made, checked and revoked (PostgreSQL table ``app_portal_token``).

A token is ``portal_`` + 32 random bytes (URL-safe base64); the table keeps its SHA-256
only. Capabilities are Svix's; a read-only token, or one without ``ManageEndpoint``, may
look but not change (``may_change``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

import asyncpg

from services.ingest.models.app_portal import Capability

PREFIX = "portal_"
ALL_CAPABILITIES = get_args(Capability)  # a token made without a list gets them all


@dataclass(frozen=True)
class PortalToken:
    app_id: str
    read_only: bool
    capabilities: tuple[str, ...]
    expires_at: datetime

    def may(self, capability: str) -> bool:
        return not self.read_only and capability in self.capabilities


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def issue(
    pool: asyncpg.Pool,
    app_id: str,
    *,
    seconds: int,
    read_only: bool,
    capabilities: list[str] | None,
    session_id: str | None,
) -> str:
    token = PREFIX + secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO app_portal_token (token_hash, app_id, read_only, capabilities, session_id, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
        digest(token),
        app_id,
        read_only,
        list(capabilities) if capabilities is not None else list(ALL_CAPABILITIES),
        session_id,
        seconds,
    )
    return token


async def check(pool: asyncpg.Pool, token_hash: bytes) -> PortalToken | None:
    """The token's grant while it is valid; None once expired, revoked or unknown."""
    row = await pool.fetchrow(
        "SELECT app_id, read_only, capabilities, expires_at FROM app_portal_token"
        " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
        token_hash,
    )
    if row is None:
        return None
    return PortalToken(row["app_id"], row["read_only"], tuple(row["capabilities"]), row["expires_at"])


async def revoke_all(pool: asyncpg.Pool, app_id: str, *, after: int, session_ids: list[str] | None) -> int:
    """Every live token of the application stops working in ``after`` seconds (0: now)."""
    status = await pool.execute(
        "UPDATE app_portal_token SET expires_at = least(expires_at, now() + make_interval(secs => $2))"
        " WHERE app_id = $1 AND revoked_at IS NULL AND expires_at > now()"
        " AND ($3::text[] IS NULL OR session_id = ANY($3))",
        app_id,
        after,
        session_ids,
    )
    return int(status.split()[-1])


async def revoke(pool: asyncpg.Pool, token: str) -> bool:
    status = await pool.execute(
        "UPDATE app_portal_token SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
        digest(token),
    )
    return status.endswith(" 1")
