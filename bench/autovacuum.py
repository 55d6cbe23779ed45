"""Autovacuum's rules, applied by the benchmark when the server has autovacuum off.

These machines run PostgreSQL with ``autovacuum = off``; production runs it on (the
default). Without it the benchmark database never gets statistics, and the planner,
which then assumes 200 distinct values per column, plans the dispatcher's attempt log
and ingest's published flags (set-based statements joining an array of message ids)
as hash joins over whole partitions. Measured at half load, 1 endpoint: 1.4 million
rows read per second and PostgreSQL at 0.65-0.7 of a core; with statistics in place,
10 thousand rows and 0.4-0.45 of a core. A benchmark without statistics measures a
database nobody runs.

So ``StandInAutovacuum`` does what the autovacuum daemon would: every second it reads
``pg_stat_user_tables`` and analyzes (or vacuums) each table past the server's own
thresholds (``autovacuum_analyze_threshold`` + ``autovacuum_analyze_scale_factor`` x
rows, and the vacuum and insert-vacuum pairs).

How often matters as much. The daemon visits a database once per ``autovacuum_naptime``
(a minute), so a table is processed at most once a minute. A benchmark phase lasts ten
seconds on a database made minutes ago, where a production database's tables have long
had their statistics; so a table still young (more than twice the rows its statistics
say) is processed as soon as it is due, and a grown one at most once per naptime, as
the daemon would. Looking every second with no such limit, the stand-in analyzed the
day's destination and attempt partitions every 2-3 s at half load (each ANALYZE about
250 ms of PostgreSQL CPU on a 2-core machine): 20-30 times what the daemon does, and
the cause of the failing-endpoint latency variant's 100-200 ms tail (sampled from
``pg_stat_activity`` on 2026-12-04; docs/performance.md). It paces its work as the daemon's workers do
(``autovacuum_vacuum_cost_delay`` and ``_limit``): unpaced, the 202's p99 at 1,300
messages/s rose from 18-37 ms to 38-85 ms while a VACUUM ran. And it vacuums in one
process as they do: a manual VACUUM of a table with two or more indexes over
``min_parallel_index_scan_size`` starts parallel workers (up to
``max_parallel_maintenance_workers``), which the stand-in did three to eight times in each
latency run, each a fork taking a core beside the measured stack, where the daemon (before
PostgreSQL 19) starts none. ``PARALLEL`` needs PostgreSQL 13 or later. With autovacuum on, it does nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import asyncpg
import structlog

log = structlog.get_logger()

_THRESHOLDS = """
SELECT current_setting('autovacuum')::bool AS on,
       current_setting('autovacuum_analyze_threshold')::float8 AS analyze_base,
       current_setting('autovacuum_analyze_scale_factor')::float8 AS analyze_scale,
       current_setting('autovacuum_vacuum_threshold')::float8 AS vacuum_base,
       current_setting('autovacuum_vacuum_scale_factor')::float8 AS vacuum_scale,
       current_setting('autovacuum_vacuum_insert_threshold')::float8 AS insert_base,
       current_setting('autovacuum_vacuum_insert_scale_factor')::float8 AS insert_scale,
       extract(epoch FROM current_setting('autovacuum_naptime')::interval) AS naptime
"""

_PACED_AS_THE_DAEMON = """
SELECT set_config('vacuum_cost_delay', CASE current_setting('autovacuum_vacuum_cost_delay')
           WHEN '-1' THEN current_setting('vacuum_cost_delay')
           ELSE current_setting('autovacuum_vacuum_cost_delay') END, false),
       set_config('vacuum_cost_limit', CASE current_setting('autovacuum_vacuum_cost_limit')
           WHEN '-1' THEN current_setting('vacuum_cost_limit')
           ELSE current_setting('autovacuum_vacuum_cost_limit') END, false)
"""

_DUE_ARGUMENTS = (
    "analyze_base", "analyze_scale", "vacuum_base", "vacuum_scale", "insert_base", "insert_scale",
)  # fmt: skip

# Leaf tables only: the daemon does not process partitioned parents either.
_DUE = """
SELECT format('%I.%I', s.schemaname, s.relname) AS name,
       s.n_dead_tup > $3 + $4 * t.rows OR s.n_ins_since_vacuum > $5 + $6 * t.rows AS vacuum,
       s.n_mod_since_analyze > $1 + $2 * t.rows AS analyze,
       s.n_live_tup > 2 * t.rows AS young
