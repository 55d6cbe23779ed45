"""Inbound sources in PostgreSQL (``inbound_source``).

The secrets are sealed by the key ring in the table (shared/encryption.py) and opened
here: every row this module returns holds them in plaintext, in memory only."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import asyncpg

from services.verifier.network import Network, parse_networks
from shared import encryption
from shared.schemes import Scheme

COLUMNS = (
    "id, scheme, secrets, allowed_cidrs, max_body_bytes, tolerance_seconds, header_name,"
    " created_at, updated_at"
)
_FIELDS = ("scheme", "secrets", "allowed_cidrs", "max_body_bytes", "tolerance_seconds", "header_name")


@dataclass(frozen=True)
class Source:
    """What the receiving path needs of a source."""

    id: str
    scheme: Scheme
    secrets: tuple[str, ...]
    allowed_cidrs: tuple[str, ...]
    max_body_bytes: int
    tolerance_seconds: int
    header_name: str | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Source:
        return cls(
            id=row["id"],
            scheme=Scheme(row["scheme"]),
            secrets=tuple(row["secrets"]),
            allowed_cidrs=tuple(row["allowed_cidrs"]),
            max_body_bytes=row["max_body_bytes"],
            tolerance_seconds=row["tolerance_seconds"],
            header_name=row["header_name"],
        )

    @cached_property
    def allowed_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.allowed_cidrs)


Row = dict[str, Any]


def _opened(row: asyncpg.Record | None) -> Row | None:
    if row is None:
        return None
    ring = encryption.active()
    return {**dict(row), "secrets": [ring.open(s, encryption.SOURCE_SECRET) for s in row["secrets"]]}


def _sealed(secrets: list[str] | None) -> list[str] | None:
    if secrets is None:
        return None
    ring = encryption.active()
    return [ring.seal(s, encryption.SOURCE_SECRET) for s in secrets]


async def get_row(db: asyncpg.Pool, source_id: str) -> Row | None:
    return _opened(await db.fetchrow(f"SELECT {COLUMNS} FROM inbound_source WHERE id = $1", source_id))


async def get_source(db: asyncpg.Pool, source_id: str) -> Source | None:
    row = await get_row(db, source_id)
    return Source.from_row(row) if row else None


async def list_rows(db: asyncpg.Pool, *, after: str | None, limit: int) -> list[Row]:
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM inbound_source WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
        after,
        limit,
    )
    return [_opened(row) for row in rows]  # type: ignore[misc]  # never None here


async def insert(db: asyncpg.Pool, source_id: str, values: dict[str, Any]) -> Row | None:
    """Raises ``asyncpg.UniqueViolationError`` when the id is taken."""
    values = {**values, "secrets": _sealed(values["secrets"])}
    return await _fetch_opened(
        db,
        f"INSERT INTO inbound_source (id, {', '.join(_FIELDS)}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        f" RETURNING {COLUMNS}",
        source_id,
        *(values[f] for f in _FIELDS),
    )


async def update(db: asyncpg.Pool, source_id: str, values: dict[str, Any]) -> Row | None:
    """Replaces every field; a ``secrets`` of None keeps the current secrets."""
    values = {**values, "secrets": _sealed(values["secrets"])}
    return await _fetch_opened(
        db,
        "UPDATE inbound_source SET scheme = $2, secrets = COALESCE($3, secrets),"
        " allowed_cidrs = $4, max_body_bytes = $5, tolerance_seconds = $6, header_name = $7,"
        f" updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        source_id,
        *(values[f] for f in _FIELDS),
    )


async def _fetch_opened(db: asyncpg.Pool, sql: str, *args: object) -> Row | None:
    return _opened(await db.fetchrow(sql, *args))


async def delete(db: asyncpg.Pool, source_id: str) -> bool:
    return await db.execute("DELETE FROM inbound_source WHERE id = $1", source_id) == "DELETE 1"
