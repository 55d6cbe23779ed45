"""The attempt log, and ingest's published flags, find a delivery's message and destination
in the days around the message's time (shared/history_days.py), not in every day of
history: at the default retention there are about 98 daily partitions per table, and a
lookup by id alone probed them all, oldest first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from services.dispatcher.attempt_log import (
    SUCCESS,
    AttemptLog,
    AttemptRow,
    DestinationUpdate,
    Entry,
    utc,
)
from services.dispatcher.attempt_sql import INSERT_ATTEMPTS, UPDATE_DESTINATIONS
from services.ingest.outbox import Published, mark_published
from shared.history_days import batch_days
from shared.ids import new_id
from shared.tasks import DeliveryTask
from tests.support.history_days import just_before_midnight, partitions_searched


async def a_destination(world, created_at: datetime) -> tuple[str, str, str]:
    endpoint = await world.endpoint("http://127.0.0.1:9/")
    app_id, endpoint_id, msg_id = world.app_id, endpoint.id, new_id("msg", created_at.timestamp())
    pool = world.pool
    await pool.execute(
        "INSERT INTO message (id, app_id, event_type, payload, created_at) VALUES ($1, $2, 't', '{}', $3)",
        msg_id,
        app_id,
        created_at,
    )
    await pool.execute(
        "INSERT INTO message_destination (msg_id, endpoint_id, app_id, created_at) VALUES ($1, $2, $3, $4)",
        msg_id,
        endpoint_id,
        app_id,
        created_at,
    )
    return app_id, endpoint_id, msg_id


def delivered(app_id: str, endpoint_id: str, msg_id: str, task_time: float) -> Entry:
    """A 2xx for the task as the dispatcher holds it: the message's time to the millisecond."""
    now = datetime.now(UTC)
    attempt = AttemptRow(
        id=new_id("atmpt"), msg_id=msg_id, endpoint_id=endpoint_id, app_id=app_id, url="http://127.0.0.1:9/",
        response="ok", response_status_code=204, response_duration_ms=2, status=SUCCESS, trigger_type=0,
        attempt_number=1, error=None, created_at=now, msg_created_at=utc(task_time), event_type="t",
    )  # fmt: skip
    update = DestinationUpdate(msg_id, endpoint_id, SUCCESS, None, 1, utc(task_time))
    return Entry(update, attempt, True)


async def record(pool, *entries: Entry) -> None:
    """``entries`` through the attempt log, committed in one batch."""
    log = AttemptLog(pool, disable_after=86400, flush_seconds=0.05, flush_rows=len(entries))
    writer = asyncio.create_task(log.run())
    try:
        await asyncio.wait_for(asyncio.gather(*(log.record(e) for e in entries)), 10)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


async def test_a_message_made_in_a_days_last_millisecond_gets_its_attempt_and_outcome(
    world, db_pool, history
):
    # Given a message created 0.4 ms before midnight, whose task carries its time rounded
    # to the millisecond: midnight, the next day's partition
    created = just_before_midnight(3)
    day = created.date()
    app_id, endpoint_id, msg_id = await a_destination(world, created)
    task_time = round(created.timestamp() * 1000) / 1000
    assert utc(task_time).date() == day + timedelta(days=1)

    # When the attempt log writes its delivery
    await record(db_pool, delivered(app_id, endpoint_id, msg_id, task_time))

    # Then the attempt is stored and the destination delivered, in the message's own day
    assert await db_pool.fetchval("SELECT count(*) FROM message_attempt WHERE msg_id = $1", msg_id) == 1
    row = await db_pool.fetchrow(
        "SELECT status, attempt_count, tableoid::regclass::text AS part"
        " FROM message_destination WHERE msg_id = $1",
        msg_id,
    )
    assert (row["status"], row["attempt_count"], row["part"]) == (
        SUCCESS,
        1,
        f"message_destination_p{day:%Y%m%d}",
    )


