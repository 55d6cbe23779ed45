"""Daily partitions of the history tables: which to make and which to drop (pure).

``message``, ``message_destination`` and ``message_attempt`` are range-partitioned by
``created_at``, one partition per UTC day named ``<table>_pYYYYMMDD`` (migration 006).
Native partitioning kept by this planner instead of pg_partman: no extension for CI,
``make services`` or the Kubernetes database image to carry, and the whole policy is
the two rules below, testable without a database. ``services/ingest/retention.py``
runs the plan.

* made ahead: a partition for today and each of the next ``premake_days`` days, so an
  insert never finds no partition while ingest is down for less than that;
* dropped: a day whose last instant is more than ``retention_days`` before ``now``,
  i.e. whose every row is past retention. Dropping is a catalog change, not a DELETE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

HISTORY_TABLES = ("message", "message_destination", "message_attempt")

_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")


@dataclass(frozen=True, order=True)
class Partition:
    table: str
    day: date

    @property
    def name(self) -> str:
        return f"{self.table}_p{self.day:%Y%m%d}"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, time(), UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)


@dataclass(frozen=True)
class Plan:
    create: tuple[Partition, ...]
    drop: tuple[Partition, ...]


def parse_name(name: str) -> Partition | None:
    """The partition a table name stands for; None for any other table."""
    found = _NAME.match(name)
    if found is None or found["table"] not in HISTORY_TABLES:
        return None
    try:
        day = datetime.strptime(found["day"], "%Y%m%d").date()
    except ValueError:
        return None
    return Partition(found["table"], day)


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Rows created before this are past retention."""
    return now - timedelta(days=retention_days)


def plan(now: datetime, existing: set[Partition], *, retention_days: int, premake_days: int) -> Plan:
    """The partitions to make (today and ``premake_days`` ahead, for each table) and the
    existing ones to drop (wholly before the retention cutoff), both in day order."""
    today = now.astimezone(UTC).date()
    wanted = {
        Partition(table, today + timedelta(days=n))
        for table in HISTORY_TABLES
        for n in range(premake_days + 1)
    }
    cutoff = retention_cutoff(now, retention_days)
    # Never drop what the same plan makes (a retention shorter than a day is refused
    # by the settings, but the rule should not depend on it).
    drop = {p for p in existing if p.end <= cutoff and p not in wanted}
    return Plan(create=tuple(sorted(wanted - existing)), drop=tuple(sorted(drop)))
