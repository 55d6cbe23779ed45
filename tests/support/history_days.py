"""Forty days of daily history partitions for a test, and what to check of them: the
lookups that know a message's time must search only the days around it (shared/history_days.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.partitions import HISTORY_TABLES, Partition

PAST_DAYS = 40


@pytest.fixture
async def history(db_pool) -> AsyncIterator[None]:
    """Daily partitions for the last ``PAST_DAYS`` days, as retention keeps them. Those it
    made are dropped after the test (the database is the session's; yesterday's may be
    the migrations' own, made while it was today)."""
    today = datetime.now(UTC).date()
    wanted = [
        Partition(table, today - timedelta(days=back))
        for back in range(1, PAST_DAYS + 1)
        for table in HISTORY_TABLES
    ]
    existing = set(await db_pool.fetchval("SELECT array_agg(relname::text) FROM pg_class"))
    made = [part for part in wanted if part.name not in existing]
    for part in made:
        await db_pool.execute(
            f'CREATE TABLE "{part.name}" PARTITION OF "{part.table}"'
            f" FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
        )
    yield
    for part in made:
        await db_pool.execute(f'DROP TABLE "{part.name}"')


def just_before_midnight(days_ago: int) -> datetime:
    """0.4 ms before the end of that day: its task's time, to the millisecond, is the next day."""
    day = datetime.now(UTC).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, microseconds=-400)


def partitions_searched(plan: list[str], table: str) -> set[str]:
    """The partitions of ``table`` a plan's EXPLAIN ANALYZE shows as having run."""
    pattern = re.compile(rf" on ({table}_p\d{{8}}) ")
    return {m.group(1) for line in plan if "never executed" not in line and (m := pattern.search(line))}
