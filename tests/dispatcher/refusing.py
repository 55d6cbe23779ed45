"""Make the test's own PostgreSQL refuse attempt rows: a trigger, as a constraint a
future migration or an operator could add, refuses the rows of chosen messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg


@asynccontextmanager
async def refusing_attempts(
    pool: asyncpg.Pool,
    *,
    always: Sequence[str] = (),
    with_response: Sequence[str] = (),
    column: str = "msg_id",
) -> AsyncIterator[None]:
    """While inside: attempt rows whose ``column`` (a message's or an endpoint's id) is in
    ``always`` are refused in every form, those in ``with_response`` only while their
    response is not empty."""
    name = f"refuse_{uuid.uuid4().hex[:10]}"
    always_sql = ",".join(f"'{m}'" for m in always) or "NULL"
    response_sql = ",".join(f"'{m}'" for m in with_response) or "NULL"
    await pool.execute(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.{column} IN ({always_sql}) THEN
                RAISE EXCEPTION 'test refuses every attempt of %', NEW.{column};
            END IF;
            IF NEW.{column} IN ({response_sql}) AND NEW.response <> '' THEN
                RAISE EXCEPTION 'test refuses the response of %', NEW.{column};
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER {name} BEFORE INSERT ON message_attempt
            FOR EACH ROW EXECUTE FUNCTION {name}();
    """)
    try:
        yield
    finally:
        await pool.execute(f"DROP TRIGGER {name} ON message_attempt; DROP FUNCTION {name}();")


@asynccontextmanager
async def stalling_attempts(pool: asyncpg.Pool, msg_ids: Sequence[str]) -> AsyncIterator[None]:
    """While inside: inserting an attempt of these messages hangs (a lock never released,
    a disk that stopped answering) until the statement is cancelled."""
    name = f"stall_{uuid.uuid4().hex[:10]}"
    ids = ",".join(f"'{m}'" for m in msg_ids)
    await pool.execute(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.msg_id IN ({ids}) THEN PERFORM pg_sleep(3600); END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER {name} BEFORE INSERT ON message_attempt
            FOR EACH ROW EXECUTE FUNCTION {name}();
    """)
    try:
        yield
    finally:
        await pool.execute(f"DROP TRIGGER {name} ON message_attempt; DROP FUNCTION {name}();")
