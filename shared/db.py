"""asyncpg pool with JSON codecs, created and closed as an async context manager, and
the errors a database call raises while PostgreSQL is away or restarting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson

# What a call on the pool raises from the database's side: the server away or
# restarting, a broken connection, an error the server reported. InternalClientError is
# one of them: when PostgreSQL stops or restarts, each backend sends FATAL "terminating
# connection due to administrator command" and then exits; a pooled connection that has
# read the FATAL but not yet the socket's close still counts as open, is handed out, and
# its next query fails with "cannot switch to state N; another operation (2) is in
# progress". The pool discards that connection on release, so a retry gets a sound one.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


@asynccontextmanager
async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
    )
    try:
        yield pool
    finally:
        await pool.close()
