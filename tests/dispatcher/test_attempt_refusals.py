"""The attempt log against a real PostgreSQL that refuses some rows or is away.

One row the database refuses used to make its whole batch retry for ever: attempt
logging stopped for every endpoint, and SIGTERM hung behind the retrying writer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from structlog.testing import capture_logs

from services.dispatcher.attempt_log import (
    FAIL,
    SUCCESS,
    AttemptLog,
    AttemptNotStored,
    AttemptRow,
    DestinationUpdate,
    Entry,
    utc,
)
from shared.db import create_pool
from shared.ids import new_id
from tests.dispatcher.refusing import refusing_attempts, stalling_attempts
from tests.support.tcp_proxy import TcpProxy


def entry(task, url: str = "http://127.0.0.1:9/", response: str = "ok", error: str | None = None) -> Entry:
    now = time.time()
    attempt = AttemptRow(
        id=new_id("atmpt", now),
        msg_id=task.msg_id,
        endpoint_id=task.endpoint_id,
        app_id=task.app_id,
        url=url,
        response=response,
        response_status_code=200,
        response_duration_ms=3,
        status=SUCCESS,
        trigger_type=0,
        attempt_number=1,
        error=error,
        created_at=utc(now),
        msg_created_at=utc(task.created_at),
    )
    destination = DestinationUpdate(task.msg_id, task.endpoint_id, SUCCESS, None, 1, utc(task.created_at))
    return Entry(destination, attempt, True)


@asynccontextmanager
async def writing(pool, **knobs) -> AsyncIterator[AttemptLog]:
    log = AttemptLog(
        pool, disable_after=86400, flush_seconds=knobs.get("seconds", 0.02), flush_rows=knobs.get("rows", 50)
    )
    writer = asyncio.create_task(log.run())
    try:
        yield log
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


async def test_one_refused_row_does_not_hold_back_its_batch(world, db_pool):
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    tasks = await world.send([ep], count=6)
    reduced, refused = tasks[2], tasks[4]
    # Given a database that refuses one message's response and another's every row
    async with (
        refusing_attempts(db_pool, always=[refused.msg_id], with_response=[reduced.msg_id]),
        writing(db_pool) as log,
    ):
        # When the six arrive in one batch
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(log.record(entry(t)) for t in tasks), return_exceptions=True), 20
        )
    # Then five are written, one of them without its response and saying why
    assert [type(o).__name__ for o in outcomes] == ["NoneType"] * 4 + ["AttemptNotStored", "NoneType"]
    rows = {r["msg_id"]: r for r in await world.attempts(ep.id)}
    assert set(rows) == {t.msg_id for t in tasks} - {refused.msg_id}
    assert rows[reduced.msg_id]["response"] == ""
    assert rows[reduced.msg_id]["error"].startswith(
        "attempt stored without its response: RaiseError: test refuses"
    )
    assert all(rows[t.msg_id]["response"] == "ok" for t in tasks if t not in (reduced, refused))
    for task in tasks:  # the destinations of the written ones moved on, the refused one's did not
        destination = await world.destination(task.msg_id, ep.id)
        assert destination["attempt_count"] == (0 if task is refused else 1)
    assert "test refuses every attempt" in str(outcomes[4])


async def test_text_postgresql_refuses_is_stored_visibly(world):
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    [task] = await world.send([ep])
    async with writing(world.pool) as log:
        await asyncio.wait_for(
            log.record(
                entry(task, url="http://127.0.0.1:9/\x00", response="a\x00b", error="bad \udcb2 header")
            ),
            20,
        )
    [row] = await world.attempts(ep.id)
    assert (row["url"], row["response"], row["error"]) == (
        "http://127.0.0.1:9/\u2400",
        "a\u2400b",
        "bad \ufffd header",
    )


async def test_other_endpoints_keep_being_logged_while_one_row_is_refused(world, db_pool):
    bad, good = (
        await world.endpoint("http://127.0.0.1:9/bad"),
        await world.endpoint("http://127.0.0.1:9/good"),
    )
    [poison] = await world.send([bad])
    others = await world.send([good], count=20)
    async with refusing_attempts(db_pool, always=[poison.msg_id]), writing(db_pool, rows=4) as log:
        first = asyncio.ensure_future(log.record(entry(poison)))
        await asyncio.wait_for(asyncio.gather(*(log.record(entry(t)) for t in others)), 20)
        with pytest.raises(AttemptNotStored):
            await asyncio.wait_for(first, 20)
    assert len(await world.attempts(good.id)) == 20
    assert await world.attempts(bad.id) == []


async def test_close_gives_up_within_its_bound_while_the_database_is_away(world, migrated_database):
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    [task] = await world.send([ep])
    parts = urlsplit(migrated_database)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}{parts.path}"
    async with create_pool(dsn, min_size=1, max_size=2) as pool:
        log = AttemptLog(pool, disable_after=86400, flush_seconds=0.02, flush_rows=10)
        writer = asyncio.create_task(log.run())
        # Given a delivery waiting for its commit while the database is away
        await proxy.cut()
        waiting = asyncio.ensure_future(log.record(entry(task)))
        await asyncio.sleep(0.5)
        assert not waiting.done() and not log.healthy
        # When the dispatcher shuts down
        with capture_logs() as logs:
            await asyncio.wait_for(log.close(within=1.0), 15)
        # Then the writer is stopped, the delivery told, and its message named
        assert writer.done()
        with pytest.raises(AttemptNotStored):
            await waiting
        [line] = [e for e in logs if e["event"].startswith("attempt log entries not written at shutdown")]
        assert line["msg_ids"] == [task.msg_id] and line["entries"] == 1
    assert await world.attempts(ep.id) == []
    assert (await world.destination(task.msg_id, ep.id))["status"] != FAIL


async def test_close_gives_up_within_its_bound_on_a_write_that_hangs(world, db_pool, migrated_database):
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    [task] = await world.send([ep])
    async with (
        stalling_attempts(db_pool, [task.msg_id]),
        create_pool(migrated_database, min_size=1, max_size=2) as pool,
    ):
        log = AttemptLog(pool, disable_after=86400, flush_seconds=0.02, flush_rows=10)
        writer = asyncio.create_task(log.run())
        # Given a delivery whose commit hangs in the database
        waiting = asyncio.ensure_future(log.record(entry(task)))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        # When the dispatcher shuts down, then it gives up and says so
        with capture_logs() as logs:
            await asyncio.wait_for(log.close(within=1.0), 15)
        assert writer.done()
        with pytest.raises(AttemptNotStored):
            await waiting
        assert any(e["event"].startswith("attempt log entries not written at shutdown") for e in logs)
    assert await world.attempts(ep.id) == []
