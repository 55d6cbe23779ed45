"""Row-lock order of the two batch updates of ``message_destination`` that run all the
time side by side: ingest's published flags (``services/ingest/outbox.py``) and the
dispatcher's outcomes (``attempt_sql.UPDATE_DESTINATIONS``). Locking overlapping rows
in different orders deadlocked them: PostgreSQL waited its deadlock_timeout (a second
of stalled deliveries) and rolled one back; when that was the flags, the relay later
delivered the message again. Both now lock in key order, whatever their arrays' order, and
so do the rarer multi-row writers (a recover or replay, an expunge).
And an outcome flags its row published, so the flags that come after it skip the row."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from services.dispatcher.attempt_sql import UPDATE_DESTINATIONS, UPDATE_ONE_DESTINATION
from services.ingest.outbox import Published, mark_published
from services.ingest.store.messages import reset_destinations
from shared.history_days import batch_days
from shared.status import MessageStatus
from shared.tasks import DeliveryTask


async def _keys(world, count: int) -> list[DeliveryTask]:
    """Destinations not yet flagged published, as the tasks that name them, in key order."""
    endpoint = await world.endpoint("http://127.0.0.1:9/unused")
    tasks = await world.send([endpoint], count=count)
    await world.pool.execute(
        "UPDATE message_destination SET published = false WHERE endpoint_id = $1", endpoint.id
    )
    return sorted(tasks, key=lambda t: (t.msg_id, t.endpoint_id))


def _outcomes(keys: list[DeliveryTask]) -> list[object]:
    times = [k.created_datetime for k in keys]
    return [[k.msg_id for k in keys], [k.endpoint_id for k in keys], [MessageStatus.SUCCESS] * len(keys),
            [None] * len(keys), [1] * len(keys), times, *batch_days(times)]  # fmt: skip


_ROW = """SELECT published, xmin::text AS version FROM message_destination
WHERE msg_id = $1 AND endpoint_id = $2"""
_LOCK = "SELECT 1 FROM message_destination WHERE msg_id = $1 AND endpoint_id = $2 FOR UPDATE"


@asynccontextmanager
async def _while_held(
    pool: asyncpg.Pool, key: DeliveryTask, statement: Callable[[asyncpg.Connection], Awaitable[object]]
) -> AsyncIterator[asyncio.Task]:
    """``statement`` running on a connection of its own while another transaction holds
    ``key``'s row lock; on leaving, the lock is let go and the statement awaited."""
    holder, conn = await pool.acquire(), await pool.acquire()
    holding = holder.transaction()
    running: asyncio.Task | None = None
    try:
        await holding.start()
        await holder.execute(_LOCK, key.msg_id, key.endpoint_id)
        running = asyncio.create_task(statement(conn))
        yield running
    finally:
        await holding.rollback()  # lets the statement finish, whatever happened meanwhile
        if running is not None:
            await asyncio.wait_for(running, 10)
        await pool.release(conn)
        await pool.release(holder)


async def _is_locked(pool: asyncpg.Pool, key: DeliveryTask) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        try:
            await conn.execute(_LOCK + " NOWAIT", key.msg_id, key.endpoint_id)
        except asyncpg.LockNotAvailableError:
            return True
    return False


@pytest.mark.parametrize("statement", ["published flags", "outcomes"])
async def test_each_batch_update_locks_its_rows_in_key_order(world, statement: str) -> None:
    # Given two destinations, the second in key order held by another transaction
    first, second = await _keys(world, 2)

    # When a batch names them in the reverse order
    def batch(conn: asyncpg.Connection) -> Awaitable[object]:
        if statement == "published flags":
            return mark_published(conn, [Published.of(second), Published.of(first)])
        return conn.execute(UPDATE_DESTINATIONS, *_outcomes([second, first]))

    async with _while_held(world.pool, second, batch) as update:
        # Then it locks the first before it waits for the second
        for _ in range(100):
            if await _is_locked(world.pool, first):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the batch did not lock the first key while it waited for the second")
        assert not update.done()


