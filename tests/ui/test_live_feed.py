"""The live feed against the real database: one hint per new row, one burst for many."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.ingest.ui.live import LiveEvent, LiveFeed
from shared.ids import new_id


async def insert_messages(db_pool, app_id: str, count: int) -> list[str]:
    ids = [new_id("msg") for _ in range(count)]
    await db_pool.executemany(
        "INSERT INTO message (id, app_id, event_type, payload) VALUES ($1, $2, 'live.test', '{}')",
        [(msg_id, app_id) for msg_id in ids],
    )
    return ids


async def next_events(queue: asyncio.Queue, wait: float = 3.0) -> list[LiveEvent]:
    events = [await asyncio.wait_for(queue.get(), wait)]
    await asyncio.sleep(0.05)
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


async def test_new_rows_become_hints_and_many_become_one_burst(db_pool):
    app_id = new_id("app")
    await db_pool.execute("INSERT INTO application (id, name) VALUES ($1, 'live feed')", app_id)
    await insert_messages(db_pool, app_id, 2)  # there before anyone listens: not news
    feed = LiveFeed(db_pool, interval=0.1)
    async with feed.subscription() as queue:
        [msg_id] = await insert_messages(db_pool, app_id, 1)
        [event] = await next_events(queue)
        assert (event.kind, event.msg_id, event.app_id) == ("message", msg_id, app_id)
        assert b"event: message" in event.sse() and msg_id.encode() in event.sse()

        await insert_messages(db_pool, app_id, 80)
        assert [e.kind for e in await next_events(queue)] == ["burst"]
    await feed.close()


async def test_a_page_subscribing_after_a_row_was_announced_is_told_to_refresh(db_pool):
    # Given a page listening (the one a form post is about to replace) ...
    app_id = new_id("app")
    await db_pool.execute("INSERT INTO application (id, name) VALUES ($1, 'live late page')", app_id)
    feed = LiveFeed(db_pool, interval=0.1)
    async with feed.subscription() as old_page:
        # ... and its successor rendered, when a row commits and is announced before the
        # successor subscribes: only the old page (gone, in the browser) hears of it
        rendered_at = time.time()
        await insert_messages(db_pool, app_id, 1)
        assert [e.kind for e in await next_events(old_page)] == ["message"]

        # Then the successor's subscription, given its render time, refreshes it at once
        async with feed.subscription(since=rendered_at) as new_page:
            assert [e.kind for e in await next_events(new_page)] == ["burst"]
        # and a page rendered after everything it could hear of gets nothing
        async with feed.subscription(since=time.time()) as later_page:
            with pytest.raises(TimeoutError):
                await next_events(later_page, wait=0.5)
    await feed.close()