FROM pg_stat_user_tables s
JOIN LATERAL (SELECT greatest(c.reltuples, 0) AS rows FROM pg_class c WHERE c.oid = s.relid) t ON true
WHERE s.n_dead_tup > $3 + $4 * t.rows OR s.n_ins_since_vacuum > $5 + $6 * t.rows
   OR s.n_mod_since_analyze > $1 + $2 * t.rows
"""


def is_due_again(young: bool, last: float | None, now: float, naptime: float) -> bool:
    """Whether a table past its thresholds is processed now: at once while young or never
    processed, else not within ``naptime`` of its last processing (the daemon's pace)."""
    return young or last is None or now - last >= naptime


class StandInAutovacuum:
    def __init__(self, dsn: str, interval: float = 1.0) -> None:
        self._dsn, self._interval = dsn, interval
        self.runs = {"analyze": 0, "vacuum": 0}
        self._last: dict[str, float] = {}  # table -> when it was last processed (monotonic)
        self._connection: asyncpg.Connection | None = None
        self._args: list[float] = []
        self._naptime = 0.0
        self._ready = asyncio.Event()  # set once connected (or found that autovacuum is on)
        self._lock = asyncio.Lock()  # one statement at a time on the one connection

    async def run(self) -> None:
        try:
            connection = await asyncpg.connect(self._dsn)
        finally:
            self._ready.set()  # on failure too: ``catch_up`` then finds no connection
        try:
            limits = await connection.fetchrow(_THRESHOLDS)
            if limits["on"]:
                return
            # The daemon's workers pace their reads and writes (2 ms of sleep per 200 pages'
            # worth of cost, by default); a manual VACUUM or ANALYZE does not pace at all.
            await connection.execute(_PACED_AS_THE_DAEMON)
            self._args = [limits[k] for k in _DUE_ARGUMENTS]
            self._naptime, self._connection = float(limits["naptime"]), connection
            self._ready.set()
            while True:
                await self._pass(every_due=False)
                await asyncio.sleep(self._interval)
        finally:
            self._ready.set()
            self._connection = None
            await connection.close()

    async def catch_up(self) -> None:
        """Process every table past its thresholds now, whatever the naptime: called before
        a measured phase, so that its tables start it as a long-running database's would
        (statistics current, no pass due), and the daemon's pace applies within it."""
        await self._ready.wait()
        await self._pass(every_due=True)

    async def _pass(self, *, every_due: bool) -> None:
        async with self._lock:
            if self._connection is None:
                return
            for table in await self._connection.fetch(_DUE, *self._args):
                last = self._last.get(table["name"])
                if every_due or is_due_again(table["young"], last, time.monotonic(), self._naptime):
                    await self._process(self._connection, table)
                    self._last[table["name"]] = time.monotonic()

    async def _process(self, connection: asyncpg.Connection, table: asyncpg.Record) -> None:
        # PARALLEL 0: a manual VACUUM hands a table's indexes to parallel workers, started
        # for each run; the daemon's workers vacuum alone (before PostgreSQL 19).
        what = {
            (True, True): "VACUUM (ANALYZE, PARALLEL 0)",
            (True, False): "VACUUM (PARALLEL 0)",
            (False, True): "ANALYZE",
        }[(table["vacuum"], table["analyze"])]
        try:
            await connection.execute(f"{what} {table['name']}")
        except asyncpg.PostgresError as exc:  # a partition dropped meanwhile, say
            log.warning("stand-in autovacuum skipped a table", table=table["name"], error=str(exc))
            return
        for kind in ("vacuum", "analyze"):
            self.runs[kind] += bool(table[kind])


_running: list[StandInAutovacuum] = []  # the stand-in of the current benchmark, if any


async def catch_up() -> None:
    """``StandInAutovacuum.catch_up`` on the running stand-in (nothing without one)."""
    for stand_in in _running:
        await stand_in.catch_up()


@asynccontextmanager
async def autovacuum_stand_in(dsn: str) -> AsyncIterator[StandInAutovacuum]:
    """Runs the stand-in for the duration of the block (a no-op with autovacuum on)."""
    stand_in = StandInAutovacuum(dsn)
    task = asyncio.create_task(stand_in.run())
    _running.append(stand_in)
    try:
        yield stand_in
    finally:
        _running.remove(stand_in)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
