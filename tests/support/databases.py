"""Databases a test makes for itself beside the run's own (tests/conftest.py), dropped
when it ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.migrate import apply_migrations

BASE_DSN = "postgresql://postgres@127.0.0.1:5432"


@asynccontextmanager
async def temporary_database(name: str, *, options: str = "", migrate: bool = False) -> AsyncIterator[str]:
    """The DSN of a new database ``name`` (created with ``options``: a template, a locale),
    migrated if asked; dropped afterwards, connections and all."""
    admin = await asyncpg.connect(f"{BASE_DSN}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}" {options}')
        dsn = f"{BASE_DSN}/{name}"
        if migrate:
            await apply_migrations(dsn)
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