async def test_flags_and_outcomes_side_by_side_never_deadlock(world) -> None:
    keys = await _keys(world, 60)
    rng = random.Random(7)

    async def flags() -> None:
        async with world.pool.acquire() as conn:
            for _ in range(40):
                await mark_published(conn, [Published.of(k) for k in rng.sample(keys, 30)])

    async def outcomes() -> None:
        async with world.pool.acquire() as conn:
            for _ in range(40):
                async with conn.transaction():
                    await conn.execute(UPDATE_DESTINATIONS, *_outcomes(rng.sample(keys, 30)))

    # Deadlocks would raise DeadlockDetectedError out of gather.
    await asyncio.wait_for(asyncio.gather(flags(), outcomes(), flags(), outcomes()), 120)


async def test_an_outcome_flags_its_destination_published_and_the_flag_batch_skips_it(world) -> None:
    """A task that reached a dispatcher was on the broker: its outcome flags the row
    published, so ingest's flag batch leaves it alone instead of writing it a second time
    (and the outbox relay never sends it again)."""
    # Given destinations whose published flag ingest has not written yet
    keys = await _keys(world, 3)
    # When the dispatcher records their outcomes, in a batch and one alone
    await world.pool.execute(UPDATE_DESTINATIONS, *_outcomes(keys[:2]))
    await world.pool.execute(UPDATE_ONE_DESTINATION, *_outcomes(keys[2:]))
    # Then each is published
    before = {k.msg_id: await world.pool.fetchrow(_ROW, k.msg_id, k.endpoint_id) for k in keys}
    assert all(row["published"] for row in before.values())
    # And ingest's late flag batch does not write the rows again
    await mark_published(world.pool, [Published.of(k) for k in keys])
    after = {k.msg_id: await world.pool.fetchrow(_ROW, k.msg_id, k.endpoint_id) for k in keys}
    assert {k: r["version"] for k, r in after.items()} == {k: r["version"] for k, r in before.items()}


async def test_an_outcome_leaves_a_resent_row_for_the_relay(world) -> None:
    """A manual resend resets the row (trigger 1, unpublished) and publishes a new task;
    an older task's outcome landing after the reset must not flag the new one published,
    or the outbox relay would never send it if that publish was lost."""
    (key,) = await _keys(world, 1)
    await world.pool.execute(
        "UPDATE message_destination SET trigger_type = 1 WHERE msg_id = $1 AND endpoint_id = $2",
        key.msg_id,
        key.endpoint_id,
    )
    await world.pool.execute(UPDATE_ONE_DESTINATION, *_outcomes([key]))
    assert not (await world.pool.fetchrow(_ROW, key.msg_id, key.endpoint_id))["published"]


async def test_a_recover_locks_its_rows_in_key_order(world) -> None:
    # Given two failed destinations of one endpoint, the first in key order updated last
    # (so that its row version, and its place in the status index, come after the second's)
    first, second = await _keys(world, 2)
    await world.pool.execute(
        "UPDATE message_destination SET status = $1, published = true WHERE endpoint_id = $2",
        MessageStatus.FAIL,
        first.endpoint_id,
    )
    await world.pool.execute(
        "UPDATE message_destination SET updated_at = now() + interval '1 s'"
        " WHERE msg_id = $1 AND endpoint_id = $2",
        first.msg_id,
        first.endpoint_id,
    )

    # When a recover resets both (Svix's POST .../endpoint/{id}/recover)
    def recover_all(conn: asyncpg.Connection) -> Awaitable[object]:
        return reset_destinations(
            conn, f"d.endpoint_id = $1 AND d.status = {MessageStatus.FAIL:d}", first.endpoint_id
        )

    async with _while_held(world.pool, first, recover_all) as recover:
        await asyncio.sleep(0.5)
        # Then, waiting for the first, it has not locked the second
        assert not recover.done()
        assert not await _is_locked(world.pool, second)
    assert len(recover.result()) == 2
