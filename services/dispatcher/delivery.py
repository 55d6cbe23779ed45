"""Handling one delivery task, from the cached endpoint to its durable consequences.

``handle`` returns once everything the attempt led to is safe — the attempt row and
destination status committed, a retry copy or dead letter confirmed by the broker —
and raises otherwise; the consumer acks or requeues on that alone. The decision is
``shared.backoff.decide``; this module only carries it out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog

from services.dispatcher.attempt_log import (
    FAIL,
    SENDING,
    SUCCESS,
    AttemptLog,
    AttemptNotStored,
    AttemptRow,
    DestinationUpdate,
    Entry,
    utc,
)
from services.dispatcher.decide import (
    Drop,
    EndpointState,
    Park,
    Rules,
    Snapshot,
    after_send,
    before_send,
    endpoint_state,
    park,
)
from services.dispatcher.endpoints import Endpoint, EndpointCache
from services.dispatcher.metrics import (
    ATTEMPT_DURATION,
    DEFERRED,
    DELIVERIES,
    LAG,
    RETRIES,
    SKIPPED,
)
from services.dispatcher.policy import Permit, Policy
from services.dispatcher.publisher import TaskPublisher
from services.dispatcher.sender import Sender, SendResult
from shared.backoff import DeadLetter, Delivered, RetryIn
from shared.ids import new_id
from shared.tasks import TRIGGER_SCHEDULED, DeliveryTask
from shared.topology import delay_label

log = structlog.get_logger()


@dataclass(slots=True)
class Progress:
    """Set once handling has effects — a POST, a published copy: before that a drain may
    drop the task (it returns to the queue unsent); after it, the drain lets it finish."""

    acting: bool = False


class DeliveryHandler:
    """Runs one task through the policies (``services.dispatcher.policy``) in their
    order, asks ``decide`` at each step, and sends when nothing holds it back."""

    def __init__(
        self,
        *,
        rules: Rules,
        cache: EndpointCache,
        policies: Sequence[Policy],
        sender: Sender,
        attempt_log: AttemptLog,
        publisher: TaskPublisher,
    ) -> None:
        self._rules, self._cache, self._policies = rules, cache, tuple(policies)
        self._sender, self._log, self._publisher = sender, attempt_log, publisher

    def park_at_once(self, task: DeliveryTask) -> Park | None:
        """Where a task goes without a POST when that is clear before anything is awaited —
        its endpoint's circuit is open, or the endpoint's slots and queue are all taken;
        None when the task needs handling in full. A hanging endpoint's tasks take this
        path: the consumer parks them in batches, without a task each."""
        for policy in self._policies:
            if (hold := policy.hold(task.endpoint_id)) is not None:
                return park(task.attempt, hold, self._rules)
        return None

    async def handle(self, task: DeliveryTask, progress: Progress) -> None:
        endpoint = await self._usable_endpoint(task)
        if endpoint is None:
            return
        permits: list[Permit] = []
        try:
            parking = await self._admit(task, endpoint, permits)
            if parking is None:
                # Waiting may have taken a while: the endpoint and its circuit as they are now.
                endpoint = await self._usable_endpoint(task)
                if endpoint is None:
                    return
                parking = self._recheck(task, permits)
            if parking is not None:
                await self._defer(task, parking, progress)
                return
            progress.acting = True
            result = await self._sender.send(endpoint, task)
            for permit in permits:
                permit.sent(result.outcome.succeeded)
        finally:
            for permit in reversed(permits):  # before settling: no slot waits for the attempt row
                permit.release()
        ATTEMPT_DURATION.observe(result.duration)
        await self._carry_out(task, endpoint, result)

    async def _admit(self, task: DeliveryTask, endpoint: Endpoint, permits: list[Permit]) -> Park | None:
        """Each policy's permit, then each one's wait; where to park when one holds the
        task back (None: go on — also when there is no tier to park in)."""
        for policy in self._policies:
            permit = policy.permit(endpoint)
            permits.append(permit)
            if permit.hold is not None and (parking := park(task.attempt, permit.hold, self._rules)):
                return parking
        for permit in permits:
            if permit.waits and (hold := await permit.wait()) is not None:
                if parking := park(task.attempt, hold, self._rules):
                    return parking
        return None

    def _recheck(self, task: DeliveryTask, permits: list[Permit]) -> Park | None:
        for permit in permits:
            if (hold := permit.recheck()) is not None and (parking := park(task.attempt, hold, self._rules)):
                return parking
        return None

    def parked(self, task: DeliveryTask, parking: Park) -> None:
        """Account for a task whose copy the broker confirmed in a tier."""
        # Only the destination's next_attempt moves, and only for the API to show: the
        # task is safe in its tier once confirmed, so the ack need not wait for this row.
        next_attempt = utc(time.time() + parking.where.delay)
        self._log.note(Entry(DestinationUpdate(task.msg_id, task.endpoint_id, None, next_attempt, 0)))
        DEFERRED.labels(parking.reason).inc()

    async def _usable_endpoint(self, task: DeliveryTask) -> Endpoint | None:
        """The task's endpoint, or None after settling a task whose endpoint is gone or off."""
        endpoint = await self._cache.get(task.endpoint_id)
        state = endpoint_state(endpoint)
        decision = before_send(Snapshot(task.attempt, state), self._rules)
        if isinstance(decision, Drop):
            SKIPPED.labels(decision.reason).inc()
            if state is EndpointState.DELETED:
                log.info("endpoint no longer exists; task dropped")
            else:
                update = DestinationUpdate(task.msg_id, task.endpoint_id, FAIL, None, 0)
                await self._log.record(Entry(update))
            return None
        return endpoint

    async def _defer(self, task: DeliveryTask, parking: Park, progress: Progress) -> None:
        """Park the task in a tier without a POST or an attempt."""
        progress.acting = True
        await self._publisher.retry(task, parking.where.delay)
        self.parked(task, parking)

    async def _carry_out(self, task: DeliveryTask, endpoint: Endpoint, result: SendResult) -> None:
        decision = after_send(task.attempt, result.outcome, self._rules)
        succeeded = isinstance(decision, Delivered)
        attempt = AttemptRow(
            id=new_id("atmpt", result.started_at),
            msg_id=task.msg_id,
            endpoint_id=task.endpoint_id,
            app_id=task.app_id,
            url=endpoint.url,
            response=result.response,
            response_status_code=result.outcome.status_code,
            response_duration_ms=round(result.duration * 1000),
            status=SUCCESS if succeeded else FAIL,
            trigger_type=task.trigger,
            attempt_number=task.attempt,
            error=result.error,
            created_at=utc(result.started_at),
        )
        effects = []
        if isinstance(decision, Delivered):
            destination = DestinationUpdate(task.msg_id, task.endpoint_id, SUCCESS, None, 1)
        elif isinstance(decision, RetryIn):
            destination = DestinationUpdate(
                task.msg_id, task.endpoint_id, SENDING, utc(result.started_at + decision.delay), 1
            )
            # Retries are automatic whatever started the chain (Svix: trigger "scheduled").
            retry = replace(task.next_attempt(), trigger=TRIGGER_SCHEDULED)
            effects.append(self._publisher.retry(retry, decision.delay))
        else:
            assert isinstance(decision, DeadLetter)
            destination = DestinationUpdate(task.msg_id, task.endpoint_id, FAIL, None, 1)
            reason = result.error or f"HTTP {result.outcome.status_code}"
            effects.append(
                self._publisher.dead(task.to_amqp(), f"{decision.attempts} attempts; last: {reason}")
            )
        record = self._log.record(Entry(destination, attempt, succeeded))
        if effects:
            *published, recorded = await asyncio.gather(*effects, record, return_exceptions=True)
            for failure in published:
                if isinstance(failure, BaseException):
                    raise failure
            # Its retry copy or dead letter confirmed, the task has moved on: an attempt the
            # database refused is logged, and requeueing would POST again and publish one
            # more copy per delivery (copies of copies, tier after tier).
            if isinstance(recorded, BaseException) and not isinstance(recorded, AttemptNotStored):
                raise recorded
        else:  # a success: nothing to publish, and no task for gather to wrap the record in
            await record
        self._count(task, decision, result)

    def _count(self, task: DeliveryTask, decision: object, result: SendResult) -> None:
        if isinstance(decision, Delivered):
            DELIVERIES.labels("success").inc()
            LAG.observe(max(0.0, time.time() - task.created_at))
        elif isinstance(decision, RetryIn):
            DELIVERIES.labels("failure").inc()
            RETRIES.labels(delay_label(decision.delay)).inc()
        else:
            DELIVERIES.labels("dead").inc()
        log.debug(
            "attempt made",
            status_code=result.outcome.status_code,
            error=result.error,
            decision=type(decision).__name__,
        )
