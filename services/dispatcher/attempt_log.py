"""The attempt log: attempts, destination statuses and endpoint health, group-committed.

Deliveries hand their consequences to ``record`` and wait; a background writer commits
everything that arrived in the last ``flush_seconds`` (or ``flush_rows`` entries) in one
transaction of three set-based statements, then wakes the waiters. A delivery's AMQP
message is acked only after that, so a crash never loses an attempt. When PostgreSQL
is away the writer retries with backoff and the waiters keep their messages unacked:
consumption stalls instead of POSTing without a record, and resumes with the first
commit that succeeds. No failure ends the writer (see ``shared.db.DATABASE_ERRORS`` for
the one a restart raises that is easy to miss).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from services.dispatcher.metrics import ENDPOINTS_DISABLED
from shared.db import DATABASE_ERRORS

log = structlog.get_logger()

_SLOW_COMMIT = 0.5  # seconds: every delivery in the batch held its prefetch slot meanwhile

# message_destination.status (the Svix SDK's MessageStatus).
SUCCESS, PENDING, FAIL, SENDING = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: str
    msg_id: str
    endpoint_id: str
    app_id: str
    url: str
    response: str
    response_status_code: int
    response_duration_ms: int
    status: int  # 0 success, 2 fail
    trigger_type: int
    attempt_number: int
    error: str | None
    created_at: datetime

    def values(self) -> tuple[object, ...]:
        return (
            self.id, self.msg_id, self.endpoint_id, self.app_id, self.url, self.response,
            self.response_status_code, self.response_duration_ms, self.status,
            self.trigger_type, self.attempt_number, self.error, self.created_at,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DestinationUpdate:
    msg_id: str
    endpoint_id: str
    status: int | None  # None: leave it (a deferral only moves next_attempt)
    next_attempt: datetime | None
    attempts: int  # 1 when an attempt was made, else 0


@dataclass(frozen=True, slots=True)
class Entry:
    destination: DestinationUpdate
    attempt: AttemptRow | None = None
    # The endpoint's health moved: True after a 2xx, False after a failed attempt.
    succeeded: bool | None = None


_INSERT_ATTEMPTS = """
INSERT INTO message_attempt (id, msg_id, endpoint_id, app_id, url, response, response_status_code,
    response_duration_ms, status, trigger_type, attempt_number, error, created_at)
SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::int[], $8::int[], $9::int2[], $10::int2[], $11::int[], $12::text[], $13::timestamptz[])
    AS u(id, msg_id, endpoint_id, app_id, url, response, code, ms, status, trig, num, error, at)
-- a message or endpoint deleted meanwhile has no attempts to keep
WHERE EXISTS (SELECT 1 FROM message m WHERE m.id = u.msg_id)
  AND EXISTS (SELECT 1 FROM endpoint e WHERE e.id = u.endpoint_id)
-- a batch whose commit was cut off after it succeeded is written again at shutdown
ON CONFLICT (id) DO NOTHING
"""

_UPDATE_DESTINATIONS = """
UPDATE message_destination d
SET status = coalesce(u.status, d.status), next_attempt = u.next_attempt,
    attempt_count = d.attempt_count + u.attempts, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::int2[], $4::timestamptz[], $5::int[])
    AS u(msg_id, endpoint_id, status, next_attempt, attempts)
