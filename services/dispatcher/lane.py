"""One ordered endpoint's lane: read the heads, POST the first, commit, go on.

``services.dispatcher.lanes`` says why lanes exist and who runs them; this module is one
lane's loop. A failed attempt keeps its message at the head: the lane sleeps until its
retry is due (``next_attempt``, committed with the attempt, so a lane taken over after
a crash waits the same) and sends nothing behind it meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

import aiormq.exceptions
import structlog

from services.dispatcher.attempt_log import (
    FAIL,
    SENDING,
    SUCCESS,
    AttemptLog,
    AttemptNotStored,
    DestinationUpdate,
    Entry,
    utc,
)
from services.dispatcher.decide import Rules, after_send, endpoint_state
from services.dispatcher.delivery import Attempted
from services.dispatcher.endpoints import Endpoint, EndpointCache
from services.dispatcher.lane_rules import Head, Send, Settle, Stop, Wait, head_step
from services.dispatcher.lane_store import LaneStore
from services.dispatcher.metrics import ATTEMPT_DURATION
from services.dispatcher.outcomes import attempt_row, count_attempt, dead_reason
from services.dispatcher.policy import Policy
from services.dispatcher.publisher import TaskPublisher
from services.dispatcher.sender import Sender
from shared.backoff import DeadLetter, Delivered, RetryIn, shortest_tier
from shared.db import DATABASE_ERRORS
from shared.logging import WORK
from shared.status import MessageStatus

log = structlog.get_logger()

_HEADS_READ = 100  # destinations read per query; the head is re-read after each retry
_ERROR_PAUSE = 1.0  # seconds before a lane retries after a database or broker error
# The database or the broker (a dead letter's publish) away: the lane pauses, then goes on.
_PAUSING = (*DATABASE_ERRORS, aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError)


@dataclass(frozen=True, slots=True)
class LaneParts:
    """What a lane delivers with: the same cache, sender, rules, log and publisher as the
    unordered path."""

    cache: EndpointCache
    sender: Sender
    rules: Rules
    attempt_log: AttemptLog
    publisher: TaskPublisher
    throttle: Policy  # the endpoint's throttleRate, shared with every process


class LaneHost(Protocol):
    """What a lane needs of the process's lanes (``services.dispatcher.lanes.OrderedLanes``)."""

    store: LaneStore
    parts: LaneParts
    stopping: bool

    async def sleep(self, seconds: float) -> None: ...

    def ended(self, lane: Lane) -> None: ...


class _LeaseLost(Exception):
    pass


