"""Where a delivery's rows are: the days around its message's time (pure SQL text).

The history tables are partitioned by day of ``created_at`` (migration 006), about 98
partitions each at the default retention. A row found by id alone is looked for in every
one of them, oldest first: with 90 days of history the dispatcher's attempt INSERT and
outcome UPDATE cost 70 and 96 us a row against 21 and 23 us on a fresh install (generic
plans, as the delivery path's pools run; 2026-12-04, docs/performance.md). The message's
time bounds the search, so PostgreSQL prunes partitions.

A day either side, not a millisecond, though a delivery task carries its message's time to
the millisecond: a task whose time were off would lose its attempt row or its outcome, so
the bound only has to keep out the other 95 days. Two bounds, because each prunes at a
different moment: the row's own (``NEAR_ITS_MESSAGE``) as each row is looked up; the
batch's (``IN_THE_BATCH``, from ``batch_days``: its earliest and latest message time, a day
wider) before the statement starts, which removes the other days' partitions from the plan
(the row's bound alone left their start-up to every execution: about half the cost).
"""

from __future__ import annotations

from datetime import datetime, timedelta

_DAY = timedelta(days=1)

NEAR_ITS_MESSAGE = "BETWEEN {at} - interval '1 day' AND {at} + interval '1 day'"
IN_THE_BATCH = "BETWEEN {lo}::timestamptz AND {hi}::timestamptz"


def batch_days(times: list[datetime]) -> tuple[datetime, datetime]:
    """The batch's bound on its messages' times (``IN_THE_BATCH``): a day either side."""
    return min(times) - _DAY, max(times) + _DAY
