"""The partition planner: what is made ahead and what is dropped past retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from shared.partitions import HISTORY_TABLES, Partition, parse_name, plan

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def _days(table: str, first: date, count: int) -> set[Partition]:
    return {Partition(table, first + timedelta(days=n)) for n in range(count)}


def test_an_empty_database_gets_today_and_the_days_ahead_for_every_table() -> None:
    result = plan(NOW, set(), retention_days=90, premake_days=7)
    assert result.drop == ()
    assert len(result.create) == 3 * 8
    for table in HISTORY_TABLES:
        assert {p.day for p in result.create if p.table == table} == {
            date(2026, 12, 3) + timedelta(days=n) for n in range(8)
        }


def test_existing_partitions_are_not_made_again() -> None:
    existing = {p for t in HISTORY_TABLES for p in _days(t, date(2026, 12, 3), 7)}
    result = plan(NOW, existing, retention_days=90, premake_days=7)
    assert result.create == tuple(Partition(t, date(2026, 12, 10)) for t in sorted(HISTORY_TABLES))


def test_a_day_is_dropped_only_once_all_of_it_is_past_retention() -> None:
    # 90 days before 2026-12-03 09:30 is 2026-09-04 09:30: 09-03 ended before it, 09-04 did not.
    existing = _days("message", date(2026, 9, 1), 5)
    result = plan(NOW, existing, retention_days=90, premake_days=0)
    assert [p.day for p in result.drop] == [date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3)]


def test_a_day_ending_exactly_at_the_cutoff_is_dropped() -> None:
    midnight = datetime(2026, 12, 3, tzinfo=UTC)
    day = Partition("message_attempt", date(2026, 12, 1))
    result = plan(midnight, {day}, retention_days=1, premake_days=0)
    assert result.drop == (day,)


def test_the_clock_is_read_in_utc() -> None:
    # 01:00 on Dec 4 in UTC+3 is still Dec 3 in UTC: no Dec 4 partition is "today".
    east = datetime(2026, 12, 4, 1, 0, tzinfo=timezone(timedelta(hours=3)))
    result = plan(east, set(), retention_days=90, premake_days=0)
    assert {p.day for p in result.create} == {date(2026, 12, 3)}


def test_names_round_trip_and_other_tables_are_ignored() -> None:
    part = Partition("message_destination", date(2026, 1, 31))
    assert part.name == "message_destination_p20260131"
    assert parse_name(part.name) == part
    assert part.end - part.start == timedelta(days=1)
    assert parse_name("message_p20261399") is None
    assert parse_name("endpoint_p20261203") is None
    assert parse_name("message") is None