class Lane:
    def __init__(self, lanes: LaneHost, endpoint_id: str) -> None:
        self._lanes, self.endpoint_id = lanes, endpoint_id
        self.valid_until = time.monotonic() + lanes.store.lease_seconds * 0.9
        self.nudged = False
        self.posting = False  # between the POST and its commit: a drain lets it finish
        self.done = False  # its endpoint is gone or no longer ordered
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            while await self._turn():
                pass
        except asyncio.CancelledError:
            raise
        except _LeaseLost:
            log.warning("ordered lane lost its lease; another process goes on", endpoint_id=self.endpoint_id)
        except Exception:  # its lease expires, and a sweep starts the lane again
            log.exception("ordered lane failed", endpoint_id=self.endpoint_id)
        finally:
            self._lanes.ended(self)

    async def _turn(self) -> bool:
        """One pass over the heads read at once; False when the lane ends."""
        self.nudged = False
        try:
            heads = await self._lanes.store.heads(self.endpoint_id, _HEADS_READ)
            if not heads:
                return await self._idle()
            for head in heads:
                if not await self._head(head):
                    return not (self.done or self._lanes.stopping) and self._still_ours()
        except (*_PAUSING, AttemptNotStored) as exc:  # the head is read and tried again
            log.warning("ordered lane paused", endpoint_id=self.endpoint_id, error=repr(exc))
            await asyncio.sleep(_ERROR_PAUSE)
        return not self._lanes.stopping

    async def _idle(self) -> bool:
        """Nothing undelivered: give the lease up. A destination committed before this
        release is seen by the check after it; one committed after it publishes a task
        that claims the lease again, here or in another process."""
        await self._lanes.store.release(self.endpoint_id)
        if await self._lanes.store.heads(self.endpoint_id, 1) or self.nudged:
            return await self._lanes.store.claim(self.endpoint_id)
        return False  # no await between the check and the lane's end: no wake-up is lost

    def _still_ours(self) -> bool:
        if time.monotonic() >= self.valid_until:
            raise _LeaseLost
        return True

    async def _head(self, head: Head) -> bool:
        """Deal with one head; False to read the heads again (it stays the head, or the
        lane ends: ``_turn`` tells which)."""
        parts = self._lanes.parts
        endpoint = await parts.cache.get(self.endpoint_id)
        state = endpoint_state(endpoint)
        step = head_step(
            state,
            endpoint is not None and endpoint.ordered,
            head,
            fail=MessageStatus.FAIL,
            canceled=MessageStatus.CANCELED,
        )
        if isinstance(step, Stop):
            if step.hand_back:
                await self._hand_back()
            self.done = True
            return False
        if isinstance(step, Settle):
            update = DestinationUpdate(
                head.msg_id, self.endpoint_id, step.status, None, 0, utc(head.created_at)
            )
            await parts.attempt_log.record(Entry(update), urgent=True)
            return True
        if isinstance(step, Wait):
            await self._lanes.sleep(step.seconds)
            return False
        assert isinstance(step, Send) and endpoint is not None
        return await self._send(endpoint, head)

    async def _send(self, endpoint: Endpoint, head: Head) -> bool:
        parts = self._lanes.parts
        self._still_ours()
        task = head.task(self.endpoint_id)
        WORK.set(task)
        permit = parts.throttle.permit(endpoint)
        try:
            if permit.waits:
                await permit.wait()  # the throttle's permit waits for a time slot, never refuses
        finally:
            permit.release()
        self.posting = True
        try:
            result = await parts.sender.send(endpoint, task)
            decision = after_send(task.attempt, result.outcome, parts.rules)
            ATTEMPT_DURATION.observe(result.duration)
            attempted = Attempted(endpoint, result, decision)
            if isinstance(decision, Delivered):
                destination = DestinationUpdate(
                    task.msg_id, task.endpoint_id, SUCCESS, None, 1, utc(task.created_at)
                )
            elif isinstance(decision, RetryIn):
                retry_at = utc(result.started_at + decision.delay)
                destination = DestinationUpdate(
                    task.msg_id, task.endpoint_id, SENDING, retry_at, 1, utc(task.created_at)
                )
            else:
                assert isinstance(decision, DeadLetter)
                destination = DestinationUpdate(
                    task.msg_id, task.endpoint_id, FAIL, None, 1, utc(task.created_at)
                )
                await parts.publisher.dead(task.to_amqp(), dead_reason(decision, result))
            succeeded = isinstance(decision, Delivered)
            await parts.attempt_log.record(
                Entry(destination, attempt_row(task, attempted), succeeded), urgent=True
            )
        finally:
            self.posting = False
        count_attempt(task, attempted)
        # A retry: read the head again, which waits for its next_attempt.
        return not isinstance(decision, RetryIn)

    async def _hand_back(self) -> None:
        """The endpoint is no longer ordered: its undelivered destinations go back to the
        dispatch queues through the shortest retry tier, then the lease is let go (a hand
        back cut off half way is finished by the sweep, which finds the expired lease)."""
        parts = self._lanes.parts
        tier = shortest_tier(parts.rules.schedule)
        delay = tier.delay if tier is not None else 0.0
        after, handed = "", 0
        while heads := await self._lanes.store.heads(self.endpoint_id, _HEADS_READ, after):
            # One batch of copies in one write, each confirmed (services.dispatcher.publisher).
            await asyncio.gather(*(parts.publisher.retry(h.task(self.endpoint_id), delay) for h in heads))
            after, handed = heads[-1].msg_id, handed + len(heads)
        log.info("endpoint no longer ordered; its destinations handed back", endpoint_id=self.endpoint_id,
                 destinations=handed)  # fmt: skip
        await self._lanes.store.release(self.endpoint_id)
