"""Ordered delivery: one lane per ordered endpoint, delivering its messages one at a time
in message-id order (docs/ordering.md).

The database is the lane's queue. Ingest commits an ordered endpoint's destinations and
publishes their tasks like any other's; a task reaching the dispatcher only wakes the
endpoint's lane (``wake``) and is acked, since its destination row, committed before the
task was published, is what the lane reads. The lane claims the endpoint's lease
(``services.dispatcher.lane_store``) and repeats: read the oldest undelivered
destinations, POST the first, commit its attempt, and only then go on. A failed attempt
keeps the message at the head: the lane sleeps until its retry is due (its
``next_attempt``, written with the attempt, so a lane taken over after a crash waits
the same), and what is behind it waits too, until it succeeds or is dead-lettered.

Why a lease and the database rather than a single-active-consumer queue per endpoint:
order must survive retries, which leave the queue for a delay tier and come back behind
everything published meanwhile; a queue per endpoint would mean a queue per tenant's
endpoint; and held prefetch slots would be taken from the unordered endpoints. Here an
ordered endpoint holds no prefetch slot and no connection while it waits.

Crashes: a process killed mid-POST has not committed the attempt, so its head is sent
again by whichever process takes the lease over once it expires (only the head: nothing
behind it was sent). A lane POSTs only while its lease is valid by its own clock, which
a renewal moves on every third of the lease; a lease it failed to renew ends the lane.

Each process's loop renews its leases, and sweeps for ordered endpoints with work whose
lease expired or was never taken (a task whose wake-up found the lease held by a process
that then ended), every third of the lease.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from contextlib import suppress

import asyncpg
import structlog

from services.dispatcher.lane import Lane, LaneParts
from services.dispatcher.lane_store import LaneStore
from services.dispatcher.metrics import ORDERED_LANES
from shared.db import DATABASE_ERRORS

log = structlog.get_logger()

# Re-exported: the composition root builds lanes from these.
__all__ = ["LaneParts", "OrderedLanes"]


class OrderedLanes:
    def __init__(self, store: LaneStore, parts: LaneParts) -> None:
        self.store, self.parts = store, parts
        self._lanes: dict[str, Lane] = {}
        self._claiming: dict[str, asyncio.Future[bool]] = {}
        self._stopped = asyncio.Event()
        self.stopping = False

    @classmethod
    def of(cls, pool: asyncpg.Pool, parts: LaneParts, *, lease_seconds: float) -> OrderedLanes:
        owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        return cls(LaneStore(pool, owner, lease_seconds), parts)

    async def wake(self, endpoint_id: str) -> None:
        """A task of an ordered endpoint arrived: make sure its lane runs somewhere. Returns
        once that is so (the task may then be acked); raises when it could not tell."""
        lane = self._lanes.get(endpoint_id)
        if lane is not None:
            lane.nudged = True
            return
        if self.stopping:
            raise ConnectionError("draining: the task goes back to the queue")
        pending = self._claiming.get(endpoint_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._claiming[endpoint_id] = pending
            try:
                won = await self.store.claim(endpoint_id)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()
                raise
            finally:
                self._claiming.pop(endpoint_id, None)
            if won:
                self._start(endpoint_id)
            pending.set_result(won)
            return
        await asyncio.shield(pending)
        # Not won: a live lane in another process, whose check before it ends sees this
        # task's destination (committed before the task was published).

    def _start(self, endpoint_id: str) -> None:
        if endpoint_id in self._lanes:
            return
        lane = self._lanes[endpoint_id] = Lane(self, endpoint_id)
        lane.task = asyncio.get_running_loop().create_task(lane.run(), name=f"lane {endpoint_id}")
        ORDERED_LANES.set(len(self._lanes))

    def ended(self, lane: Lane) -> None:
        if self._lanes.get(lane.endpoint_id) is lane:
            del self._lanes[lane.endpoint_id]
        ORDERED_LANES.set(len(self._lanes))

    async def sleep(self, seconds: float) -> None:
        """A lane's wait for its head's retry; cut short when the process drains."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    async def run(self) -> None:
        """Renew this process's leases and sweep for lanes nobody runs, every third of a
        lease; never ends (a failed round is logged and tried again)."""
        every = self.store.lease_seconds / 3
        while True:
            try:
                await self._renew()
                for endpoint_id in await self.store.orphaned():
                    if endpoint_id not in self._lanes and await self.store.claim(endpoint_id):
                        log.info("ordered lane taken over", endpoint_id=endpoint_id)
                        self._start(endpoint_id)
            except DATABASE_ERRORS as exc:
                log.warning("ordered lanes not renewed or swept", error=repr(exc))
            await asyncio.sleep(every)

    async def _renew(self) -> None:
        if not self._lanes:
            return
        started = time.monotonic()
        ids = list(self._lanes)
        kept = await self.store.renew(ids)
        for endpoint_id in ids:
            lane = self._lanes.get(endpoint_id)
            if lane is None:
                continue
            if endpoint_id in kept:
                lane.valid_until = started + self.store.lease_seconds * 0.9
            else:
                lane.valid_until = 0.0  # lost: it stops before its next POST

    async def drain(self, bound: float) -> None:
        """SIGTERM: lanes between a POST and its commit finish (within ``bound``), the
        others stop where they are; every lease is given up so another process goes on
        at once rather than after the lease expires."""
        self.stopping = True
        self._stopped.set()
        lanes = [lane for lane in self._lanes.values() if lane.task is not None]
        for lane in lanes:
            if not lane.posting:
                assert lane.task is not None
                lane.task.cancel()
        tasks = [lane.task for lane in lanes if lane.task is not None]
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=bound)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with suppress(*DATABASE_ERRORS):
            await self.store.release_all()
