"""The attempt log: attempts, destination statuses and endpoint health, group-committed.

Deliveries hand their consequences to ``record`` and wait; a background writer commits
what arrived within ``flush_seconds`` of the first entry (sooner once ``_ENOUGH_ROWS``
wait; at most ``flush_rows`` a commit) in one transaction of three set-based
statements, then wakes the waiters. A delivery's AMQP message is acked only after
that, so a crash never loses an attempt.

The wait costs a delivery only a prefetch slot (the POST came first), so the writer
lingers whatever the load: committing at once when idle meant commits of two or three rows
every few milliseconds at moderate load, much of PostgreSQL's share of a machine 85-97 %
busy (2026-12-04, docs/performance.md). An ``urgent`` entry is committed at once: an
ordered endpoint's lane waits for each attempt's commit before its next POST.

When PostgreSQL is away the writer retries with backoff and the waiters keep their
messages unacked: consumption stalls instead of POSTing without a record, and resumes
with the first commit that succeeds. No failure ends the writer (see
``shared.db.DATABASE_ERRORS`` for the one a restart raises that is easy to miss).

A batch the database refuses for its data (``services.dispatcher.refusals``) is never
retried as it is: it is split until the refused entry is alone, the others are written,
and that entry is written without its response, the refusal in its ``error``; refused
even so, it is given up and its waiter raises ``AttemptNotStored`` (the task goes back
to the queue). Text reaches the database through ``storable_text`` (no NUL, no lone
surrogate), whatever produced it.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from datetime import timedelta

import asyncpg
import structlog

from services.dispatcher import operational
from services.dispatcher.attempt_rows import (
    AttemptRow,
    DestinationUpdate,
    Entry,
    endpoint_health,
    merge_destinations,
    reduced_entry,
    utc,
)
from services.dispatcher.attempt_sql import (
    DISABLE,
    FAILING,
    HEALTHY,
    INSERT_ATTEMPTS,
    UPDATE_DESTINATIONS,
    UPDATE_ONE_DESTINATION,
)
from services.dispatcher.metrics import ATTEMPT_LOG_REFUSED, ENDPOINTS_DISABLED
from services.dispatcher.refusals import AttemptNotStored, database_away, refusal_reason
from services.dispatcher.unmatched import count_unmatched, rows
from shared.history_days import batch_days
from shared.status import MessageStatus

# message_destination.status, by the names the delivery code has always used.
SUCCESS, PENDING, FAIL, SENDING = (
    MessageStatus.SUCCESS, MessageStatus.PENDING, MessageStatus.FAIL, MessageStatus.SENDING,
)  # fmt: skip

log = structlog.get_logger()

# Rows that make a batch worth committing without lingering further: enough to amortize
# a commit's round trips, few enough that at ten tasks a message (ten endpoints) the
# lingering entries hold a small part of the prefetch window (200 by default).
_ENOUGH_ROWS = 32
_SLOW_COMMIT = 0.5  # seconds: every delivery in the batch held its prefetch slot meanwhile
_LOGGED_IDS = 50  # message ids named in a log line; the count says how many more

# Re-exported: the rows are written through this module.
__all__ = [
    "FAIL", "PENDING", "SENDING", "SUCCESS", "AttemptLog", "AttemptNotStored", "AttemptRow",
    "DestinationUpdate", "Entry", "utc",
]  # fmt: skip

_Pending = tuple[Entry, "asyncio.Future[None] | None"]


class AttemptLog:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        disable_after: float,
        flush_seconds: float,
        flush_rows: int,
    ) -> None:
        self._pool, self._disable_after = pool, timedelta(seconds=disable_after)
        self._flush_seconds, self._flush_rows = flush_seconds, flush_rows
        self._enough = min(_ENOUGH_ROWS, flush_rows)
        self._pending: list[_Pending] = []
        self._runner: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()  # enough entries, or an urgent one: commit now
        self._urgent: set[asyncio.Future[None]] = set()  # urgent waiters not yet answered
        self._flushing = asyncio.Lock()  # the writer and the final flush at shutdown
        self.healthy = True

    async def record(self, entry: Entry, *, urgent: bool = False) -> None:
        """Return once the entry is committed; ``urgent``: without lingering for others."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if urgent:
            self._urgent.add(future)
        self._add(entry, future)
        # A caller cancelled while waiting cancels only its future: the entry stays in the
        # batch, and the writer skips futures that are done.
        await future

    def note(self, entry: Entry) -> None:
        """Queue an entry nobody waits for: it is committed with the next batch, and lost
        only if the process dies first (fit for facts the API shows, not for outcomes)."""
        self._add(entry, None)

    def _add(self, entry: Entry, future: asyncio.Future[None] | None) -> None:
        self._pending.append((entry, future))
        self._arrived.set()
        if self._urgent or len(self._pending) >= self._enough:
            self._full.set()

    async def run(self) -> None:
        """Commit ``flush_seconds`` after the first entry arrives, or sooner when enough
        rows wait or an entry is urgent (at most ``flush_rows`` a commit)."""
        self._runner = asyncio.current_task()
        while True:
            await self._arrived.wait()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._flush_seconds)
            # One batch a turn: what arrived during the commit lingers in its turn too.
            # Draining everything at once meant, at a steady few entries per commit time,
            # a commit of one to three rows straight after each commit.
            async with self._flushing:
                await self._flush(None, one_batch=True)

    async def flush(self, *, attempts: int | None = None) -> None:
        """Commit what is pending, retrying while the database is away (until ``attempts``
        run out); entries it refuses are written reduced or given up, never retried."""
        async with self._flushing:
            await self._flush(attempts)

    async def close(self, within: float) -> None:
        """At shutdown: stop the writer, whose retrying while the database is away would
        hold the flush lock for good, and write what is pending for at most ``within``
        seconds. What is left is logged; its deliveries were not acked (their waiters
        were cancelled by the drain), so the broker delivers them again."""
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with suppress(asyncio.CancelledError):
                await self._runner
        with suppress(TimeoutError):
            await asyncio.wait_for(self.flush(attempts=3), max(within, 0.1))
        if self._pending:
            ids = sorted({e.destination.msg_id for e, _ in self._pending})
            log.error(
                "attempt log entries not written at shutdown; their tasks stay unacked",
                entries=len(self._pending),
                msg_ids=ids[:_LOGGED_IDS],
                more_msg_ids=max(0, len(ids) - _LOGGED_IDS),
            )
            for _, future in self._pending:
                if future is not None and not future.done():
                    future.set_exception(AttemptNotStored("shutdown before the database took it"))

    async def _flush(self, attempts: int | None, *, one_batch: bool = False) -> None:
        delay, tries = 0.1, 0
        while self._pending:
            batch = self._pending[: self._flush_rows]
            started = time.perf_counter()
            try:
                await self._write(batch)
            except Exception as exc:  # only "database away" errors get out of ``_write``
                # Whatever the failure, the writer stays: if it ended, every delivery
                # waiting in ``record`` would wait for good, holding its message unacked.
                self.healthy, tries = False, tries + 1
                log.warning("attempt log commit failed; retrying", error=repr(exc), rows=len(batch))
                if attempts is not None and tries >= attempts:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.healthy = True
            took = time.perf_counter() - started
            if took > _SLOW_COMMIT:
                log.warning("attempt log commit was slow", seconds=round(took, 3), rows=len(batch))
            if one_batch:
                break
        if not self._pending:
            self._arrived.clear()
        if self._pending and (self._urgent or len(self._pending) >= self._enough):
            self._full.set()
        else:
            self._full.clear()

    async def _write(self, batch: list[_Pending]) -> None:
        """Commit ``batch``, splitting it around entries the database refuses so that the
        others are written. Raises only when the database is away. Each part written (or
        given up) leaves the front of ``_pending``: batches are its prefix, written in order."""
        try:
            await self._commit([entry for entry, _ in batch])
        except Exception as exc:
            if database_away(exc):
                raise
            if len(batch) == 1:
                await self._write_reduced(batch[0], exc)
            else:
                half = len(batch) // 2
                await self._write(batch[:half])
                await self._write(batch[half:])
            return
        self._done(batch)

    async def _write_reduced(self, item: _Pending, refusal: Exception) -> None:
        entry, _ = item
        reason = refusal_reason(refusal)
        if entry.attempt is not None:
            reduced = reduced_entry(entry, reason)
            try:
                await self._commit([reduced])
            except Exception as exc:
                if database_away(exc):
                    raise
                if (again := refusal_reason(exc)) != reason:
                    reason = f"{reason}; reduced form: {again}"
            else:
                ATTEMPT_LOG_REFUSED.labels("reduced").inc()
                log.warning(
                    "attempt stored without its response",
                    msg_id=entry.destination.msg_id,
                    endpoint_id=entry.destination.endpoint_id,
                    reason=reason,
                )
                self._done([item])
                return
        ATTEMPT_LOG_REFUSED.labels("dropped").inc()
        log.error(
            "attempt log entry refused by the database in every form; its task is requeued",
            msg_id=entry.destination.msg_id,
            endpoint_id=entry.destination.endpoint_id,
            reason=reason,
        )
        self._done([item], AttemptNotStored(reason))

    def _done(self, part: list[_Pending], error: Exception | None = None) -> None:
        assert self._pending[0] is part[0], "attempt log parts are written in order"
        del self._pending[: len(part)]
        for _, future in part:
            if future is None:
                continue
            self._urgent.discard(future)
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def _commit(self, entries: list[Entry]) -> None:
        attempts = [e.attempt for e in entries if e.attempt is not None]
        destinations = merge_destinations(entries)
        healthy, failing = endpoint_health(entries)
        inserted = 0
        async with self._pool.acquire() as conn, conn.transaction():
            if attempts:
                columns = (list(c) for c in zip(*(a.values() for a in attempts), strict=True))
                days = batch_days([a.msg_created_at for a in attempts])
                inserted = rows(await conn.execute(INSERT_ATTEMPTS, *columns, *days))
            msg_times = [d.msg_created_at for d in destinations]
            updated = await conn.execute(
                UPDATE_DESTINATIONS if len(destinations) > 1 else UPDATE_ONE_DESTINATION,
                [d.msg_id for d in destinations],
                [d.endpoint_id for d in destinations],
                [d.status for d in destinations],
                [d.next_attempt for d in destinations],
                [d.attempts for d in destinations],
                msg_times,
                *batch_days(msg_times),
            )
            if healthy:
                await conn.execute(HEALTHY, healthy)
            disabled = []
            if failing:
                ids = sorted(failing)
                await conn.execute(FAILING, ids, [failing[i] for i in ids])
                disabled = await conn.fetch(DISABLE, ids, self._disable_after)
            # In this transaction: an event exists if and only if its outcome does.
            await operational.report(conn, entries, disabled)
        count_unmatched(len(attempts) - inserted, len(destinations) - rows(updated))
        for row in disabled:
            ENDPOINTS_DISABLED.inc()
            log.warning(
                "endpoint disabled automatically",
                endpoint_id=row["id"],
                app_id=row["app_id"],
                failing_since=row["failing_since"].isoformat(),
                reason=row["disabled_reason"],
            )