WHERE d.msg_id = u.msg_id AND d.endpoint_id = u.endpoint_id
"""

# Only rows whose value changes are touched: each update fires the endpoint NOTIFY.
_HEALTHY = "UPDATE endpoint SET failing_since = NULL WHERE id = ANY($1::text[]) AND failing_since IS NOT NULL"
_FAILING = """
UPDATE endpoint e SET failing_since = u.since
FROM unnest($1::text[], $2::timestamptz[]) AS u(id, since)
WHERE e.id = u.id AND e.failing_since IS NULL
"""
_DISABLE = """
UPDATE endpoint SET disabled = true, updated_at = now(),
    disabled_reason = 'no successful delivery since ' || to_char(failing_since AT TIME ZONE 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' (HOOKLINE_DISABLE_AFTER)'
WHERE id = ANY($1::text[]) AND NOT disabled AND failing_since <= now() - $2::interval
RETURNING id, app_id, failing_since, disabled_reason
"""


def _merge_destinations(entries: list[Entry]) -> list[DestinationUpdate]:
    """One update per destination: the latest status, every attempt counted."""
    merged: dict[tuple[str, str], DestinationUpdate] = {}
    for entry in entries:
        d = entry.destination
        key = (d.msg_id, d.endpoint_id)
        previous = merged.get(key)
        if previous is not None:
            status = d.status if d.status is not None else previous.status
            d = DestinationUpdate(
                d.msg_id, d.endpoint_id, status, d.next_attempt, d.attempts + previous.attempts
            )
        merged[key] = d
    return sorted(merged.values(), key=lambda d: (d.msg_id, d.endpoint_id))  # one lock order


def _health(entries: list[Entry]) -> tuple[list[str], dict[str, datetime]]:
    """Endpoints whose last outcome in the batch was a success, and the others with the
    start of their failure run within the batch."""
    healthy: set[str] = set()
    failing: dict[str, datetime] = {}
    for entry in entries:
        if entry.succeeded is None or entry.attempt is None:
            continue
        endpoint_id = entry.attempt.endpoint_id
        if entry.succeeded:
            healthy.add(endpoint_id)
            failing.pop(endpoint_id, None)
        else:
            healthy.discard(endpoint_id)
            failing.setdefault(endpoint_id, entry.attempt.created_at)
    return sorted(healthy), failing


class AttemptLog:
    def __init__(
        self, pool: asyncpg.Pool, *, disable_after: float, flush_seconds: float, flush_rows: int
    ) -> None:
        self._pool, self._disable_after = pool, timedelta(seconds=disable_after)
        self._flush_seconds, self._flush_rows = flush_seconds, flush_rows
        self._pending: list[tuple[Entry, asyncio.Future[None] | None]] = []
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._flushing = asyncio.Lock()  # the writer and the final flush at shutdown
        self.healthy = True

    async def record(self, entry: Entry) -> None:
        """Return once the entry is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        self._arrived.set()
        if len(self._pending) >= self._flush_rows:
            self._full.set()
        # A caller cancelled while waiting cancels only its future: the entry stays in the
        # batch, and the writer skips futures that are done.
        await future

    def note(self, entry: Entry) -> None:
        """Queue an entry nobody waits for: it is committed with the next batch, and lost
        only if the process dies first (fit for facts the API shows, not for outcomes)."""
        self._pending.append((entry, None))
        self._arrived.set()
        if len(self._pending) >= self._flush_rows:
            self._full.set()

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            try:
                await asyncio.wait_for(self._full.wait(), self._flush_seconds)
            except TimeoutError:
                pass
            await self.flush()

    async def flush(self, *, attempts: int | None = None) -> None:
        """Commit what is pending, retrying until it succeeds (or ``attempts`` run out)."""
        async with self._flushing:
            await self._flush(attempts)

    async def _flush(self, attempts: int | None) -> None:
        delay, tries = 0.1, 0
        while self._pending:
            batch = self._pending[: self._flush_rows]
            started = time.perf_counter()
            try:
                await self._commit([entry for entry, _ in batch])
            except Exception as exc:
                # Whatever the failure, the writer stays: if it ended, every delivery
                # waiting in ``record`` would wait for good, holding its message unacked.
                self.healthy, tries = False, tries + 1
                if isinstance(exc, DATABASE_ERRORS):
                    log.warning("attempt log commit failed; retrying", error=repr(exc), rows=len(batch))
                else:
                    log.exception("attempt log commit failed unexpectedly; retrying", rows=len(batch))
                if attempts is not None and tries >= attempts:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.healthy = True
            took = time.perf_counter() - started
            if took > _SLOW_COMMIT:
                log.warning("attempt log commit was slow", seconds=round(took, 3), rows=len(batch))
            del self._pending[: len(batch)]
            for _, future in batch:
                if future is not None and not future.done():
                    future.set_result(None)
        self._arrived.clear()
        self._full.clear()

    async def _commit(self, entries: list[Entry]) -> None:
        attempts = [e.attempt for e in entries if e.attempt is not None]
        destinations = _merge_destinations(entries)
        healthy, failing = _health(entries)
        async with self._pool.acquire() as conn, conn.transaction():
            if attempts:
                columns = zip(*(a.values() for a in attempts), strict=True)
                await conn.execute(_INSERT_ATTEMPTS, *(list(c) for c in columns))
            await conn.execute(
                _UPDATE_DESTINATIONS,
                [d.msg_id for d in destinations],
                [d.endpoint_id for d in destinations],
                [d.status for d in destinations],
                [d.next_attempt for d in destinations],
                [d.attempts for d in destinations],
            )
            if healthy:
                await conn.execute(_HEALTHY, healthy)
            disabled = []
            if failing:
                ids = sorted(failing)
                await conn.execute(_FAILING, ids, [failing[i] for i in ids])
                disabled = await conn.fetch(_DISABLE, ids, self._disable_after)
        for row in disabled:
            ENDPOINTS_DISABLED.inc()
            log.warning(
                "endpoint disabled automatically",
                endpoint_id=row["id"],
                app_id=row["app_id"],
                failing_since=row["failing_since"].isoformat(),
                reason=row["disabled_reason"],
            )


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
