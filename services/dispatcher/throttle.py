"""``throttleRate`` across every dispatcher process: time slots reserved in PostgreSQL.

Each throttled endpoint has one row in ``endpoint_throttle`` holding the earliest
time the next POST may start (GCRA, PostgreSQL's clock). A process that needs to
send reserves a few consecutive slots in one ``UPDATE`` — at most a quarter second's
worth — and sleeps until each. The row is the single schedule all processes and
replicas share, so together they never exceed the rate, and the database sees one
round trip per batch of slots, not one per delivery. Only endpoints with a
``throttleRate`` pay for this. If PostgreSQL does not answer, a process falls back
to pacing alone at the full rate until it does (logged).

The throttle is a delivery policy (``services.dispatcher.policy``): it never holds a
task back, its permit waits for the task's time slot.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field

import asyncpg
import structlog

from services.dispatcher.endpoints import Endpoint
from services.dispatcher.policy import FREE, Permit
from shared.db import DATABASE_ERRORS

log = structlog.get_logger()

_RESERVE = """
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
INSERT INTO endpoint_throttle AS e (endpoint_id, next_slot)
SELECT $1, clock.now + $2::float8 / $3::float8 FROM clock
ON CONFLICT (endpoint_id) DO UPDATE
SET next_slot = greatest(e.next_slot, (SELECT now FROM clock)) + $2::float8 / $3::float8
RETURNING e.next_slot - $2::float8 / $3::float8 AS first_slot, (SELECT now FROM clock) AS db_now
"""

# A reserved slot this far in the past is dropped rather than used late (a burst).
_STALE = 1.0


@dataclass(slots=True)
class _Schedule:
    slots: deque[float] = field(default_factory=deque)  # loop.time() of each reserved slot
    waiters: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    local_next: float = 0.0


class Throttle:
    def __init__(self, pool: asyncpg.Pool, *, batch_seconds: float = 0.25) -> None:
        self._pool, self._batch_seconds = pool, batch_seconds
        self._schedules: dict[str, _Schedule] = {}

    async def wait(self, endpoint_id: str, rate: int) -> None:
        """Return when this process may start one POST to the endpoint."""
        loop = asyncio.get_running_loop()
        schedule = self._schedules.setdefault(endpoint_id, _Schedule())
        schedule.waiters += 1
        try:
            async with schedule.lock:  # FIFO: waiters take slots in arrival order
                while schedule.slots and schedule.slots[0] < loop.time() - _STALE:
                    schedule.slots.popleft()
                if not schedule.slots:
                    await self._reserve(endpoint_id, rate, schedule)
                slot = schedule.slots.popleft()
            delay = slot - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            schedule.waiters -= 1
            if not schedule.waiters and not schedule.slots:
                self._schedules.pop(endpoint_id, None)

    async def _reserve(self, endpoint_id: str, rate: int, schedule: _Schedule) -> None:
        loop = asyncio.get_running_loop()
        count = max(1, min(schedule.waiters, math.ceil(rate * self._batch_seconds)))
        try:
            row = await self._pool.fetchrow(_RESERVE, endpoint_id, count, rate, timeout=5)
        except DATABASE_ERRORS as exc:
            log.warning("throttle schedule unavailable; pacing locally", error=repr(exc))
            start = max(loop.time(), schedule.local_next)
            schedule.local_next = start + 1 / rate
            schedule.slots.append(start)
            return
        offset = loop.time() - row["db_now"]
        first = row["first_slot"] + offset
        schedule.slots.extend(first + i / rate for i in range(count))

    # The delivery policy (services.dispatcher.policy).

    def hold(self, endpoint_id: str) -> None:
        return None

    def permit(self, endpoint: Endpoint) -> Permit:
        return _SlotWait(self, endpoint.id, endpoint.throttle_rate) if endpoint.throttle_rate else FREE


class _SlotWait(Permit):
    __slots__ = ("_endpoint_id", "_rate", "_throttle")
    waits = True

    def __init__(self, throttle: Throttle, endpoint_id: str, rate: int) -> None:
        self.hold = None
        self._throttle, self._endpoint_id, self._rate = throttle, endpoint_id, rate

    async def wait(self) -> None:
        await self._throttle.wait(self._endpoint_id, self._rate)
