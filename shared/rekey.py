"""Seal every secret at rest under the newest key: ``python -m shared.rekey``.

Run it after putting a new key first in ``HOOKLINE_ENCRYPTION_KEYS`` (docs/operations.md),
and once after upgrading to a Hookline that encrypts, to seal what was stored in plaintext.
Hookline keeps running meanwhile: each table is walked in primary-key order in batches,
each batch one short transaction that locks its rows (``FOR UPDATE``), so a write to one
of them waits a moment and is never overwritten with a stale value, and a second rekey
run waits and then finds the rows done. A row already under the newest key is skipped:
running it twice changes nothing. ``--check`` only counts the values under each key and
exits 1 while any is not under the newest one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from shared import encryption
from shared.db import create_pool
from shared.keyring import KeyRing, key_id_of
from shared.logging import configure_logging
from shared.settings import Settings, get_settings

log = structlog.get_logger()
PLAINTEXT = "plaintext"


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    # The values of every sealed field in a row: (column label, value).
    values: Callable[[dict[str, Any]], list[tuple[str, str | bytes]]]
    # New column values with every field sealed under the ring's newest key.
    reseal: Callable[[dict[str, Any], KeyRing], dict[str, Any]]
    where: str = "TRUE"


def _endpoint_values(row: dict[str, Any]) -> list[tuple[str, str | bytes]]:
    return (
        [("endpoint.secret", row["secret"])]
        + [("endpoint.old_secrets", old["key"]) for old in row["old_secrets"] or () if "key" in old]
        + [("endpoint.headers", value) for value in (row["headers"] or {}).values()]
    )


def _endpoint_reseal(row: dict[str, Any], ring: KeyRing) -> dict[str, Any]:
    opened = encryption.open_endpoint(row, ring)
    return {
        "secret": ring.seal(opened["secret"], encryption.ENDPOINT_SECRET),
        "old_secrets": encryption.seal_old_secrets(opened["old_secrets"], ring),
        "headers": encryption.seal_headers(opened["headers"], ring),
    }


def _source_reseal(row: dict[str, Any], ring: KeyRing) -> dict[str, Any]:
    purpose = encryption.SOURCE_SECRET
    return {"secrets": [ring.seal(ring.open(s, purpose), purpose) for s in row["secrets"]]}


def _answer_reseal(row: dict[str, Any], ring: KeyRing) -> dict[str, Any]:
    purpose = encryption.IDEMPOTENT_ANSWER
    return {"body": ring.seal_bytes(ring.open_bytes(bytes(row["body"]), purpose), purpose)}


TABLES = (
    Table(
        "endpoint",
        ("id",),
        ("secret", "old_secrets", "headers"),
        _endpoint_values,
        _endpoint_reseal,
    ),
    Table(
        "inbound_source",
        ("id",),
        ("secrets",),
        lambda row: [("inbound_source.secrets", s) for s in row["secrets"]],
        _source_reseal,
    ),
    # Message creation's own answers hold payloads, are read unsealed by group commit,
    # and are left alone (services/ingest/store/idempotency.py).
    Table(
        "idempotency_key",
        ("scope", "key"),
        ("body",),
        lambda row: [("idempotency_key.body", bytes(row["body"]))] if row["body"] else [],
        _answer_reseal,
        where=r"scope !~ '^POST /api/v1/app/[^/]+/msg$'",
    ),
)


def needs_reseal(table: Table, row: dict[str, Any], ring: KeyRing) -> bool:
    return any(key_id_of(value) != ring.primary_id for _, value in table.values(row))


def _page_sql(table: Table, after: tuple[Any, ...] | None, *, lock: bool) -> str:
    keys = ", ".join(table.keys)
    bound = ", ".join(f"${i}" for i in range(1, len(table.keys) + 1))
    condition = f"({keys}) > ({bound})" if after else "TRUE"
    limit = f"${len(table.keys) + 1}" if after else "$1"
    return (
        f"SELECT {keys}, {', '.join(table.columns)} FROM {table.name}"
        f" WHERE {table.where} AND {condition} ORDER BY {keys} LIMIT {limit}"
        + (" FOR UPDATE" if lock else "")
    )


async def _reseal_batch(
    conn: asyncpg.Connection, table: Table, ring: KeyRing, after: tuple[Any, ...] | None, batch: int
) -> tuple[tuple[Any, ...] | None, int]:
    """One batch in one transaction: the key after it (None at the end), rows resealed."""
    async with conn.transaction():
        rows = [dict(r) for r in await conn.fetch(_page_sql(table, after, lock=True), *(after or ()), batch)]
        todo = [r for r in rows if needs_reseal(table, r, ring)]
        if todo:
            sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(table.columns, start=len(table.keys) + 1))
            match = " AND ".join(f"{k} = ${i}" for i, k in enumerate(table.keys, start=1))
            args = []
            for row in todo:
                new = table.reseal(row, ring)
                args.append(tuple(row[k] for k in table.keys) + tuple(new[c] for c in table.columns))
            await conn.executemany(f"UPDATE {table.name} SET {sets} WHERE {match}", args)
    last = tuple(rows[-1][k] for k in table.keys) if len(rows) == batch else None
    return last, len(todo)


async def rekey(pool: asyncpg.Pool, ring: KeyRing, *, batch: int = 500) -> dict[str, int]:
    """Reseal every table; the rows resealed per table."""
    done: dict[str, int] = {}
    for table in TABLES:
        after, total = None, 0
        async with pool.acquire() as conn:
            while True:
                after, count = await _reseal_batch(conn, table, ring, after, batch)
                total += count
                if after is None:
                    break
        done[table.name] = total
        log.info("rekey table done", table=table.name, resealed=total, key_id=ring.primary_id)
    return done


async def census(pool: asyncpg.Pool, *, batch: int = 1000) -> dict[str, Counter[str]]:
    """How many sealed values each key (or ``plaintext``) holds, per column."""
    counts: dict[str, Counter[str]] = {}
    for table in TABLES:
        after: tuple[Any, ...] | None = None
        while True:
            rows = await pool.fetch(_page_sql(table, after, lock=False), *(after or ()), batch)
            for row in rows:
                for label, value in table.values(dict(row)):
                    counts.setdefault(label, Counter())[key_id_of(value) or PLAINTEXT] += 1
            if len(rows) < batch:
                break
            after = tuple(rows[-1][k] for k in table.keys)
    return counts


def stale(counts: dict[str, Counter[str]], ring: KeyRing) -> int:
    return sum(n for c in counts.values() for key_id, n in c.items() if key_id != ring.primary_id)


async def _run(settings: Settings, *, check: bool, batch: int) -> int:
    ring = encryption.ring_for(settings)
    async with create_pool(settings.dsn(), min_size=1, max_size=2) as pool:
        if not check:
            await rekey(pool, ring, batch=batch)
        counts = await census(pool)
    left = stale(counts, ring)
    log.info(
        "sealed values by key",
        newest=ring.primary_id,
        counts={label: dict(c) for label, c in counts.items()},
        not_under_newest=left,
    )
    return 1 if left else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.rekey", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="count only; exit 1 if any is stale")
    parser.add_argument("--batch", type=int, default=500, help="rows per transaction")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings, "rekey")
    sys.exit(asyncio.run(_run(settings, check=args.check, batch=args.batch)))


if __name__ == "__main__":
    main()
