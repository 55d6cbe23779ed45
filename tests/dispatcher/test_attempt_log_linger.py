"""The attempt log lingers for a fuller batch whatever the load, and commits an urgent
entry (an ordered endpoint's lane waiting to send its next message) at once."""

from __future__ import annotations

import asyncio

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
