"""The attempt log lingers for a fuller batch whatever the load, and commits an urgent
entry (an ordered endpoint's lane waiting to send its next message) at once."""

from __future__ import annotations

import asyncio
import uuid

from services.dispatcher.attempt_log import _ENOUGH_ROWS, AttemptLog
from tests.dispatcher.test_attempt_refusals import entry, writing

LINGER = 30.0  # far longer than any wait below: a commit before it was not the timer's


async def test_entries_wait_for_the_batch_and_an_urgent_one_takes_them_along(world, db_pool):
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    first, second = await world.send([ep], count=2)
    async with writing(db_pool, seconds=LINGER, rows=50) as log:
        # Given an entry recorded while the log is idle
        waiting = asyncio.create_task(log.record(entry(first)))
        await asyncio.sleep(0.5)
        # Then it is not committed at once: it waits for others to join its batch
        assert not waiting.done()
        assert await world.attempts(ep.id) == []
        # When an urgent entry arrives
        await asyncio.wait_for(log.record(entry(second), urgent=True), 10)
        # Then both are committed together, without waiting out the linger
        await asyncio.wait_for(waiting, 10)
        written = sorted(r["msg_id"] for r in await world.attempts(ep.id))
        assert written == sorted([first.msg_id, second.msg_id])


async def test_a_full_batch_is_committed_without_waiting_out_the_linger(world, db_pool):
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    tasks = await world.send([ep], count=4)
    async with writing(db_pool, seconds=LINGER, rows=4) as log:
        await asyncio.wait_for(asyncio.gather(*(log.record(entry(t)) for t in tasks)), 10)
        assert len(await world.attempts(ep.id)) == 4


async def test_what_arrives_during_a_commit_lingers_in_its_own_turn(world, db_pool):
    # Given a commit that takes a second (a trigger sleeps on the first message's attempt)
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    slow, during = await world.send([ep], count=2)
    name = f"slow_{uuid.uuid4().hex[:10]}"
    await db_pool.execute(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.msg_id = '{slow.msg_id}' THEN PERFORM pg_sleep(1); END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER {name} BEFORE INSERT ON message_attempt FOR EACH ROW EXECUTE FUNCTION {name}();
    """)
    try:
        async with writing(db_pool, seconds=LINGER, rows=50) as log:
            first = asyncio.create_task(log.record(entry(slow), urgent=True))
            await asyncio.sleep(0.3)
            # When another entry arrives while that commit runs
            second = asyncio.create_task(log.record(entry(during)))
            await asyncio.wait_for(first, 10)
            await asyncio.sleep(1.0)
            # Then it is not committed straight after: it waits for a batch of its own
            assert not second.done()
            assert [r["msg_id"] for r in await world.attempts(ep.id)] == [slow.msg_id]
            second.cancel()
    finally:
        await db_pool.execute(f"DROP TRIGGER {name} ON message_attempt; DROP FUNCTION {name}();")


async def test_enough_rows_are_committed_before_the_batch_is_full(world, db_pool):
    # Given a log that could take 100 rows a commit, and one row short of enough waiting
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    tasks = await world.send([ep], count=_ENOUGH_ROWS)
    async with writing(db_pool, seconds=LINGER, rows=100) as log:
        waiting = [asyncio.create_task(log.record(entry(t))) for t in tasks[:-1]]
        await asyncio.sleep(0.5)
        assert not any(w.done() for w in waiting)
        # When the row that makes enough arrives
        await asyncio.wait_for(log.record(entry(tasks[-1])), 10)
        # Then all are committed together, without waiting out the linger or a full batch
        await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert len(await world.attempts(ep.id)) == _ENOUGH_ROWS


async def test_closing_commits_what_lingers(world, db_pool):
    # Given entries lingering in a log that would wait 30 s for more
    ep = await world.endpoint("http://127.0.0.1:9/hook")
    tasks = await world.send([ep], count=3)
    log = AttemptLog(db_pool, disable_after=86400, flush_seconds=LINGER, flush_rows=100)
    writer = asyncio.create_task(log.run())
    try:
        waiting = [asyncio.create_task(log.record(entry(t))) for t in tasks]
        await asyncio.sleep(0.3)
        assert not any(w.done() for w in waiting)
        # When the dispatcher shuts down
        await asyncio.wait_for(log.close(within=5), 10)
        # Then they are committed, their waiters answered, and the writer is gone
        await asyncio.wait_for(asyncio.gather(*waiting), 1)
        assert len(await world.attempts(ep.id)) == 3
        assert writer.done()
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