async def test_one_batch_of_messages_days_and_weeks_apart_gets_every_attempt_and_outcome(
    world, db_pool, history
):
    # Given destinations of a message made just before a midnight 3 days ago, one 30 days
    # old and one of now
    times = [just_before_midnight(3), datetime.now(UTC) - timedelta(days=30), datetime.now(UTC)]
    made = [await a_destination(world, at) for at in times]
    # When the attempt log writes their deliveries in one batch
    await record(
        db_pool,
        *(delivered(*ids, round(at.timestamp() * 1000) / 1000) for ids, at in zip(made, times, strict=True)),
    )
    # Then each has its attempt and its outcome
    for _, _, msg_id in made:
        assert await db_pool.fetchval("SELECT count(*) FROM message_attempt WHERE msg_id = $1", msg_id) == 1
        row = await db_pool.fetchrow(
            "SELECT status, attempt_count FROM message_destination WHERE msg_id = $1", msg_id
        )
        assert (row["status"], row["attempt_count"]) == (SUCCESS, 1)


async def test_the_lookups_search_the_days_around_the_message_not_all_history(world, db_pool, history):
    # Given 40 days of partitions and a message of today
    now = datetime.now(UTC)
    app_id, endpoint_id, msg_id = await a_destination(world, now)
    entry = delivered(app_id, endpoint_id, msg_id, round(now.timestamp() * 1000) / 1000)
    window = batch_days([entry.destination.msg_created_at])
    async with db_pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = force_generic_plan")  # as the dispatcher's pool
        # When the attempt's INSERT and the outcome's UPDATE run, explained
        columns = [[value] for value in entry.attempt.values()]
        insert = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {INSERT_ATTEMPTS}", *columns, *window)
        d = entry.destination
        outcome = [
            [d.msg_id],
            [d.endpoint_id],
            [d.status],
            [d.next_attempt],
            [d.attempts],
            [d.msg_created_at],
        ]
        update = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {UPDATE_DESTINATIONS}", *outcome, *window)
    # Then each looks in the message's day and the day either side, not in the 40 before
    days = [now.date() + timedelta(days=n) for n in (-1, 0, 1)]
    searched = partitions_searched([r[0] for r in insert], "message")
    assert f"message_p{now:%Y%m%d}" in searched
    assert searched <= {f"message_p{day:%Y%m%d}" for day in days}
    searched = partitions_searched([r[0] for r in update], "message_destination")
    assert f"message_destination_p{now:%Y%m%d}" in searched
    assert searched <= {f"message_destination_p{day:%Y%m%d}" for day in days}
    assert await db_pool.fetchval("SELECT count(*) FROM message_attempt WHERE msg_id = $1", msg_id) == 1


async def test_ingests_published_flag_finds_a_destination_made_in_a_days_last_millisecond(
    world, db_pool, history
):
    # Given the destination of a message made 0.4 ms before midnight, its task's time midnight
    created = just_before_midnight(2)
    app_id, endpoint_id, msg_id = await a_destination(world, created)
    task = DeliveryTask(msg_id, app_id, endpoint_id, "t", round(created.timestamp() * 1000) / 1000, b"{}")
    # When ingest flags it published
    await mark_published(db_pool, [Published.of(task)])
    # Then it is
    assert await db_pool.fetchval("SELECT published FROM message_destination WHERE msg_id = $1", msg_id)


def unmatched(row: str) -> float:
    return REGISTRY.get_sample_value("hookline_attempt_log_unmatched_total", {"row": row}) or 0.0


async def test_a_delivery_whose_time_is_days_off_its_messages_is_counted_not_written(world, db_pool, history):
    # Given a message of 10 days ago and one of now, and a task of the old one that carries
    # a time 3 days later than its message's (a plausible time, but not its message's)
    old, now = datetime.now(UTC) - timedelta(days=10), datetime.now(UTC)
    stray, fine = await a_destination(world, old), await a_destination(world, now)
    before = unmatched("attempt"), unmatched("outcome")
    # When the attempt log writes both deliveries in one batch
    await record(
        db_pool,
        delivered(*stray, (old + timedelta(days=3)).timestamp()),
        delivered(*fine, round(now.timestamp() * 1000) / 1000),
    )
    # Then the one of now is written, and the stray one is not, but counted
    for (_, _, msg_id), written in ((fine, 1), (stray, 0)):
        count = await db_pool.fetchval("SELECT count(*) FROM message_attempt WHERE msg_id = $1", msg_id)
        attempts = await db_pool.fetchval(
            "SELECT attempt_count FROM message_destination WHERE msg_id = $1", msg_id
        )
        assert (count, attempts) == (written, written)
    assert (unmatched("attempt"), unmatched("outcome")) == (before[0] + 1, before[1] + 1)
