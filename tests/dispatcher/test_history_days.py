"""The attempt log, and ingest's published flags, find a delivery's message and destination
in the days around the message's time (shared/history_days.py), not in every day of
history: at the default retention there are about 98 daily partitions per table, and a
lookup by id alone probed them all, oldest first."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from services.dispatcher.attempt_log import (
    SUCCESS,
    AttemptLog,
    AttemptRow,
    DestinationUpdate,
    Entry,
    utc,
)
from services.dispatcher.attempt_sql import INSERT_ATTEMPTS, UPDATE_DESTINATIONS
from services.ingest.outbox import mark_published
from shared.history_days import batch_days
from shared.ids import new_id
from shared.signing import new_secret
from shared.tasks import DeliveryTask

PAST_DAYS = 40


async def with_history(pool) -> None:
    """Daily partitions for the last ``PAST_DAYS`` days, as retention keeps them."""
    today = datetime.now(UTC).date()
    for back in range(1, PAST_DAYS + 1):
        day = today - timedelta(days=back)
        for table in ("message", "message_destination", "message_attempt"):
            await pool.execute(
                f'CREATE TABLE IF NOT EXISTS "{table}_p{day:%Y%m%d}" PARTITION OF "{table}"'
                f" FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
            )


async def a_destination(pool, created_at: datetime) -> tuple[str, str, str]:
    app_id, endpoint_id, msg_id = new_id("app"), new_id("ep"), new_id("msg", created_at.timestamp())
    await pool.execute("INSERT INTO application (id, name) VALUES ($1, 'partitions')", app_id)
    await pool.execute(
        "INSERT INTO endpoint (id, app_id, url, secret) VALUES ($1, $2, 'http://127.0.0.1:9/', $3)",
        endpoint_id,
        app_id,
        new_secret(),
    )
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


async def test_a_message_made_in_a_days_last_millisecond_gets_its_attempt_and_outcome(db_pool):
    # Given a message created 0.4 ms before midnight, whose task carries its time rounded
    # to the millisecond: midnight, the next day's partition
    await with_history(db_pool)
    day = datetime.now(UTC).date() - timedelta(days=3)
    created = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, microseconds=-400)
    app_id, endpoint_id, msg_id = await a_destination(db_pool, created)
    task_time = round(created.timestamp() * 1000) / 1000
    assert utc(task_time).date() == day + timedelta(days=1)

    # When the attempt log writes its delivery
    log = AttemptLog(db_pool, disable_after=86400, flush_seconds=0.01, flush_rows=10)
    writer = asyncio.create_task(log.run())
    try:
        await asyncio.wait_for(log.record(delivered(app_id, endpoint_id, msg_id, task_time)), 10)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)

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


def partitions_searched(plan: list[str], table: str) -> set[str]:
    """The partitions of ``table`` a plan's EXPLAIN ANALYZE shows as having run."""
    pattern = re.compile(rf" on ({table}_p\d{{8}}) ")
    return {m.group(1) for line in plan if "never executed" not in line and (m := pattern.search(line))}


async def test_the_lookups_search_the_days_around_the_message_not_all_history(db_pool):
    # Given 40 days of partitions and a message of today
    await with_history(db_pool)
    now = datetime.now(UTC)
    app_id, endpoint_id, msg_id = await a_destination(db_pool, now)
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


async def test_ingests_published_flag_finds_a_destination_made_in_a_days_last_millisecond(db_pool):
    # Given the destination of a message made 0.4 ms before midnight, its task's time midnight
    await with_history(db_pool)
    day = datetime.now(UTC).date() - timedelta(days=2)
    created = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, microseconds=-400)
    app_id, endpoint_id, msg_id = await a_destination(db_pool, created)
    task = DeliveryTask(msg_id, app_id, endpoint_id, "t", round(created.timestamp() * 1000) / 1000, b"{}")
    # When ingest flags it published
    await mark_published(db_pool, [task])
    # Then it is
    assert await db_pool.fetchval("SELECT published FROM message_destination WHERE msg_id = $1", msg_id)
