"""asyncpg pool with JSON codecs, created and closed as an async context manager, and
the errors a database call raises while PostgreSQL is away or restarting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
import structlog

log = structlog.get_logger()

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


# What a connection attempt raises while PostgreSQL is away, starting, shutting down or
# full: worth waiting out. A wrong password or database name is not, and fails at once.
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.OperatorInterventionError,  # "the database system is starting up / shutting down"
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
)


# For the pools of the delivery path only (ingest's group commit and published flags, the
# dispatcher). Their statements join arrays of keys against partitioned tables, so no
# partition can be pruned at planning time and a plan made for the values is no better
# than the generic one; but PostgreSQL's default (``auto``) kept choosing to plan each
# execution afresh. Measured on the benchmark database (8 partitions, 2026-12-04), the
# dispatcher's outcome UPDATE for 1 row took 0.60 ms that way and 0.29 ms generic; for 2
# rows 1.13-1.38 against 0.33-0.44 ms; for 20 rows about the same either way. At half
# load batches are that small, and the planning was much of PostgreSQL's CPU. The API's
# queries (filters, ranges, LIMIT) keep ``auto``: there a plan for the values pays.
GENERIC_PLANS = {"plan_cache_mode": "force_generic_plan"}


@asynccontextmanager
async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    max_backoff: float = 5.0,
    server_settings: dict[str, str] | None = None,
) -> AsyncIterator[asyncpg.Pool]:
    """The pool, once PostgreSQL answers. A service started while the database restarts
    (a rollout during a failover, a pod rescheduled beside a database restart) waits for
    it instead of exiting into the orchestrator's crash-loop back-off, which grows to
    minutes; the startup probe still bounds the wait. ``server_settings`` are set on each
    connection as it opens (a reset on release keeps them)."""
    delay = 0.2
    while True:
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                command_timeout=60,
                server_settings=server_settings,
            )
            break
        except UNREACHABLE_ERRORS as exc:
            # The error's text names host and port at most; the DSN (and its password) is not logged.
            log.warning(
                "database unreachable, retrying", error=str(exc) or type(exc).__name__, retry_in=delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)
    try:
        if server_settings:
            await _warn_unapplied(pool, server_settings)
        yield pool
    finally:
        await pool.close()


async def _warn_unapplied(pool: asyncpg.Pool, wanted: dict[str, str]) -> None:
    try:
        unapplied = await unapplied_settings(pool, wanted)
    except DATABASE_ERRORS as exc:  # a check, not a reason to stop a service starting
        log.warning("could not read back the pool's server settings", error=repr(exc))
        return
    if unapplied:
        log.warning(
            "server settings asked for are not in effect; is a connection pooler dropping"
            " them (PgBouncer's ignore_startup_parameters)? docs/scaling.md",
            unapplied=unapplied,
        )


async def unapplied_settings(pool: asyncpg.Pool, wanted: dict[str, str]) -> dict[str, str]:
    """The ``wanted`` settings a connection of ``pool`` does not have, with the values it
    has. PgBouncer accepts a startup parameter listed in ``ignore_startup_parameters`` and
    never passes it on, so nothing fails: the setting is silently not applied. Values are
    compared as ``current_setting`` prints them, so ask in that form (``on``, not
    ``true``; ``5s``, not ``5000``)."""
    names = sorted(wanted)
    values = await pool.fetch(
        "SELECT name, current_setting(name) AS v FROM unnest($1::text[]) AS name", names
    )
    return {row["name"]: row["v"] for row in values if row["v"] != wanted[row["name"]]}
