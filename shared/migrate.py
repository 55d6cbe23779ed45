"""Apply the numbered SQL migrations in ``shared/migrations``: ``python -m shared.migrate``.

Idempotent (applied versions are recorded) and safe when several replicas start at
once: the whole run holds a PostgreSQL advisory lock. Creates the database first
when it does not exist yet.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import structlog

from shared.logging import configure_logging
from shared.settings import Settings, get_settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_ID = 0x686F6F6B  # "hook"

log = structlog.get_logger()


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))


async def ensure_database(dsn: str) -> None:
    """Create the database named in ``dsn`` if the server does not have it yet."""
    name = urlsplit(dsn).path.lstrip("/") or "postgres"
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(dsn, database="postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            log.info("database created", database=name)
        except asyncpg.DuplicateDatabaseError:
            pass
        finally:
            await admin.close()
    else:
        await conn.close()


async def apply_migrations(dsn: str) -> list[str]:
    await ensure_database(dsn)
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migration")}
        for path in migration_files():
            if path.stem in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migration (version) VALUES ($1)", path.stem)
            applied_now.append(path.stem)
            log.info("migration applied", version=path.stem)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
        await conn.close()
    return applied_now


def main(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging(settings, "migrate")
    applied = asyncio.run(apply_migrations(settings.dsn()))
    log.info("migrations up to date", applied=len(applied))


if __name__ == "__main__":
    main()
